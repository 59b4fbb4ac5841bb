#!/usr/bin/env bash
# ckpt-hf-to-sharded --layout mindspore-train: the training layout of convert_weight.py
# from the FP8 tiny checkpoint; as float32 it holds the golden training checkpoint's tensors
# (train2infer of it gives upstream's layer files byte for byte), as bf16 upstream's dtypes.
. "$CKPT_ROOT/tests/cli/lib.sh"
tool=$CKPT_BIN/ckpt-hf-to-sharded

run "$tool" --layout mindspore-train --model-parallel 2 "$tiny" out
expect_err "model-parallel with mindspore-train: refused" \
	"ckpt-hf-to-sharded: --model-parallel, --n-experts and --rank are for --layout dsmp (see ckpt-hf-to-sharded --help)"
run "$tool" --dtype fp32 --model-parallel 2 "$tiny" out
expect_err "--dtype without mindspore-train: refused" \
	"ckpt-hf-to-sharded: --dtype is for --layout mindspore-train (see ckpt-hf-to-sharded --help)"
run "$tool" --layout mindspore-train --dtype fp8 "$tiny" out
expect_rc "unknown dtype: exit 2" 2
run "$tool" --layout nonsense "$tiny" out
expect_rc "unknown layout: exit 2" 2

run "$tool" -v --layout mindspore-train --dtype fp32 "$tiny" f32
expect_rc "fp32: exit 0" 0
expect_line "fp32: one file per layer (the MTP layer last, with the globals)" \
	"ms-model-00004-of-00004.safetensors: 25 tensors, 9454608 bytes, written"
expect_eq "fp32: param_name_map.json lists 81 tensors" "$("$jsonq" '#' <f32/param_name_map.json)" 81
expect_eq "fp32: upstream's order: the embedding first" \
	"$("$jsonq" -d / model.tok_embeddings.embedding_weight <f32/param_name_map.json)" "ms-model-00001-of-00004.safetensors"
# (the weights are dequantized: config.json no longer declares them FP8, issue 14 item 1)
printf %s "$(grep -v '"quantization_config": {' "$tiny/config.json" | sed '/"activation_scheme"/,/^  },$/d')" >config.want
expect_same "fp32: config.json copied without quantization_config" config.want f32/config.json
run "$tool" --layout mindspore-train --dtype fp32 -j 1 --json "$tiny" f32
expect_eq "resume: every file kept" "$("$jsonq" files.0.kept <out) $("$jsonq" files.3.kept <out)" "true true"

run "$tool" --layout mindspore-train "$tiny" f32
expect_err "bf16 into the fp32 run's directory: refused" \
	"ckpt-hf-to-sharded: f32: not empty, and not an earlier run of this conversion (its .ckpt-run.json names another); --force writes into it anyway"
run "$tool" --layout mindspore-train "$tiny" "$tiny/sub"
expect_err "output inside the input: refused" \
	"ckpt-hf-to-sharded: $tiny/sub: is inside the input directory $tiny; the output must go elsewhere"
run "$tool" --layout mindspore-train "$tiny" bf16
expect_rc "bf16: exit 0" 0
run "$CKPT_BIN/ckpt-inspect" bf16
expect_eq "bf16: BF16, norms, router and bias F32" \
	"$(sed -n '/^NAME /,$p' out | awk 'NR > 1 {print $2}' | sort | uniq -c | tr -s " \n" "  ")" " 107 BF16 25 F32 "

need_golden "hf-to-sharded --layout mindspore-train: golden data"
gi=$CKPT_GOLDEN/tiny-v3.mstrain.infer
"$CKPT_BIN/ckpt-train-to-infer" -q f32 infer 2>err
for f in general layer_0 layer_1 layer_2 layer_3; do
	expect_same "fp32, then train-to-infer: $f.safetensors is upstream's byte for byte" "$gi/$f.safetensors" "infer/$f.safetensors"
done
