#!/usr/bin/env bash
# The smaller hostile cases of issue 12: hidden files a manifest names (.gitattributes, as
# every hub `siblings` list has), in a directory and in an archive.
. "$CKPT_ROOT/tests/cli/lib.sh"
expect_problem() { expect_line "$1" "  $2"; }
manifest_line() { grep '^manifest ' out; }

# ---- (a) hidden files a manifest names ----
cp -r "$tiny" d
printf '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' >d/.gitattributes
mkdir -p d/.cache/hub d/sub
echo cached >d/.cache/hub/ref
echo nested >d/sub/.keep
(cd d && sha256sum -- *.json *.safetensors .gitattributes .cache/hub/ref sub/.keep) >hidden.sha
# hidden files the manifest does not name: left out, as before
mkdir d/.git && echo '[core]' >d/.git/config && echo x >d/.unlisted

run "$verify" --manifest hidden.sha d
expect_rc "hidden names listed: exit 0" 0
expect_line "hidden names listed: hashed, unlisted hidden files not counted" \
	"manifest    passed   11 files listed, 11 hashed (8.01 MiB): all match"

echo changed >d/.gitattributes
run "$verify" --manifest hidden.sha d
expect_rc "a listed hidden file that differs: exit 1" 1
expect_problem "a listed hidden file that differs: its hash" \
	"d/.gitattributes: SHA-256 is $(sha256sum <d/.gitattributes | cut -c1-64), the manifest says $(grep ' .gitattributes$' hidden.sha | cut -c1-64)"

rm d/.gitattributes d/.cache/hub/ref
run "$verify" --manifest hidden.sha d
expect_rc "listed hidden files missing: exit 1" 1
expect_problem "listed hidden files missing: .gitattributes" "d/.gitattributes: listed in the manifest, but missing"
expect_problem "listed hidden files missing: one in a hidden directory" "d/.cache/hub/ref: listed in the manifest, but missing"
expect_line "listed hidden files missing: the summary" \
	"manifest    FAILED   11 files listed, 9 hashed (8.01 MiB); 2 missing"

# a listed hidden name that is a directory is not a file; a FIFO is refused by name, as
# any FIFO among the files a manifest covers (tests/cli/hostile-special.sh)
mkdir d/.cache/hub/ref
echo x >d/.gitattributes
run timeout 20 "$verify" --manifest hidden.sha d
expect_problem "a listed hidden name that is a directory: missing" "d/.cache/hub/ref: listed in the manifest, but missing"
rm d/.gitattributes
mkfifo d/.gitattributes
run timeout 20 "$verify" --manifest hidden.sha d
expect_rc "a listed hidden name that is a FIFO: exit 2, not opened" 2
expect_err "a listed hidden name that is a FIFO: named" "ckpt-verify: d/.gitattributes: not a regular file (a FIFO)"
rm d/.gitattributes && rmdir d/.cache/hub/ref

# links: inside followed, outside refused as for any listed file
printf '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' >attrs
cp attrs d/.attrs-target
ln -s .attrs-target d/.gitattributes
echo cached >d/.cache/hub/ref
run "$verify" --manifest hidden.sha d
expect_rc "a listed hidden link inside the directory: followed, exit 0" 0
rm d/.gitattributes && ln -s ../attrs d/.gitattributes
run "$verify" --manifest hidden.sha d
expect_rc "a listed hidden link leading out: exit 2" 2
expect_err "a listed hidden link leading out: the confinement message" \
	"ckpt-verify: d/.gitattributes: symbolic link to \"../attrs\" leads outside the checkpoint directory (CKPT_FOLLOW_SYMLINKS=1 follows it)"
rm d/.gitattributes d/.attrs-target && cp attrs d/.gitattributes
# a hidden directory reached through a link is not walked into, as in a listing
mv d/.cache d/.cache-real && ln -s .cache-real d/.cache
run "$verify" --manifest hidden.sha d
expect_problem "a listed file below a linked hidden directory: missing" "d/.cache/hub/ref: listed in the manifest, but missing"
rm d/.cache && mv d/.cache-real d/.cache

# --manifest-root: names one directory up
(cd d && sha256sum -- *.json *.safetensors .gitattributes .cache/hub/ref sub/.keep) | sed 's#  #  d/#' >up.sha
run "$verify" --manifest up.sha --manifest-root . d
expect_line "--manifest-root with hidden names" "manifest    passed   11 files listed, 11 hashed (8.01 MiB): all match"

# the hub's siblings list: .gitattributes and README.md have no LFS hash, presence checked
python3 - d >hub.json <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
sib = []
for n in sorted(f for f in os.listdir(d) if not f.startswith('.') and os.path.isfile(os.path.join(d, f))) + ['.gitattributes']:
    e = {'rfilename': n}
    if n.endswith('.safetensors'):
        b = open(os.path.join(d, n), 'rb').read()
        e['lfs'] = {'sha256': hashlib.sha256(b).hexdigest(), 'size': len(b)}
    sib.append(e)
print(json.dumps({'siblings': sib}))
EOF
run "$verify" --manifest hub.json d
expect_line "hub siblings with .gitattributes" \
	"manifest    passed   9 files listed, 3 hashed (7.99 MiB): all match; 6 without a SHA-256 in the manifest (presence checked)"
mv d/.gitattributes attrs.away
run "$verify" --manifest hub.json d
expect_problem "hub siblings, .gitattributes absent: missing" "d/.gitattributes: listed in the manifest, but missing"
mv attrs.away d/.gitattributes

# archives: the same, whether the tar has a top directory or not
tar -cf top.tar d
tar -C d -cf flat.tar .
for a in top.tar flat.tar; do
	run "$verify" --manifest hidden.sha $a
	expect_rc "archive $a, hidden names listed: exit 0" 0
	expect_line "archive $a, hidden names listed: hashed" \
		"manifest    passed   11 files listed, 11 hashed (8.01 MiB): all match"
	run "$verify" --manifest hub.json $a
	expect_rc "archive $a, hub siblings: exit 0" 0
done
expect_has "archive: hidden entries still counted as skipped, not as files" "GNU tar format, 8 files (5 other entries skipped)"
echo changed >d/.gitattributes
rm d/.cache/hub/ref
tar -cf changed.tar d
run "$verify" --manifest hidden.sha changed.tar
expect_rc "archive, a listed hidden file differs, one missing: exit 1" 1
expect_problem "archive, a listed hidden file differs" \
	"changed.tar/d/.gitattributes: SHA-256 is $(sha256sum <d/.gitattributes | cut -c1-64), the manifest says $(grep ' .gitattributes$' hidden.sha | cut -c1-64)"
expect_problem "archive, a listed hidden file missing" "changed.tar/d/.cache/hub/ref: listed in the manifest, but missing"
# a hidden entry outside the archive's top directory is not the checkpoint's
mkdir -p outer/d && cp -r d/. outer/d/ && cp attrs outer/.gitattributes && rm outer/d/.gitattributes
tar -C outer -cf outer.tar d .gitattributes
run "$verify" --manifest hidden.sha outer.tar
expect_problem "archive, a hidden entry beside the top directory: not taken for the listed one" \
	"outer.tar/d/.gitattributes: listed in the manifest, but missing"

# ---- (b) an input truncated while several threads read it ----
# The tool runs under strace with its Nth rename held for 2 s: long enough to see the file
# it completes appear and truncate an input that a later step reads (mapped: SIGBUS).
# Every thread that reads the file faults; one line is printed, and it says which outputs
# are complete.
truncated_midway() { # RENAME_NO SEEN FILE SIZE CMD...: run CMD, truncate FILE once SEEN exists
	local n=$1 seen=$2 file=$3 size=$4
	shift 4
	rc=0
	strace -f -qq -o /dev/null -e trace=rename -e inject=rename:delay_exit=2000000:when=$n "$@" >out 2>err &
	local pid=$! i
	for i in $(seq 1 500); do
		[ -e "$seen" ] && break
		sleep 0.01
	done
	truncate -s "$size" "$file"
	wait $pid || rc=$?
}
TRUNC="truncated while being read (changed by another program)"
S1=model-00001-of-00003.safetensors S2=model-00002-of-00003.safetensors S3=model-00003-of-00003.safetensors
"$sharded" -q --layout mindspore-train "$tiny" train
if ! strace -f -qq -o /dev/null true 2>/dev/null; then
	skip "inputs truncated midway" "strace cannot run here"
else
	cp -r "$tiny" in
	"$fp8" -q in fp8-ref
	for j in "-j 2" "--threads 2"; do
		rm -rf fp8-out && cp "$tiny/$S3" in/$S3
		# renames: the run's record, then shard 1; shard 3 is read last
		truncated_midway 2 fp8-out/$S1 in/$S3 1000000 "$fp8" -q $j in fp8-out
		expect_rc "fp8-to-bf16 $j, shard 3 truncated midway: exit 2" 2
		expect_err "fp8-to-bf16 $j, shard 3 truncated midway: one line, the shards completed named" \
			"ckpt-fp8-to-bf16: in/$S3: $TRUNC; only fp8-out/$S1, fp8-out/$S2 were completed under their final names: the same command run again keeps them and writes the rest"
		check "fp8-to-bf16 $j: what is under a final name is complete" no_partial fp8-out fp8-ref
		expect_eq "fp8-to-bf16 $j: no temporary left" "$(tmp_count fp8-out)" 0
		cp "$tiny/$S3" in/$S3
		ls -i fp8-out/$S1 fp8-out/$S2 >inodes
		run "$fp8" -q $j in fp8-out
		expect_rc "fp8-to-bf16 $j: the same command resumes: exit 0" 0
		check "fp8-to-bf16 $j: ... to the clean run's bytes" same_tree fp8-out fp8-ref
		expect_eq "fp8-to-bf16 $j: ... keeping the completed shards" "$(ls -i fp8-out/$S1 fp8-out/$S2)" "$(cat inodes)"
	done
	# the first shard truncated before any output is complete: as before, nothing written
	rm -rf in fp8-out && cp -r "$tiny" in
	truncated_midway 1 fp8-out/.ckpt-run.json in/$S1 100000 "$fp8" -q -j 2 in fp8-out
	expect_rc "fp8-to-bf16 -j 2, shard 1 truncated at the start: exit 2" 2
	expect_err "fp8-to-bf16 -j 2, shard 1 truncated at the start: nothing written" \
		"ckpt-fp8-to-bf16: in/$S1: $TRUNC; nothing was written under a final name"
	check "fp8-to-bf16 -j 2, shard 1 truncated at the start: no shard there" \
		test ! -e fp8-out/$S1 -a ! -e fp8-out/$S2 -a "$(tmp_count fp8-out)" -eq 0

	# model-parallel ranks are written in one pass: none complete
	rm -rf in mp-out && cp -r "$tiny" in
	truncated_midway 1 mp-out/.ckpt-run.json in/$S2 1000000 "$sharded" -j 2 --model-parallel 2 in mp-out
	expect_rc "hf-to-sharded -j 2, a shard truncated midway: exit 2" 2
	expect_err "hf-to-sharded -j 2, a shard truncated midway: one line, nothing written" \
		"ckpt-hf-to-sharded: in/$S2: $TRUNC; nothing was written under a final name"
	check "hf-to-sharded: no rank file, no temporary" \
		test ! -e mp-out/model0-mp2.safetensors -a ! -e mp-out/model1-mp2.safetensors -a "$(tmp_count mp-out)" -eq 0

	# a training checkpoint, one file per layer: general.safetensors first, then layer by layer
	rm -rf t2i-out t2i-ref
	"$t2i" -q train t2i-ref
	cp train/ms-model-00004-of-00004.safetensors train2.keep
	truncated_midway 3 t2i-out/layer_0.safetensors train/ms-model-00004-of-00004.safetensors 100000 \
		"$t2i" -q -j 2 train t2i-out
	expect_rc "train-to-infer -j 2, an input truncated midway: exit 2" 2
	expect_err "train-to-infer -j 2, an input truncated midway: one line, the files completed named" \
		"ckpt-train-to-infer: train/ms-model-00004-of-00004.safetensors: $TRUNC; only 4 files (t2i-out/general.safetensors, t2i-out/layer_0.safetensors, t2i-out/layer_1.safetensors, ...) were completed under their final names: the same command run again keeps them and writes the rest"
	check "train-to-infer: what is under a final name is complete" no_partial t2i-out t2i-ref
	cp train2.keep train/ms-model-00004-of-00004.safetensors
	run "$t2i" -q -j 2 train t2i-out
	expect_rc "train-to-infer: the same command resumes: exit 0" 0
	check "train-to-infer: ... to the clean run's bytes" same_tree t2i-out t2i-ref
fi

# ---- (c) standard output that cannot be written ----
# Every tool checks standard output at exit: what could not be written is one line,
# "PROG: write error on standard output: REASON", and exit status 2, whatever the tool was
# about to return.  A closed pipe ends it as SIGPIPE does (no message), as for any filter.
WFULL="write error on standard output: No space left on device"
full_case() { # NAME PROG ARGS...: PROG ARGS >/dev/full exits 2 with the one line
	local name=$1 prog=$2
	shift 2
	rc=0
	"$CKPT_BIN/$prog" "$@" >/dev/full 2>err || rc=$?
	expect_rc "$name into /dev/full: exit 2" 2
	expect_err "$name into /dev/full: the one line" "$prog: $WFULL"
}
if [ -w /dev/full ]; then
	full_case "ckpt --version" ckpt --version
	full_case "ckpt --help" ckpt --help
	full_case "ckpt help" ckpt help
	for t in inspect verify fp8-to-bf16 hf-to-sharded train-to-infer; do
		full_case "ckpt-$t --help" ckpt-$t --help
		full_case "ckpt-$t --version" ckpt-$t --version
	done
	full_case "ckpt-fp8-to-bf16 --list-shards" ckpt-fp8-to-bf16 --list-shards "$tiny"
	full_case "ckpt-train-to-infer --list-files" ckpt-train-to-infer --list-files train
	full_case "ckpt-inspect" ckpt-inspect "$tiny"
	full_case "ckpt-inspect --json" ckpt-inspect --json "$tiny"
	# more than a buffer's worth: the first write fails midway, still one line
	full_case "ckpt-inspect --json of four checkpoints" ckpt-inspect --json "$tiny" "$tiny" "$tiny" "$tiny"
	full_case "ckpt-inspect --header" ckpt-inspect --header "$tiny/$S1"
	full_case "ckpt-verify" ckpt-verify "$tiny"
	full_case "ckpt-verify --json" ckpt-verify --json "$tiny"
	# a check that fails (exit 1) whose report is lost: 2
	full_case "ckpt-verify of a failing checkpoint" ckpt-verify --manifest hidden.sha d
	rm -rf mp-full
	full_case "ckpt-hf-to-sharded's report" ckpt-hf-to-sharded --model-parallel 2 "$tiny" mp-full
	check "ckpt-hf-to-sharded's report lost: the conversion itself complete" \
		test -s mp-full/model0-mp2.safetensors -a -s mp-full/model1-mp2.safetensors
	rm -rf mp-full
	full_case "ckpt-hf-to-sharded --json" ckpt-hf-to-sharded --json --model-parallel 2 "$tiny" mp-full
	# a tool that writes nothing there is not concerned
	rm -rf fp8-full
	run "$CKPT_BIN/ckpt-fp8-to-bf16" -q "$tiny" fp8-full >/dev/full
	expect_rc "ckpt-fp8-to-bf16 printing nothing, standard output /dev/full: exit 0" 0
else
	skip "standard output into /dev/full" "no writable /dev/full"
fi
# standard output closed: nothing can be written
rc=0
"$CKPT_BIN/ckpt-inspect" "$tiny" >&- 2>err || rc=$?
expect_rc "ckpt-inspect, standard output closed: exit 2" 2
expect_err "ckpt-inspect, standard output closed: the one line" \
	"ckpt-inspect: write error on standard output: Bad file descriptor"
rc=0
"$CKPT_BIN/ckpt-verify" --version >&- 2>err || rc=$?
expect_err "ckpt-verify --version, standard output closed: the one line" \
	"ckpt-verify: write error on standard output: Bad file descriptor"
rc=0
"$CKPT_BIN/ckpt-verify" --quiet "$tiny" >&- 2>err || rc=$?
expect_rc "ckpt-verify --quiet printing nothing, standard output closed: exit 0" 0

# a pipe whose reader is gone: SIGPIPE's end (status -13 from Python: killed by signal 13),
# nothing on stderr, whether SIGPIPE was left alone or ignored by the caller (the converters
# ignore it themselves, for their tar streams)
epipe() { # default|ignored PROG ARGS...: prints "STATUS STDERR"
	python3 - "$@" <<'PYEOF'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[2:], stdout=w, stderr=subprocess.PIPE, restore_signals=sys.argv[1] == 'default')
print(p.returncode, p.stderr.decode().strip())
PYEOF
}
for how in default ignored; do
	expect_eq "closed pipe ($how SIGPIPE): ckpt --version" "$(epipe $how "$CKPT_BIN/ckpt" --version)" "-13 "
	expect_eq "closed pipe ($how SIGPIPE): ckpt-inspect --json" "$(epipe $how "$CKPT_BIN/ckpt-inspect" --json "$tiny")" "-13 "
	expect_eq "closed pipe ($how SIGPIPE): ckpt-verify" "$(epipe $how "$CKPT_BIN/ckpt-verify" "$tiny")" "-13 "
	expect_eq "closed pipe ($how SIGPIPE): ckpt-fp8-to-bf16 --list-shards" \
		"$(epipe $how "$CKPT_BIN/ckpt-fp8-to-bf16" --list-shards "$tiny")" "-13 "
	expect_eq "closed pipe ($how SIGPIPE): ckpt-train-to-infer --help" \
		"$(epipe $how "$CKPT_BIN/ckpt-train-to-infer" --help)" "-13 "
	# the tar stream is the conversion's output: cut short, it is an error that says so
	expect_eq "closed pipe ($how SIGPIPE): a tar stream cut short is an error" \
		"$(epipe $how "$CKPT_BIN/ckpt-fp8-to-bf16" -q "$tiny" -)" \
		"2 ckpt-fp8-to-bf16: standard output: cannot write the header of $S1: Broken pipe"
done

# ---- (d) manifests as sha256sum -c reads them ----
# Each manifest is given to `sha256sum --strict -c` and to ckpt-verify: both take it (and
# then agree on whether every listed file matches) or both refuse it (sha256sum: "improperly
# formatted"; ckpt-verify: exit 2, "m: line N ..."; plain `sha256sum -c` only warns about
# such a line, ckpt-verify refuses it, for a line skipped is a file not checked).
mkdir -p c && cp "$tiny"/* c/
printf 'q\n' >'c/x\y'
printf 'q\n' >"c/$(printf 'n\nl')"
printf 'q\n' >"c/$(printf 'c\rr')"
printf 'q\n' >'c/r(s)t'
printf 'q\n' >'c/ lead'
H=$(sha256sum <c/config.json | cut -c1-64)
G=$(sha256sum <c/generation_config.json | cut -c1-64)
Q=$(sha256sum <c/'x\y' | cut -c1-64)
HU=$(echo "$H" | tr a-f A-F)
sums_verdict() { # what sha256sum --strict -c says of ./m: refused, ok or failed
	local r=0 o
	o=$(cd c && LC_ALL=C sha256sum --strict -c ../m 2>&1) || r=$?
	case $o in
	*"improperly formatted"* | *"no properly formatted"*) echo refused ;;
	*) [ $r -eq 0 ] && echo ok || echo failed ;;
	esac
}
ckpt_verdict() { # what ckpt-verify --manifest m says: refused, ok or failed
	run "$verify" --manifest m c
	if [ "$rc" -eq 2 ] && grep -q '^ckpt-verify: m: ' err; then echo refused
	elif [ "$rc" -eq 2 ]; then echo "error: $(cat err)"
	elif grep '^manifest ' out | grep -q 'differ\|missing'; then echo failed
	else echo ok; fi
}
same_as_sha256sum() { # NAME WANT TEXT: both read TEXT (printf format) as WANT
	printf "$3" >m
	local s k
	s=$(sums_verdict)
	k=$(ckpt_verdict)
	if [ "$s" = "$2" ] && [ "$k" = "$2" ]; then ok "manifest as sha256sum reads it: $1 ($2)"
	else not_ok "manifest as sha256sum reads it: $1" "sha256sum --strict -c: $s, ckpt-verify: $k, wanted: $2" \
		"$(cat err)"; fi
}
same_as_sha256sum "two spaces" ok "$H  config.json\n"
same_as_sha256sum "binary mode" ok "$H *config.json\n"
same_as_sha256sum "one space" ok "$H config.json\n$G generation_config.json\n"
same_as_sha256sum "a tab" ok "$H\tconfig.json\n"
same_as_sha256sum "a tab, then the text-mode space" ok "$H\t config.json\n"
same_as_sha256sum "a tab, then the binary-mode star" ok "$H\t*config.json\n"
same_as_sha256sum "two tabs: a name starting with a tab" failed "$H\t\tconfig.json\n"
same_as_sha256sum "three spaces: a name starting with a space" failed "$H   config.json\n"
same_as_sha256sum "three spaces, that name there" ok "$Q   lead\n"
same_as_sha256sum "upper-case hex" ok "$HU  config.json\n"
same_as_sha256sum "blanks before the hash" ok "  $H  config.json\n\t$G  generation_config.json\n"
same_as_sha256sum "a comment" ok "# made by hand\n$H  config.json\n#$G  nothing\n"
same_as_sha256sum "a comment after a blank" refused " # made by hand\n$H  config.json\n"
same_as_sha256sum "blank lines" ok "\n\n$H  config.json\n\n\n$G  generation_config.json\n\n"
same_as_sha256sum "a line of blanks" refused "$H  config.json\n   \n"
same_as_sha256sum "CRLF" ok "$H  config.json\r\n$G  generation_config.json\r\n"
same_as_sha256sum "two CRs: the name ends with one" failed "$H  config.json\r\r\n"
same_as_sha256sum "no newline at the end" ok "$H  config.json"
same_as_sha256sum "a blank after the name: part of it" failed "$H  config.json \n"
same_as_sha256sum "one space after lines of two" refused "$H  config.json\n$G generation_config.json\n"
same_as_sha256sum "two spaces after lines of one: a name with a space" failed "$G generation_config.json\n$H  config.json\n"
same_as_sha256sum "a hash too long" refused "${H}0  config.json\n"
same_as_sha256sum "a hash too short" refused "${H:1}  config.json\n"
same_as_sha256sum "a hash that is not hex" refused "${H:1}g  config.json\n"
same_as_sha256sum "a hash and one blank" refused "$H \n"
same_as_sha256sum "a hash and two blanks: the name is a blank" failed "$H  \n"
same_as_sha256sum "no separator" refused "${H}config.json\n"
same_as_sha256sum "--tag" ok "SHA256 (config.json) = $H\nSHA256 (generation_config.json) = $G\n"
same_as_sha256sum "--tag without blanks" ok "SHA256(config.json)=$H\n"
same_as_sha256sum "--tag, more blanks after =" ok "SHA256 (config.json) =  \t$H\n"
same_as_sha256sum "--tag, CRLF" ok "SHA256 (config.json) = $H\r\n"
same_as_sha256sum "--tag after blanks" ok " SHA256 (config.json) = $H\n"
same_as_sha256sum "--tag, a name with parentheses" ok "SHA256 (r(s)t) = $Q\n"
same_as_sha256sum "--tag, mixed with two spaces" ok "SHA256 (config.json) = $H\n$G  generation_config.json\n"
same_as_sha256sum "--tag, a blank after the hash" refused "SHA256 (config.json) = $H \n"
same_as_sha256sum "--tag in lower case" refused "sha256 (config.json) = $H\n"
same_as_sha256sum "--tag, two blanks before (" refused "SHA256  (config.json) = $H\n"
same_as_sha256sum "--tag of another algorithm" refused "MD5 (config.json) = $H\n"
same_as_sha256sum "--tag without =" refused "SHA256 (config.json) $H\n"
same_as_sha256sum "--tag without )" refused "SHA256 (config.json = $H\n"
same_as_sha256sum "escaped: a backslash" ok "\\\\$Q  x\\\\\\\\y\n"
same_as_sha256sum "escaped: a newline" ok "\\\\$Q  n\\\\nl\n"
same_as_sha256sum "escaped: a carriage return" ok "\\\\$Q  c\\\\rr\n"
same_as_sha256sum "escaped, nothing to unescape" ok "\\\\$H  config.json\n"
same_as_sha256sum "escaped, binary mode" ok "\\\\$Q *x\\\\\\\\y\n"
same_as_sha256sum "escaped after blanks" ok " \\\\$Q  x\\\\\\\\y\n"
same_as_sha256sum "escaped --tag" ok "\\\\SHA256 (n\\\\nl) = $Q\n"
same_as_sha256sum "a backslash in a name not escaped" ok "$Q  x\\\\y\n"
same_as_sha256sum "escaped: an unknown escape" refused "\\\\$Q  x\\\\qy\n"
same_as_sha256sum "escaped: a backslash at the end" refused "\\\\$Q  x\\\\\n"
same_as_sha256sum "escaped: a blank after the backslash" refused "\\\\ $Q  x\\\\\\\\y\n"
same_as_sha256sum "only comments" refused "# nothing\n\n"
same_as_sha256sum "empty" refused ""
# the messages: the manifest and the line
printf '%s  config.json\n\n# x\n%s\n' "$H" "$H" >m
run "$verify" --manifest m c
expect_err "a refused line: its number" "ckpt-verify: m: line 4 is not \"SHA256  NAME\" (sha256sum's format)"
printf '%s  config.json\n%s generation_config.json\n' "$H" "$G" >m
run "$verify" --manifest m c
expect_err "the two forms mixed: said so" \
	"ckpt-verify: m: line 2 is \"SHA256 NAME\" with one blank, after lines of \"SHA256  NAME\" (sha256sum refuses the mix)"
printf '# x\n\n' >m
run "$verify" --manifest m c
expect_err "only comments: said so" "ckpt-verify: m: no checksum lines (sha256sum's format), only comments and blank lines"

# a manifest through a pipe: <(...), /dev/stdin, "-"
run "$verify" --manifest <(cd "$tiny" && sha256sum -- *) "$tiny"
expect_line "manifest from <(sha256sum ...)" "manifest    passed   8 files listed, 8 hashed (8.01 MiB): all match"
(cd "$tiny" && sha256sum --tag -- *) >tag.sha
rc=0
"$verify" --manifest /dev/stdin "$tiny" <tag.sha >out 2>err || rc=$?
expect_line "manifest from /dev/stdin" "manifest    passed   8 files listed, 8 hashed (8.01 MiB): all match"
rc=0
cat tag.sha | "$verify" --manifest - "$tiny" >out 2>err || rc=$?
expect_line "manifest from - (a pipe)" "manifest    passed   8 files listed, 8 hashed (8.01 MiB): all match"
rc=0
printf '%s  config.json\nbad\n' "$H" | "$verify" --manifest - "$tiny" >out 2>err || rc=$?
expect_rc "a bad line from standard input: exit 2" 2
expect_err "a bad line from standard input: named so" \
	"ckpt-verify: standard input: line 2 is not \"SHA256  NAME\" (sha256sum's format)"
rc=0
"$verify" --manifest - "$tiny" </dev/null >out 2>err || rc=$?
expect_err "nothing on standard input" \
	"ckpt-verify: standard input: no checksum lines (sha256sum's format), only comments and blank lines"
run "$verify" --manifest "$tiny" "$tiny"
expect_err "a directory as the manifest" "ckpt-verify: $tiny: Is a directory"
# a manifest inside the checkpoint given on standard input is still left out of the listing
(cd d && sha256sum -- *.json *.safetensors) >d/SHA256SUMS
rc=0
"$verify" --manifest - d <d/SHA256SUMS >out 2>err || rc=$?
expect_line "manifest inside the checkpoint, from standard input: not an unlisted file" \
	"manifest    passed   8 files listed, 8 hashed (8.01 MiB): all match"
rm d/SHA256SUMS
