#!/usr/bin/env bash
# The benchmarks' specs (fixtures/specs/bench-*.json) make what bench/*.sh measure: routed
# experts alone (experts_only) whose config.json names the model where the spec does, so
# that the converters read DeepSeek-V4's FP4 experts as V4; and one whole V4-Flash layer
# (experts_only false) that ckpt-hf-to-sharded cuts at --model-parallel 8, FP4 or FP8.
. "$CKPT_ROOT/tests/cli/lib.sh"
specs=$CKPT_ROOT/fixtures/specs
names() { grep -o '"[^"]*": "model-' "$1/model.safetensors.index.json" | cut -d'"' -f2; }
keys() { grep -o '^  "[a-z_]*"' "$1/config.json" | tr -d ' "' | paste -sd' '; }

# ---- V3: the 671B experts, config.json only the quantization (unchanged) ----
run "$synth" -q --set n_routed_experts=1 --set n_group=1 --set topk_group=1 "$specs/bench-experts.json" v3
expect_rc "bench-experts.json, one expert: written" 0
expect_eq "bench-experts.json: the expert's 3 weights and 3 scales, nothing else" \
	"$(names v3 | sed 's/[0-9][0-9]*/N/g' | sort -u | paste -sd' ')" \
	"model.layers.N.mlp.experts.N.down_proj.weight model.layers.N.mlp.experts.N.down_proj.weight_scale_inv model.layers.N.mlp.experts.N.gate_proj.weight model.layers.N.mlp.experts.N.gate_proj.weight_scale_inv model.layers.N.mlp.experts.N.up_proj.weight model.layers.N.mlp.experts.N.up_proj.weight_scale_inv"
expect_eq "bench-experts.json: config.json holds quantization_config alone" "$(keys v3)" "quantization_config"

# ---- V4-Flash: FP4 experts, config.json names the model ----
for n in 1 3; do
	run "$synth" -q --set n_routed_experts=$n "$specs/bench-v4-experts.json" v4-$n
	expect_rc "bench-v4-experts.json, $n experts: written" 0
	expect_eq "bench-v4-experts.json, $n experts: $((6 * n)) tensors, every one an expert's" \
		"$(names v4-$n | grep -c '^layers\.0\.ffn\.experts\.[0-9]*\.w[123]\.\(weight\|scale\)$')/$(names v4-$n | wc -l)" "$((6 * n))/$((6 * n))"
	expect_eq "bench-v4-experts.json, $n experts: V4-Flash's sizes, 13369344 bytes an expert" \
		"$("$jsonq" metadata.total_size <v4-$n/model.safetensors.index.json)" $((13369344 * n))
	expect_eq "bench-v4-experts.json, $n experts: config.json holds model_type, architectures, quantization_config" \
		"$(keys v4-$n)" "model_type architectures quantization_config"
done
run "$inspect" v4-3
expect_has "inspect: the V4 experts' FP4 weights at their logical shape [2048, 4096]" "[2048, 4096]"
run "$fp8" v4-3 bf16
expect_rc "ckpt-fp8-to-bf16 converts the V4 experts" 0
expect_has "... reading them as DeepSeek-V4: every FP4 weight dequantized" "0 FP8 and 9 FP4 weights dequantized (DeepSeek-V4)"
expect_eq "... to BF16 of 4096 x 2048 x 2 bytes a weight" "$("$jsonq" metadata.total_size <bf16/model.safetensors.index.json)" \
	$((9 * 2048 * 4096 * 2))
run "$CKPT_BIN/ckpt-bf16-to-fp8" bf16 fp8
expect_rc "ckpt-bf16-to-fp8 quantizes that BF16 back" 0
expect_has "... every weight, in 128x128 blocks" "9 weights quantized to FP8 in 128x128 blocks (DeepSeek-V4)"

# ---- one whole V4-Flash layer, cut at --model-parallel 8 ----
run "$synth" -q --set experts_only=false --set vocab_size=1024 --set n_routed_experts=8 "$specs/bench-v4-experts.json" layer
expect_rc "bench-v4-experts.json, experts_only false: one whole layer written" 0
for d in fp4 fp8; do
	run "$sharded" --model-parallel 8 --expert-dtype $d layer mp-$d
	expect_rc "ckpt-hf-to-sharded --model-parallel 8 --expert-dtype $d: converts it" 0
	expect_eq "... 8 rank files" "$(ls mp-$d/model*-mp8.safetensors | wc -l)" 8
done
expect_has "--expert-dtype fp8: the FP4 experts re-encoded without loss" "24 FP4 expert weights re-encoded to FP8: no value lost bits"
