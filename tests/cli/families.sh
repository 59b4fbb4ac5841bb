#!/usr/bin/env bash
# Model families (formats/family.h): which model config.json names, and what ckpt does
# with one it does not know.  An unknown model is said to be unknown: ckpt-verify runs
# every check that needs no family and reports the model check "not checked" (never
# passed, text or JSON); the forward pass and the converters that cut by the family's
# rules refuse it; ckpt-fp8-to-bf16, which is generic, still converts it.  Kimi-K2 and
# V3.1 are the DeepSeek-V3 family; moe_layer_freq means the same to the model check and
# the forward pass.
. "$CKPT_ROOT/tests/cli/lib.sh"

# cfg DIR PYTHON: a copy of tiny-v3 with config.json edited by PYTHON (on dict c)
cfg() {
	mkdir -p "$1"
	cp "$tiny"/* "$1/"
	python3 -c 'import json,sys
c=json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(c, open(sys.argv[3], "w"), indent=2)' "$tiny/config.json" "$2" "$1/config.json"
}
known="deepseek_v3, kimi_k2, deepseek_v32, deepseek_v4, deepseek_v41"

# ---- an unknown model ----
cfg qwen 'c["model_type"] = "qwen3_moe"; c["architectures"] = ["Qwen3MoeForCausalLM"]'
run "$verify" qwen
expect_rc "unknown model_type: verify exits 0 (nothing failed)" 0
expect_line "... the model check is not checked, and says why" \
	"model       not checked  model_type \"qwen3_moe\" is not a model ckpt knows (known: $known)"
expect_line "... the result says what was not checked" "result: passed, except what was not checked: model"
expect_has "... the structure is checked" "structure   passed   3 shards, 239 tensors"
run "$verify" --json qwen
expect_eq "... --json: the model check's status" "$("$jsonq" report.checks.1.status <out)" not_checked
expect_eq "... --json: complete is false" "$("$jsonq" report.complete <out)" false
run "$CKPT_BIN/ckpt-inspect" qwen
expect_line "... inspect shows everything, and says the model is unknown" \
	"model         model_type \"qwen3_moe\" is not a model ckpt knows (known: $known)"
run "$CKPT_BIN/ckpt-inspect" --json qwen
expect_eq "... inspect --json: model.family null" "$("$jsonq" checkpoints.0.model.family <out)" null
run "$verify" --scan qwen
expect_rc "... --scan runs (no family needed)" 0
expect_has "... scan line" "scan        passed"
run "$verify" --forward qwen
expect_rc "... --forward: exit 1" 1
expect_has "... --forward says the model is unknown" "model_type \"qwen3_moe\" is not a model ckpt knows (known: $known)"
run "$sharded" --model-parallel 2 qwen out-mp
expect_rc "... hf-to-sharded refuses it: exit 2" 2
expect_err "... named" "ckpt-hf-to-sharded: qwen/config.json: model_type \"qwen3_moe\" is not a model ckpt knows (known: $known)"
expect_eq "... nothing written" "$(ls out-mp 2>/dev/null | wc -l)" 0
run "$fp8" -q qwen out-bf16
expect_rc "... fp8-to-bf16 still dequantizes it (generic)" 0
"$fp8" -q "$tiny" ref-bf16 >/dev/null 2>&1
same=yes
for f in ref-bf16/*.safetensors; do cmp -s "$f" "out-bf16/$(basename "$f")" || same=no; done
expect_eq "... the same shards as the known model's" "$same" yes

cfg arch-only 'del c["model_type"]; c["architectures"] = ["MixtralForCausalLM"]'
run "$verify" arch-only
expect_line "no model_type, an unknown architecture: named" \
	"model       not checked  architecture \"MixtralForCausalLM\" is not a model ckpt knows (known: $known)"
cfg nothing 'del c["model_type"]; c.pop("architectures", None)'
run "$verify" nothing
expect_line "neither model_type nor architectures: not checked" \
	"model       not checked  config.json names no model_type (known: $known)"

# ---- the DeepSeek-V3 family under other names ----
cfg by-arch 'del c["model_type"]; c["architectures"] = ["DeepseekV3ForCausalLM"]'
run "$verify" by-arch
expect_has "architectures alone: DeepSeek-V3 recognised" "model       passed   DeepSeek-V3: 239 tensors"
cfg kimi 'c["model_type"] = "kimi_k2"'
run "$verify" kimi
expect_rc "Kimi-K2: exit 0" 0
run "$CKPT_BIN/ckpt-inspect" kimi
expect_line "Kimi-K2: inspect names it" "model         Kimi-K2 (family deepseek-v3)"
run "$verify" kimi
expect_has "Kimi-K2: checked as the DeepSeek-V3 family" "model       passed   Kimi-K2: 239 tensors (104 FP8 weights with their scales)"
run "$verify" --forward --tokens 1,2,3 kimi
expect_rc "Kimi-K2: --forward runs" 0
cfg v31 'c["quantization_config"]["scale_fmt"] = "ue8m0"'
run "$verify" v31
expect_has "V3.1 (ue8m0): named" "model       passed   DeepSeek-V3.1 (ue8m0 block scales): 239 tensors"

# ---- moe_layer_freq 2: layer 1 dense, for the model check and the forward pass alike ----
cat >freq.json <<'J'
{"extends": "SPEC", "moe_layer_freq": 2, "first_k_dense_replace": 0, "shards": 1, "seed": 7}
J
sed -i "s#SPEC#$CKPT_ROOT/fixtures/specs/tiny-v3.json#" freq.json
"$synth" -q freq.json freq >/dev/null 2>synth.err || cat synth.err
run "$verify" freq
expect_rc "moe_layer_freq 2: the model check passes" 0
run "$verify" --forward --tokens 1,2,3,4 freq
expect_rc "moe_layer_freq 2: --forward runs (layer 1 dense, no router asked for)" 0
expect_has "... forward passed" "forward     passed   1 x 4 tokens"
run "$verify" --forward --layers 0-2 freq
expect_rc "moe_layer_freq 2: --layers runs" 0

# ---- DeepSeek-V3.2: V3 plus the indexer, dense up to index_topk (8 here), sparse after it ----
"$synth" -q "$CKPT_ROOT/fixtures/specs/tiny-v32.json" v32 >/dev/null 2>synth.err || cat synth.err
run "$verify" --scan v32
expect_rc "V3.2: verify --scan passes" 0
expect_line "V3.2: the model check knows the indexer" \
	"model       passed   DeepSeek-V3.2: 267 tensors (112 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
run "$verify" --forward --positions 8 v32
expect_rc "V3.2: --forward over index_topk positions runs (the sparse attention selects all)" 0
run "$verify" --forward --positions 9 v32
expect_rc "V3.2: past index_topk the indexer runs, but tiny-v32's index_head_dim (32) cannot hold the 64 rotated dimensions: exit 1" 1
expect_line "... said why" "  v32: layer 0: index_head_dim 32 is smaller than qk_rope_head_dim 64, the dimensions its indexer rotates"
run "$fp8" -q v32 v32-bf16
expect_rc "V3.2: fp8-to-bf16 (indexer wq_b and wk dequantized)" 0
run "$verify" v32-bf16
expect_has "V3.2 BF16: a model of 155 tensors" "model       passed   DeepSeek-V3.2: 155 tensors (0 FP8 weights with their scales)"
exit $rc
