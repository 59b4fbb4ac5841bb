#!/usr/bin/env bash
# What a converter says (issue 14, item 6): on success one line, off a terminal too, of
# what was written, where, how many files and bytes, in how long (nothing with -q; the
# files first with -v); a re-run with nothing to do says so and writes nothing; an
# interrupt says how to resume.
. "$CKPT_ROOT/tests/cli/lib.sh"

# the last run's stdout with its time replaced by T
said() { sed -E 's/ in [0-9]+\.[0-9]+ s/ in T s/' out; }
# every file under DIR with its modification time
stamps() { find "$1" -type f -printf '%P %T@\n' | LC_ALL=C sort; }

# --- fp8-to-bf16 ---
run "$fp8" "$tiny" o1
check "fp8-to-bf16: exit 0, nothing on stderr" eval '[ $rc -eq 0 ] && [ ! -s err ]'
expect_eq "fp8-to-bf16: one line (files, bytes, where, how long, what was done)" "$(said)" \
	"wrote 8 files (14.7 MiB) to o1 in T s; 104 FP8 weights dequantized (DeepSeek-V3)"
stamps o1 >before
sleep 0.01
run "$fp8" "$tiny" o1
expect_eq "a re-run with nothing to do says so" "$(cat out)" \
	"o1: nothing to do: its 8 files are complete (--force writes them again)"
check "... and writes nothing (no file touched)" eval '[ "$(stamps o1)" = "$(cat before)" ]'
rm o1/model-00002-of-00003.safetensors
printf '{}' >o1/tokenizer_config.json
run "$fp8" "$tiny" o1
expect_eq "a partial re-run: what was written, what was kept" "$(said)" \
	"wrote 2 files (5.01 MiB) to o1 in T s; kept 6 complete from an earlier run; 104 FP8 weights dequantized (DeepSeek-V3)"
check "... a side file that differs is written again" cmp -s "$tiny/tokenizer_config.json" o1/tokenizer_config.json
run "$fp8" -v "$tiny" o1
expect_eq "-v: every file, then the line" "$(said)" "model-00001-of-00003.safetensors: 47 tensors, 5386712 bytes, kept (already complete)
model-00002-of-00003.safetensors: 46 tensors, 5254920 bytes, kept (already complete)
model-00003-of-00003.safetensors: 42 tensors, 4730152 bytes, kept (already complete)
model.safetensors.index.json: 11763 bytes, kept (already complete)
config.json: 1232 bytes, kept (already complete)
generation_config.json: 87 bytes, kept (already complete)
tokenizer.json: 6675 bytes, kept (already complete)
tokenizer_config.json: 103 bytes, kept (already complete)
o1: nothing to do: its 8 files are complete (--force writes them again)"
run "$fp8" -f "$tiny" o1
expect_eq "--force: everything written again" "$(said)" "wrote 8 files (14.7 MiB) to o1 in T s; 104 FP8 weights dequantized (DeepSeek-V3)"
run "$fp8" -q "$tiny" o2
check "-q: nothing said" eval '[ $rc -eq 0 ] && [ ! -s out ] && [ ! -s err ]'
# the tar stream takes standard output: the line goes to standard error
"$fp8" "$tiny" - >o.tar 2>err
check "a tar stream: the line on stderr, as the tool's" eval \
	'[ "$(sed -E "s/ in [0-9.]+ s/ in T s/" err)" = "ckpt-fp8-to-bf16: wrote 8 files (14.7 MiB) as a tar stream to standard output in T s; 104 FP8 weights dequantized (DeepSeek-V3)" ] && tar tf o.tar >/dev/null'
# one shard at a time, then the rest
run "$fp8" --shard model-00001-of-00003.safetensors "$tiny" ps
expect_eq "--shard: its file" "$(said)" "wrote 1 file (5.14 MiB) to ps in T s"
run "$fp8" --shard model-00001-of-00003.safetensors "$tiny" ps
expect_eq "--shard again: nothing to do" "$(cat out)" "ps: nothing to do: its 1 file is complete (--force writes it again)"
for s in model-00002-of-00003.safetensors model-00003-of-00003.safetensors; do "$fp8" -q --shard $s "$tiny" ps; done
run "$fp8" --finalize "$tiny" ps
expect_eq "--finalize: the side files, the shards kept" "$(said)" \
	"wrote 5 files (19.4 KiB) to ps in T s; kept 3 complete from an earlier run"

# --- hf-to-sharded, both layouts, and train-to-infer ---
run "$sharded" --model-parallel 2 "$tiny" mp
expect_eq "hf-to-sharded: one line, the MTP layer left out said" "$(said)" \
	"wrote 6 files (5.53 MiB) to mp in T s; MTP layer 3 left out (76 tensors), as convert.py does"
run "$sharded" --model-parallel 2 "$tiny" mp
expect_eq "hf-to-sharded again: nothing to do" "$(cat out)" \
	"mp: nothing to do: its 6 files are complete (--force writes them again)"
run "$sharded" --model-parallel 2 --rank 1 "$tiny" r1
expect_eq "hf-to-sharded --rank 1: its one file" "$(said)" \
	"wrote 1 file (2.76 MiB) to r1 in T s; MTP layer 3 left out (76 tensors), as convert.py does"
run "$sharded" --layout mindspore-train "$tiny" ms
expect_eq "hf-to-sharded --layout mindspore-train: one line" "$(said)" "wrote 6 files (14.2 MiB) to ms in T s"
run "$t2i" ms inf
check "train-to-infer: one line" eval '[ $rc -eq 0 ] && said | grep -qxE "wrote [0-9]+ files \([0-9.]+ [KM]iB\) to inf in T s"'
run "$t2i" ms inf
check "train-to-infer again: nothing to do" eval \
	'grep -qxE "inf: nothing to do: its [0-9]+ files are complete \(--force writes them again\)" out'
"$t2i" ms - >inf.tar 2>err
check "train-to-infer, a tar stream: the line on stderr" eval \
	'grep -qxE "ckpt-train-to-infer: wrote [0-9]+ files \([0-9.]+ [KM]iB\) as a tar stream to standard output in [0-9.]+ s" err'

# --- interrupted: how to resume ---
if [ ! -x "$CKPT_BUILD/dev/ckpt-synth" ]; then
	skip "interrupts" "no ckpt-synth"
	exit 0
fi
# 264 MB of output: long enough to be caught at work
"$CKPT_BUILD/dev/ckpt-synth" -q --set n_routed_experts=3 --set n_group=1 --set topk_group=1 \
	"$CKPT_ROOT/fixtures/specs/bench-experts.json" big >/dev/null 2>&1
# (that one's config.json describes no model, which hf-to-sharded needs: the tiny model
# with a vocabulary of 100000, 100 MB of embeddings)
"$CKPT_BUILD/dev/ckpt-synth" -q --set vocab_size=100000 --set 'values="cheap"' \
	"$CKPT_ROOT/fixtures/specs/tiny-v3.json" bigv >/dev/null 2>&1
# start CMD... in the background, writing into directory $out; 0 once a temporary is there
start() {
	"$@" >sig.out 2>sig.err &
	pid=$!
	for _ in $(seq 1 1000); do
		[ -n "$(find "$out" -name '.*.ckpt-tmp' 2>/dev/null)" ] && return 0
		kill -0 $pid 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}
for sig in INT TERM; do
	for c in "fp8-to-bf16|$fp8 -j 2 big" "hf-to-sharded|$sharded -j 2 --model-parallel 1 bigv"; do
		IFS='|' read -r t cmd <<<"$c"
		out=i-$t-$sig
		# shellcheck disable=SC2086
		if start $cmd $out; then
			kill -$sig $pid
			wait $pid
			rc=$?
			want=$([ $sig = INT ] && echo 130 || echo 143)
			check "$t, SIG$sig: dies of it ($rc), says how to resume" eval \
				'[ $rc -eq $want ] && [ "$(tr -d "\r" <sig.err | sed "s/\x1b\[K//")" = "ckpt-$t: interrupted (SIG$sig): run the same command again to resume (complete files are kept)" ]'
			# shellcheck disable=SC2086
			run $cmd $out
			check "$t, SIG$sig: the same command again completes it" eval '[ $rc -eq 0 ] && grep -q "^wrote " out'
		else
			wait $pid
			skip "$t, SIG$sig" "the conversion ended before the signal"
		fi
	done
done
# a tar stream does not resume: said so (into a pipe nobody reads: the tool is at work,
# blocked on it, when the signal comes)
mkfifo tarpipe
"$fp8" -j 2 big - >tarpipe 2>sig.err &
pid=$!
exec 3<tarpipe
sleep 0.2
kill -TERM $pid
wait $pid
rc=$?
exec 3<&-
check "a tar stream, SIGTERM: dies of it ($rc), says the stream is incomplete" eval \
	'[ $rc -eq 143 ] && [ "$(cat sig.err)" = "ckpt-fp8-to-bf16: interrupted (SIGTERM): the tar stream on standard output is incomplete" ]'
rm -rf big bigv i-* tarpipe
