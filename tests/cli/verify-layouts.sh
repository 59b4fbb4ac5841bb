#!/usr/bin/env bash
# ckpt-verify across layouts and against the converters' outputs: FP8 against its
# ckpt-fp8-to-bf16 output and its ckpt-hf-to-sharded output (--exact), model-parallel
# shards (structure, model without MTP, replicas identical and a corrupted replica found),
# the upstream model-parallel golden output.  Each part runs where its tool or data is
# here, and is reported as skipped where not.
. "$CKPT_ROOT/tests/cli/lib.sh"
tool=$CKPT_BIN/ckpt-verify
edit=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/st-edit
skip() { echo "ok - $1 # SKIP $2"; }

# ---- ckpt-fp8-to-bf16 ----
if [ -x "$CKPT_BIN/ckpt-fp8-to-bf16" ]; then
	"$CKPT_BIN/ckpt-fp8-to-bf16" "$tiny" bf16 >/dev/null 2>&1
	run "$tool" --scan --against "$tiny" --exact bf16
	expect_rc "fp8-to-bf16 output: --exact against the FP8 input: exit 0" 0
	expect_line "fp8-to-bf16 output: every tensor bit-identical" \
		"against     passed   135 tensors compared with $tiny (layout hf, exact): 135 bit-identical"
	expect_line "fp8-to-bf16 output: the model of its own config.json (BF16, no scales)" \
		"model       passed   DeepSeek-V3: 135 tensors (0 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
	run "$tool" --against bf16 --exact "$tiny"
	expect_rc "FP8 input: --exact against the fp8-to-bf16 output: exit 0" 0
	# its tar stream, checked as an archive against the directory's manifest
	"$CKPT_BIN/ckpt-fp8-to-bf16" "$tiny" - 2>/dev/null >bf16.tar
	run "$tool" --write-manifest bf16.sha bf16
	run "$tool" --manifest bf16.sha bf16.tar
	expect_rc "fp8-to-bf16 tar stream: structure, model and manifest as the directory's: exit 0" 0
	n=$(wc -l <bf16.sha)
	check "fp8-to-bf16 tar stream: all $n files match" grep -q "^manifest    passed   $n files listed, $n hashed (.*): all match\$" out
else
	skip "fp8-to-bf16 output against its input" "ckpt-fp8-to-bf16 is not built here"
fi

# ---- ckpt-hf-to-sharded and the model-parallel layout ----
if [ -x "$CKPT_BIN/ckpt-hf-to-sharded" ]; then
	"$CKPT_BIN/ckpt-hf-to-sharded" --model-parallel 2 "$tiny" mp >/dev/null 2>&1
	run "$tool" --scan --against "$tiny" --exact mp
	expect_rc "hf-to-sharded output: --exact against the HF input: exit 0" 0
	expect_line "hf-to-sharded output: the layout detected" "checkpoint  mp (layout dsmp)"
	expect_line "hf-to-sharded output: the model without its MTP layer" \
		"model       passed   DeepSeek-V3: 163 tensors (72 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
	expect_line "hf-to-sharded output: replicas identical" \
		"scan        passed   91 tensors, 5184208 values read (72 FP8 dequantized): no NaN or infinity; 23 replicated copies compared, all identical"
	expect_line "hf-to-sharded output: ranks merged, bit-identical, MTP left out as expected" \
		"against     passed   91 tensors compared with $tiny (layout hf, exact): 91 bit-identical; 44 of MTP layers, which the model-parallel layout leaves out, not compared"
	run "$tool" --against mp --exact "$tiny"
	expect_rc "HF input: --exact against its model-parallel output: exit 0" 0
	cp -r mp bad
	chmod -R u+w bad
	"$edit" mp/model1-mp2.safetensors bad/model1-mp2.safetensors --set layers.0.attn_norm.weight=3=2.5
	run "$tool" --scan bad
	expect_rc "a replica changed on rank 1: exit 1" 1
	expect_line "a replica changed: found, with both files" \
		"  bad/model1-mp2.safetensors: tensor \"model.layers.0.input_layernorm.weight\": this copy (\"layers.0.attn_norm.weight\") differs from the one in bad/model0-mp2.safetensors at 1 of 256 values"
	"$edit" mp/model1-mp2.safetensors bad/model1-mp2.safetensors --set layers.1.ffn.experts.5.w1.weight=9=2
	run "$tool" --against "$tiny" --exact bad
	expect_rc "an expert value changed on rank 1: --exact fails" 1
	check "an expert value changed: the tensor named by its canonical name" \
		grep -q '^  bad/model1-mp2.safetensors: tensor "model.layers.1.mlp.experts.5.gate_proj.weight": not bit-identical as BF16: 1 of 65536 values differ (first at 9, ' out
	run "$tool" --write-manifest mp.sha mp
	run "$tool" --manifest mp.sha bad
	expect_line "model-parallel manifest: the changed rank file found" \
		"  bad/model1-mp2.safetensors: SHA-256 is $(sha256sum <bad/model1-mp2.safetensors | cut -c1-64), the manifest says $(grep '  model1-mp2.safetensors$' mp.sha | cut -c1-64)"
	if [ -d "${CKPT_GOLDEN:-}" ]; then
		G=$CKPT_GOLDEN
		run "$tool" --scan --against "$tiny" --exact "$G/tiny-v3.convert-mp2"
		expect_rc "golden convert.py MP2 output: --exact against the FP8 input, replicas identical" 0
		run "$tool" --against "$G/tiny-v3.fp8_cast_bf16" --exact "$G/tiny-v3.convert-mp2"
		expect_rc "golden: FP8 model-parallel against upstream's BF16 HF output: --exact" 0
		run "$tool" --manifest "$G/SHA256SUMS" --manifest-root "$G" "$G/tiny-v3.convert-mp2"
		expect_rc "golden: the MP2 output against SHA256SUMS" 0
	else
		skip "golden model-parallel output" "no golden data at ${CKPT_GOLDEN:-(unset)}"
	fi
else
	skip "model-parallel layout" "ckpt-hf-to-sharded is not built here"
fi
