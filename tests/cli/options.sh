#!/usr/bin/env bash
# One interface (issue 14, item 5): every program built (the tools and the ckpt front
# command) has a --help that starts "Usage:" and has an "Exit status:" section, -h as
# --help, -V as --version.  Every tool takes -j/--jobs N, -q/--quiet and --json, with one
# message for a bad -j; the tools that write take -f/--force and --progress too; -q goes
# with --json (the document is printed, nothing else); a converter's --json is one object
# saying what was written.
. "$CKPT_ROOT/tests/cli/lib.sh"
version=$(sed -n 's/^VERSION *:= *//p' "$CKPT_ROOT/Makefile")
writers=" ckpt-fp8-to-bf16 ckpt-bf16-to-fp8 ckpt-hf-to-sharded ckpt-train-to-infer ckpt-to-hf "
n=0
for p in "$CKPT_BIN"/ckpt "$CKPT_BIN"/ckpt-*; do
	[ -x "$p" ] || continue
	prog=${p##*/}
	n=$((n + 1))
	run "$p" --help
	cp out help
	check "$prog --help: exit 0, nothing on stderr" eval '[ $rc -eq 0 ] && [ ! -s err ]'
	check "$prog --help: starts \"Usage: $prog\"" eval 'head -n 1 help | grep -q "^Usage: $prog "'
	check "$prog --help: an \"Exit status:\" section" grep -q '^Exit status: ' help
	run "$p" -h
	check "$prog -h: the same as --help" eval '[ $rc -eq 0 ] && cmp -s out help'
	for v in -V --version; do
		run "$p" $v
		check "$prog $v: \"$prog $version\", exit 0" eval '[ $rc -eq 0 ] && [ "$(cat out)" = "$prog $version" ] && [ ! -s err ]'
	done
	[ "$prog" = ckpt ] && continue
	# the shared options, spelt alike in every help
	for opt in '-j, --jobs N' '-q, --quiet' '--json' '-h, --help' '-V, --version'; do
		check "$prog --help lists $opt" grep -qE "^ +${opt} " help
	done
	if [[ $writers == *" $prog "* ]]; then
		for opt in '-f, --force' '--progress'; do
			check "$prog --help lists $opt (it writes)" grep -qE "^ +${opt} " help
		done
	fi
	# one message for a bad thread count, whichever spelling
	for j in "-j 0" "--jobs 0" "--jobs=0"; do
		run "$p" $j x y
		expect_err "$prog $j: the one usage message, exit 2" \
			"$prog: -j wants a number of threads from 1 to 4096, not '0' (see $prog --help)"
	done
done
check "the front command and five tools checked ($n)" [ "$n" -ge 6 ]

# --- the aliases kept ---
run "$CKPT_BIN/ckpt-fp8-to-bf16" --threads 0 x y
expect_err "fp8-to-bf16 --threads: an alias of --jobs" \
	"ckpt-fp8-to-bf16: -j wants a number of threads from 1 to 4096, not '0' (see ckpt-fp8-to-bf16 --help)"
run "$CKPT_BIN/ckpt-train-to-infer" --processes 0 x y
expect_err "train-to-infer --processes: an alias of --jobs" \
	"ckpt-train-to-infer: -j wants a number of threads from 1 to 4096, not '0' (see ckpt-train-to-infer --help)"

# --- every tool at work with the shared options ---
"$sharded" -q --layout mindspore-train "$tiny" ms || not_ok "setup: a MindSpore training checkpoint"
converters=(
	"fp8-to-bf16|$fp8|$tiny"
	"hf-to-sharded|$sharded --model-parallel 2|$tiny"
	"train-to-infer|$t2i|ms"
)
for c in "${converters[@]}"; do
	IFS='|' read -r tname cmd in <<<"$c"
	# shellcheck disable=SC2086
	run $cmd -q --json -j 2 "$in" "o-$tname"
	check "$tname -q --json -j 2: exit 0, nothing on stderr" eval '[ $rc -eq 0 ] && [ ! -s err ]'
	check "$tname -q --json: one JSON object on stdout" eval '"$jsonq" <out && [ "$(head -c 1 out)" = "{" ]'
	written=$("$jsonq" files_written <out) kept=$("$jsonq" files_kept <out)
	check "$tname --json: files written, none kept ($written, $kept)" eval '[ "$written" -gt 1 ] && [ "$kept" = 0 ]'
	expect_eq "$tname --json: the output named" "$("$jsonq" output <out)" "o-$tname"
	expect_eq "$tname --json: bytes written, those of the files" "$("$jsonq" bytes_written <out)" \
		"$(find "o-$tname" -type f ! -name '.*' -printf '%s\n' | awk '{s += $1} END {print s}')"
	# shellcheck disable=SC2086
	run $cmd --quiet "$in" "o-$tname"
	check "$tname --quiet: nothing on stdout or stderr" eval '[ $rc -eq 0 ] && [ ! -s out ] && [ ! -s err ]'
	# shellcheck disable=SC2086
	run $cmd -f --json --jobs 1 "$in" "o-$tname"
	check "$tname -f: every file written again" eval '[ $rc -eq 0 ] && [ "$("$jsonq" files_kept <out)" = 0 ] && [ "$("$jsonq" files_written <out)" = "$written" ]'
	# shellcheck disable=SC2086
	run $cmd --force --progress -q "$in" "o-$tname"
	expect_rc "$tname --force --progress -q: accepted, exit 0" 0
done
for c in "fp8-to-bf16|$fp8|$tiny" "train-to-infer|$t2i|ms"; do
	IFS='|' read -r tname cmd in <<<"$c"
	run $cmd --json "$in" - </dev/null
	expect_err "$tname --json with OUTPUT_DIR -: a usage error" \
		"ckpt-$tname: --json reports on standard output, which OUTPUT_DIR - takes for the tar stream (see ckpt-$tname --help)"
done

run "$inspect" -q -j 2 --stats "$tiny"
check "inspect -q: nothing printed, exit 0" eval '[ $rc -eq 0 ] && [ ! -s out ] && [ ! -s err ]'
run "$inspect" -q "$CKPT_ROOT/fixtures/bad/frame-7-bytes.safetensors"
check "inspect -q: an unreadable input still exits 2 with its message" eval \
	'[ $rc -eq 2 ] && [ ! -s out ] && grep -q "frame-7-bytes.safetensors: file is 7 bytes" err'
run "$inspect" -q --json "$tiny"
check "inspect -q --json: the document" eval '[ $rc -eq 0 ] && [ "$("$jsonq" checkpoints.# <out)" = 1 ]'
run "$verify" -q --json -j 2 "$tiny"
check "verify -q --json: the document (they go together)" eval '[ $rc -eq 0 ] && [ "$("$jsonq" report.passed <out)" = true ]'
run "$verify" -q "$tiny"
check "verify -q: nothing when every check passed" eval '[ $rc -eq 0 ] && [ ! -s out ]'
