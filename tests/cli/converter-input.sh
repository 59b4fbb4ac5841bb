#!/usr/bin/env bash
# What a converter is given (issue 14, items 2 and 3): a whole checkpoint directory of the
# layout it reads.  A shard, an index or another file given for the checkpoint, a
# directory holding part of the shards its file names number, a directory of another
# layout: refused in one line that says what the input is (exit 2, nothing written).  An
# input with nothing to convert, or without config.json: converted, and said so.
. "$CKPT_ROOT/tests/cli/lib.sh"
S1=model-00001-of-00003.safetensors
S2=model-00002-of-00003.safetensors
S3=model-00003-of-00003.safetensors

# refused NAME MESSAGE OUT CMD...: exit 2, MESSAGE the one line on stderr, OUT not created
refused() {
	local name=$1 msg=$2 out=$3
	shift 3
	run "$@"
	if [ "$rc" -eq 2 ] && [ "$(cat err)" = "$msg" ] && [ ! -e "$out" ] && [ ! -s out ]; then ok "$name"
	else not_ok "$name" "exit $rc, stderr: $(cat err)" "wanted: $msg" "$out $([ -e "$out" ] && echo exists)"; fi
}

# --- a single shard, the index, another file ---
for t in fp8-to-bf16 hf-to-sharded; do
	args=()
	[ $t = hf-to-sharded ] && args=(--model-parallel 2)
	refused "$t: a shard of the checkpoint" \
		"ckpt-$t: $tiny/$S1: one shard of a checkpoint, not the whole of it: ckpt-$t converts a checkpoint directory (give $tiny)" \
		o1 "$CKPT_BIN/ckpt-$t" "${args[@]}" "$tiny/$S1" o1
	refused "$t: the last shard" \
		"ckpt-$t: $tiny/$S3: one shard of a checkpoint, not the whole of it: ckpt-$t converts a checkpoint directory (give $tiny)" \
		o1 "$CKPT_BIN/ckpt-$t" "${args[@]}" "$tiny/$S3" o1
	refused "$t: the index" \
		"ckpt-$t: $tiny/model.safetensors.index.json: a checkpoint's index: ckpt-$t converts a checkpoint directory (give $tiny)" \
		o1 "$CKPT_BIN/ckpt-$t" "${args[@]}" "$tiny/model.safetensors.index.json" o1
	refused "$t: config.json" \
		"ckpt-$t: $tiny/config.json: not a directory: ckpt-$t converts a checkpoint directory" \
		o1 "$CKPT_BIN/ckpt-$t" "${args[@]}" "$tiny/config.json" o1
done
refused "hf-to-sharded --layout mindspore-train: a shard" \
	"ckpt-hf-to-sharded: $tiny/$S2: one shard of a checkpoint, not the whole of it: ckpt-hf-to-sharded converts a checkpoint directory (give $tiny)" \
	o1 "$sharded" --layout mindspore-train "$tiny/$S2" o1
# a single-file checkpoint's file, relative, in a directory without an index
mkdir single && cp "$tiny/$S1" single/model.safetensors
refused "a lone .safetensors file: named a file, with its directory" \
	"ckpt-hf-to-sharded: single/model.safetensors: a file: ckpt-hf-to-sharded converts a checkpoint directory (give single)" \
	o1 "$sharded" --model-parallel 2 single/model.safetensors o1
mkfifo fifo
refused "a FIFO: not a directory, never opened" "ckpt-hf-to-sharded: fifo: not a directory" o1 \
	timeout 10 "$sharded" --model-parallel 2 fifo o1
refused "a path that does not exist" "ckpt-fp8-to-bf16: nowhere: No such file or directory" o1 "$fp8" nowhere o1

# --- a directory with part of the numbered shards and no index ---
mkdir part1 part13 part12
cp "$tiny/config.json" "$tiny/$S1" part1/
cp "$tiny/config.json" "$tiny/$S1" "$tiny/$S3" part13/
cp "$tiny/config.json" "$tiny/$S1" "$tiny/$S2" part12/
refused "fp8-to-bf16: 1 of 3 numbered shards, no index" \
	"ckpt-fp8-to-bf16: part1: holds 1 of the 3 shards model-*-of-00003.safetensors (model-00002-of-00003.safetensors is missing): not a whole checkpoint" \
	o2 "$fp8" part1 o2
refused "hf-to-sharded: shards 1 and 3 of 3: the gap named" \
	"ckpt-hf-to-sharded: part13: holds 2 of the 3 shards model-*-of-00003.safetensors (model-00002-of-00003.safetensors is missing): not a whole checkpoint" \
	o2 "$sharded" --model-parallel 2 part13 o2
refused "hf-to-sharded --layout mindspore-train: shards 1 and 2 of 3: the last named" \
	"ckpt-hf-to-sharded: part12: holds 2 of the 3 shards model-*-of-00003.safetensors (model-00003-of-00003.safetensors is missing): not a whole checkpoint" \
	o2 "$sharded" --layout mindspore-train part12 o2
# with the index, the index says what is missing (as before)
mkdir idx2 && cp "$tiny"/*.json "$tiny/$S1" "$tiny/$S3" idx2/
refused "with an index: the index's own message" \
	"ckpt-fp8-to-bf16: idx2/$S2: shard file is missing (model.safetensors.index.json maps tensors to it)" \
	o2 "$fp8" idx2 o2
# other numbering: "-1-of-2", and two sets side by side, one complete
mkdir other && cp "$tiny/$S1" other/a-1-of-2.safetensors && cp "$tiny/$S2" other/b-1-of-1.safetensors
refused "any prefix and width; the incomplete set named" \
	"ckpt-fp8-to-bf16: other: holds 1 of the 2 shards a-*-of-2.safetensors (a-2-of-2.safetensors is missing): not a whole checkpoint" \
	o2 "$fp8" other o2

# --- directories of another layout ---
"$sharded" -q --model-parallel 2 "$tiny" mp2 || not_ok "setup: model-parallel directory"
"$sharded" -q --layout mindspore-train "$tiny" ms || not_ok "setup: MindSpore training directory"
refused "fp8-to-bf16: a model-parallel directory, said to be one" \
	"ckpt-fp8-to-bf16: mp2: a DeepSeek model-parallel checkpoint (layout dsmp); ckpt-fp8-to-bf16 reads an HF checkpoint" \
	o3 "$fp8" mp2 o3
refused "fp8-to-bf16: a MindSpore directory, said to be one" \
	"ckpt-fp8-to-bf16: ms: a MindSpore Transformers training checkpoint (layout mindspore-train); ckpt-fp8-to-bf16 reads an HF checkpoint" \
	o3 "$fp8" ms o3
refused "fp8-to-bf16 --list-shards: the same" \
	"ckpt-fp8-to-bf16: mp2: a DeepSeek model-parallel checkpoint (layout dsmp); ckpt-fp8-to-bf16 reads an HF checkpoint" \
	o3 "$fp8" --list-shards mp2
refused "hf-to-sharded: a model-parallel directory" \
	"ckpt-hf-to-sharded: mp2: a DeepSeek model-parallel checkpoint (layout dsmp); ckpt-hf-to-sharded reads an HF checkpoint" \
	o3 "$sharded" --model-parallel 2 mp2 o3
refused "hf-to-sharded: a MindSpore directory" \
	"ckpt-hf-to-sharded: ms: a MindSpore Transformers training checkpoint (layout mindspore-train); ckpt-hf-to-sharded reads an HF checkpoint" \
	o3 "$sharded" --model-parallel 2 ms o3
refused "train-to-infer: a model-parallel directory" \
	"ckpt-train-to-infer: mp2: a DeepSeek model-parallel checkpoint (layout dsmp); ckpt-train-to-infer reads a MindSpore Transformers training checkpoint" \
	o3 "$t2i" mp2 o3
refused "train-to-infer: one file of a training checkpoint" \
	"ckpt-train-to-infer: ms/ms-model-00001-of-00004.safetensors: one shard of a checkpoint, not the whole of it: ckpt-train-to-infer converts a checkpoint directory (give ms)" \
	o3 "$t2i" ms/ms-model-00001-of-00004.safetensors o3

# --- fp8-to-bf16 with nothing to dequantize: converted, and said so ---
"$fp8" -q "$tiny" bf16 || not_ok "setup: a BF16 checkpoint"
run "$fp8" bf16 b1
expect_rc "a BF16 checkpoint: exit 0" 0
check "a BF16 checkpoint: said on stderr, with its dtypes" \
	grep -qxF "ckpt-fp8-to-bf16: warning: bf16: holds no FP8 weight (its tensors are BF16, F32): nothing to dequantize, every tensor copied unchanged" err
run "$verify" --against bf16 --exact b1
expect_rc "a BF16 checkpoint: every tensor copied bit for bit" 0
cp -r bf16 bf16q && cp "$tiny/config.json" bf16q/
run "$fp8" bf16q b2
check "BF16 weights under an FP8 config.json: said, and the config fixed" eval \
	'[ $rc -eq 0 ] && grep -qxF "ckpt-fp8-to-bf16: warning: bf16q: holds no FP8 weight (its tensors are BF16, F32), though its config.json declares FP8: every tensor copied unchanged, config.json without quantization_config" err && ! grep -q quantization_config b2/config.json'
run "$verify" -q b2
expect_rc "... and the output verifies" 0
refused "--strict: nothing to dequantize is an error" \
	"ckpt-fp8-to-bf16: --strict: bf16: holds no FP8 weight (its tensors are BF16, F32): nothing to dequantize, every tensor copied unchanged" \
	b3 "$fp8" --strict bf16 b3
run "$fp8" -q bf16 b4
check "-q: no warning" eval '[ $rc -eq 0 ] && [ ! -s err ]'

# --- without config.json: the block size assumed, said ---
mkdir nocfg && cp "$tiny"/*.safetensors "$tiny/model.safetensors.index.json" nocfg/
run "$fp8" nocfg n1
check "no config.json: converted, the 128x128 blocks said" eval \
	'[ $rc -eq 0 ] && grep -qxF "ckpt-fp8-to-bf16: warning: nocfg: no config.json: FP8 blocks taken as 128x128, as fp8_cast_bf16.py takes them; the output has no config.json either" err && [ ! -e n1/config.json ]'
"$fp8" -q "$tiny" withcfg
check "no config.json: the same shards as with it" eval \
	'for s in '"$S1 $S2 $S3"'; do cmp -s n1/$s withcfg/$s || exit 1; done'
for s in $("$fp8" --list-shards nocfg); do "$fp8" --shard "$s" nocfg n2 2>>shard.err; done
"$fp8" --finalize nocfg n2 2>fin.err
check "no config.json, per shard: said once, at --finalize" eval \
	'[ ! -s shard.err ] && [ "$(grep -c "no config.json" fin.err)" = 1 ]'
