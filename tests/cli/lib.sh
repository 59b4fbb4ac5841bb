# Helpers for the command-line tests (tests/cli/*.sh).  Source it first:
#     . "$CKPT_ROOT/tests/cli/lib.sh"
# Each check prints one line, "ok - NAME" or "not ok - NAME" followed by "#" lines that
# show what was wrong; tests/run-all counts them.  The current directory is a scratch
# directory of the test's own.
#
#   run CMD [ARG]...        run CMD: stdout in ./out, stderr in ./err, exit status in $rc
#   check NAME CMD [ARG]... ok when CMD succeeds
#   expect_rc NAME N        the last run exited with status N
#   expect_line NAME TEXT   some line of the last run's stdout is exactly TEXT
#   expect_has NAME TEXT    the last run's stdout contains TEXT (a fixed string)
#   expect_err NAME TEXT    the last run's stderr is exactly the one line TEXT
#   expect_same NAME A B    files A and B have the same bytes
#   expect_eq NAME GOT WANT two strings are equal
#   need_golden NAME        end this script with one skipped check unless $CKPT_GOLDEN exists
#   skip NAME WHY           one skipped check
# Output directories (crash safety, full disks):
#   tree_sums DIR           every file under DIR (hidden ones too) with its SHA-256
#   same_tree A B           A and B hold the same files with the same bytes
#   no_partial DIR REF      every file of DIR under a final name equals REF's file of that
#                           name (temporaries, .NAME.ckpt-tmp, are allowed; the run's sums,
#                           .ckpt-run.sha256, grow as files complete: each of its lines is
#                           one of REF's); else prints the first offender and fails
#   tmp_count DIR           how many temporaries DIR holds
# Safetensors:
#   hlen FILE               the header length N of a safetensors file
#   strip_meta FILE         FILE with __metadata__ {"format":"pt"} taken out of its header
#                           (padded again), on stdout: what fp8_cast_bf16.py writes
# $tool is $CKPT_BIN/ckpt-<name of the test script>, $tiny the bundled tiny checkpoint,
# $jsonq the JSON query tool (fixtures/gen/jsonq.c), $synth the checkpoint generator
# (fixtures/gen/ckpt-synth.c), and each tool by a short name, for tests of several:
# $ckpt, $inspect, $verify, $fp8, $sharded, $t2i.

set -u
tool=$CKPT_BIN/ckpt-$(basename "$0" .sh)
tiny=$CKPT_ROOT/fixtures/tiny-v3
jsonq=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/jsonq
synth=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/ckpt-synth
ckpt=$CKPT_BIN/ckpt
inspect=$CKPT_BIN/ckpt-inspect
verify=$CKPT_BIN/ckpt-verify
fp8=$CKPT_BIN/ckpt-fp8-to-bf16
sharded=$CKPT_BIN/ckpt-hf-to-sharded
t2i=$CKPT_BIN/ckpt-train-to-infer
rc=0

ok() { echo "ok - $1"; }
skip() { echo "ok - $1 # SKIP $2"; }

not_ok() {
	echo "not ok - $1"
	shift
	for line in "$@"; do
		printf '%s\n' "$line" | head -n 20 | sed 's/^/#   /'
	done
}

need_golden() {
	if [ ! -d "${CKPT_GOLDEN:-}" ]; then
		echo "ok - $1 # SKIP no golden data at ${CKPT_GOLDEN:-(unset)}"
		exit 0
	fi
}

run() {
	rc=0
	"$@" >out 2>err || rc=$?
}

check() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}

expect_rc() {
	if [ "$rc" -eq "$2" ]; then ok "$1"; else not_ok "$1" "exit status $rc, wanted $2" "stderr: $(cat err)"; fi
}

expect_line() {
	if grep -qxF -e "$2" out; then ok "$1"; else not_ok "$1" "no line: $2" "stdout:" "$(head -n 20 out)"; fi
}

expect_has() {
	if grep -qF -e "$2" out; then ok "$1"; else not_ok "$1" "not found: $2"; fi
}

expect_err() {
	if [ "$(cat err)" = "$2" ] && [ "$(wc -l <err)" -eq 1 ]; then ok "$1"
	else not_ok "$1" "stderr: $(cat err)" "wanted: $2"; fi
}

expect_same() {
	if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1" "$2 and $3 differ" "$(diff "$2" "$3" | head -n 10)"; fi
}

expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got: $2" "wanted: $3"; fi
}

# N, the header length of a safetensors file
hlen() { od -An -t u8 -N 8 "$1" | tr -d ' '; }
# the file with its header's __metadata__ {"format":"pt"} taken out and the header padded
# again: what upstream's fp8_cast_bf16.py writes
strip_meta() {
	local f=$1 n h k
	n=$(hlen "$f")
	h=$(head -c $((8 + n)) "$f" | tail -c "$n" | LC_ALL=C sed 's/^{"__metadata__":{"format":"pt"},/{/; s/ *$//')
	while [ $(( $(printf %s "$h" | LC_ALL=C wc -c) % 8 )) -ne 0 ]; do h="$h "; done
	k=$(printf %s "$h" | LC_ALL=C wc -c)
	printf "$(printf '\\%03o' $((k & 255)) $((k >> 8 & 255)) $((k >> 16 & 255)) $((k >> 24 & 255)) 0 0 0 0)"
	printf %s "$h"
	tail -c +$((9 + n)) "$f"
}

tree_sums() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs -r sha256sum); }
same_tree() { [ "$(tree_sums "$1")" = "$(tree_sums "$2")" ]; }

no_partial() {
	local f rel
	while IFS= read -r f; do
		rel=${f#"$1"/}
		case "${rel##*/}" in
		.*.ckpt-tmp) continue ;;
		.ckpt-run.sha256)
			if [ -f "$2/$rel" ] && ! grep -qvxF -f "$2/$rel" "$f"; then continue; fi ;;
		esac
		if [ ! -f "$2/$rel" ] || ! cmp -s "$f" "$2/$rel"; then
			echo "$rel"
			return 1
		fi
	done < <(find "$1" -type f 2>/dev/null)
	return 0
}

tmp_count() { find "$1" -name '.*.ckpt-tmp' 2>/dev/null | wc -l; }
