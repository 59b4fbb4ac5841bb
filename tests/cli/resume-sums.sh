#!/usr/bin/env bash
# Resume trusts only what it can check: every converter records the SHA-256 of each file it
# writes, hashed on the way out, in OUTPUT_DIR/.ckpt-run.sha256 (sha256sum's format), and a
# re-run keeps a file only when its size, its header and its SHA-256 are the ones recorded.
# A finished output with two bytes changed is written again (with a warning), and the
# directory ends byte-identical to a clean run's, for each converter and each way of
# splitting the work (--shard, --rank, --file, --finalize).
. "$CKPT_ROOT/tests/cli/lib.sh"
S1=model-00001-of-00003.safetensors S2=model-00002-of-00003.safetensors S3=model-00003-of-00003.safetensors
# two bytes changed at offset $2 of file $1 (the size and, past the header, the header kept)
tamper() { printf '\x5a\xa5' | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
inode() { stat -c %i "$1"; }
changed() { # TOOL OUT/FILE: the warning for OUT/FILE
	echo "ckpt-$1: warning: $2: changed since it was written (its SHA-256 is not the one recorded in .ckpt-run.sha256): writing it again"
}

"$fp8" -q "$tiny" clean
check "the run's sums: every file written, none hidden, read by sha256sum -c" \
	eval '[ "$(cut -c67- clean/.ckpt-run.sha256 | tr "\n" " ")" = "config.json generation_config.json $S1 $S2 $S3 model.safetensors.index.json tokenizer.json tokenizer_config.json " ] && (cd clean && sha256sum --strict --quiet -c .ckpt-run.sha256)'
run "$CKPT_BIN/ckpt-verify" --manifest clean/.ckpt-run.sha256 clean
expect_rc "the run's sums: ckpt-verify --manifest passes with them" 0

# --- a finished shard with two bytes changed, past its header ---
cp -a clean o
tamper o/$S2 3000000
i1=$(inode o/$S1) i3=$(inode o/$S3)
run "$fp8" "$tiny" o
expect_rc "fp8-to-bf16: a kept shard changed: exit 0" 0
expect_err "fp8-to-bf16: a kept shard changed: one warning naming it" "$(changed fp8-to-bf16 o/$S2)"
check "fp8-to-bf16: ... written again: the directory is byte-identical to a clean run" same_tree o clean
expect_eq "fp8-to-bf16: ... the untouched shards kept, not rewritten" "$(inode o/$S1) $(inode o/$S3)" "$i1 $i3"

# the same in the last bytes of a shard, and in two shards at once, under -q: no warning
tamper o/$S1 $(($(stat -c %s o/$S1) - 2))
tamper o/$S3 100000
run "$fp8" -q -j 1 "$tiny" o
check "fp8-to-bf16 -q: two shards changed (one in its last bytes): exit 0, silent, byte-identical to a clean run" \
	eval '[ $rc -eq 0 ] && [ ! -s err ] && same_tree o clean'

# a changed header (same size) was already caught by the header check: still rewritten
tamper o/$S1 20
run "$fp8" -q "$tiny" o
check "fp8-to-bf16: a shard's header changed: rewritten, byte-identical to a clean run" eval '[ $rc -eq 0 ] && same_tree o clean'

# --- the sums themselves missing, cut, or not the directory's own ---
tamper o/$S2 3000000
rm o/.ckpt-run.sha256
run "$fp8" -q "$tiny" o
check "fp8-to-bf16: no .ckpt-run.sha256: nothing is trusted, every shard written again, byte-identical" \
	eval '[ $rc -eq 0 ] && same_tree o clean'
tamper o/$S2 3000000
grep -v " $S2\$" clean/.ckpt-run.sha256 >o/.ckpt-run.sha256
i1=$(inode o/$S1)
run "$fp8" -q "$tiny" o
check "fp8-to-bf16: a shard not in .ckpt-run.sha256 is written again, the others kept" \
	eval '[ $rc -eq 0 ] && same_tree o clean && [ "$(inode o/$S1)" = "$i1" ]'
tamper o/$S2 3000000
echo "not a list of sums" >o/.ckpt-run.sha256
run "$fp8" -q "$tiny" o
check "fp8-to-bf16: an unreadable .ckpt-run.sha256 vouches for nothing: written again, byte-identical" \
	eval '[ $rc -eq 0 ] && same_tree o clean'
# a link planted at the name: not the directory's own; replaced, its target untouched
cp clean/.ckpt-run.sha256 planted.sha256
tamper o/$S2 3000000
rm o/.ckpt-run.sha256 && ln -s ../planted.sha256 o/.ckpt-run.sha256
run "$fp8" -q "$tiny" o
check "fp8-to-bf16: a symbolic link at .ckpt-run.sha256 is not trusted nor written through" \
	eval '[ $rc -eq 0 ] && same_tree o clean && [ ! -L o/.ckpt-run.sha256 ] && cmp -s planted.sha256 clean/.ckpt-run.sha256'

# --- another conversion's sums are forgotten with its record (--force into it) ---
"$fp8" -q --drop-mtp "$tiny" other
run "$fp8" -q --force "$tiny" other
check "fp8-to-bf16 --force over another conversion: its sums replaced by this run's" \
	eval '[ $rc -eq 0 ] && same_tree other clean'

# --- one process per shard, then --finalize (scripts/fp8-to-bf16-parallel.sh) ---
for s in $S1 $S2 $S3; do "$fp8" -q --shard $s "$tiny" par; done
"$fp8" -q --finalize "$tiny" par
check "fp8-to-bf16 --shard then --finalize: the same sums as one run" same_tree par clean
tamper par/$S2 3000000
run "$fp8" --shard $S2 "$tiny" par
check "fp8-to-bf16 --shard on a changed shard: written again with the warning" \
	eval '[ $rc -eq 0 ] && [ "$(cat err)" = "$(changed fp8-to-bf16 par/$S2)" ] && same_tree par clean'
grep -v " $S3\$" clean/.ckpt-run.sha256 >par/.ckpt-run.sha256
run "$fp8" --finalize "$tiny" par
expect_rc "fp8-to-bf16 --finalize with a shard whose sum was never recorded: exit 2" 2
expect_err "fp8-to-bf16 --finalize with a shard whose sum was never recorded: the message" \
	"ckpt-fp8-to-bf16: par/$S3: not recorded as written by this conversion (no SHA-256 in .ckpt-run.sha256): write it again before finalizing"

# --- ckpt-hf-to-sharded: all ranks in one pass, and one process per rank ---
"$sharded" -q --model-parallel 2 "$tiny" mp
cp -a mp mp2
tamper mp2/model1-mp2.safetensors 1000000
run "$sharded" --model-parallel 2 "$tiny" mp2
check "hf-to-sharded: a changed rank file: exit 0, the warning, byte-identical to a clean run" \
	eval '[ $rc -eq 0 ] && grep -qxF "$(changed hf-to-sharded mp2/model1-mp2.safetensors)" err && same_tree mp2 mp'
"$sharded" -q --model-parallel 2 --rank 1 "$tiny" ranks
"$sharded" -q --model-parallel 2 --rank 0 "$tiny" ranks
check "hf-to-sharded --rank 1 then --rank 0: both ranks' sums recorded, the same directory as one run" same_tree ranks mp
tamper ranks/model0-mp2.safetensors 1000000
i1=$(inode ranks/model1-mp2.safetensors)
run "$sharded" -q --model-parallel 2 --rank 0 "$tiny" ranks
check "hf-to-sharded --rank 0 on its changed file: written again, rank 1 untouched" \
	eval '[ $rc -eq 0 ] && same_tree ranks mp && [ "$(inode ranks/model1-mp2.safetensors)" = "$i1" ]'

# --- ckpt-train-to-infer, whole and one file at a time ---
"$sharded" -q --layout mindspore-train "$tiny" train
"$t2i" -q train infer
layer=$(cd infer && ls layer_*.safetensors | head -1)
cp -a infer infer2
tamper infer2/$layer $(($(stat -c %s infer2/$layer) / 2))
run "$t2i" train infer2
check "train-to-infer: a changed layer file: exit 0, the warning, byte-identical to a clean run" \
	eval '[ $rc -eq 0 ] && grep -qxF "$(changed train-to-infer infer2/$layer)" err && same_tree infer2 infer'
tamper infer2/$layer $(($(stat -c %s infer2/$layer) / 2))
run "$t2i" -q --file $layer train infer2
check "train-to-infer --file on its changed file: written again, byte-identical" \
	eval '[ $rc -eq 0 ] && same_tree infer2 infer'
exit 0
