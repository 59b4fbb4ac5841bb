#!/usr/bin/env bash
# ckpt-verify --forward on DeepSeek-V4 (lib/infer/v4_model.h): fixtures/specs/fwd-v4.json made
# here by ckpt-synth (the bytes transformers ran on, fixtures/ref/v4-forward/inputs.sha256)
# against transformers' float64 logits and hidden states; --against its ckpt-fp8-to-bf16
# output (identical: FP8 and FP4 weights are read as that conversion writes them), --layers,
# --mtp, --json, -j, and the errors.
. "$CKPT_ROOT/tests/cli/lib.sh"
tool=$CKPT_BIN/ckpt-verify
fwd() { "$tool" --forward "$@"; }
ref=$CKPT_ROOT/fixtures/ref/v4-forward
logits=$ref/forward/hf_logits.safetensors

"$synth" -q "$CKPT_ROOT/fixtures/specs/fwd-v4.json" input
expect_eq "the input: the bytes the reference ran on" "$(sha256sum input/* | sed 's|  input/|  input/|' | LC_ALL=C sort -k2)" \
	"$(LC_ALL=C sort -k2 "$ref/inputs.sha256")"

# ---- --reference: transformers' DeepseekV4ForCausalLM, float64 ----
run fwd --reference "$logits" input
expect_rc "reference: pass (1e-4)" 0
expect_line "reference: the summary" "forward     passed   against $logits: logits max abs difference 2.74e-06, 5 hidden states at most 9.06e-06 (limit 0.0001)"
expect_line "reference: logits" "  logits: max abs difference 2.74e-06 (row 15): pass"
expect_line "reference: the embedding's streams" "  hidden.0: max abs difference 0 (row 0): pass"
expect_line "reference: after layer 0 (window only, hash routing)" "  hidden.1: max abs difference 9.54e-07 (row 109): pass"
expect_line "reference: after layer 1 (ratio 4, indexer)" "  hidden.2: max abs difference 1.55e-06 (row 99): pass"
expect_line "reference: after layer 2 (ratio 128)" "  hidden.3: max abs difference 9.06e-06 (row 167): pass"
expect_line "reference: the final norm (after ratio-4 layer 3, scored routing, hc head)" "  hidden.4: max abs difference 2.5e-06 (row 122): pass"
run fwd --reference "$logits" --max-abs 1e-6 input
expect_rc "reference at 1e-6: fails" 1
expect_line "... on the logits" "  logits: max abs difference 2.74e-06 (row 15) is more than 1e-06"
run fwd --json --reference "$logits" input
cp out ref.json
check "reference json: valid" "$jsonq" <ref.json
expect_eq "reference json: logits first" "$("$jsonq" report.checks.2.comparisons.0.what <ref.json)" logits
expect_eq "reference json: passes" "$("$jsonq" report.checks.2.comparisons.0.pass <ref.json)" true

# ---- --against its BF16 conversion: identical ----
run "$CKPT_BIN/ckpt-fp8-to-bf16" -q input bf16
expect_rc "ckpt-fp8-to-bf16 converts it" 0
run fwd --reference "$logits" bf16
expect_line "the BF16 conversion: the same figures" "forward     passed   against $logits: logits max abs difference 2.74e-06, 5 hidden states at most 9.06e-06 (limit 0.0001)"
run fwd --against bf16 --mtp input
expect_rc "against BF16: pass" 0
expect_line "against BF16: identical logits" "forward     passed   1 x 16 tokens through both, against bf16: logits max abs difference 0, cosine 1.0000000, top-1 agreement 16 of 16"
expect_line "against BF16: identical MTP logits" "  MTP depth 1 logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 15/15: pass"
"$synth" -q --set seed=5 "$CKPT_ROOT/fixtures/specs/fwd-v4.json" other
run fwd --against other input
expect_rc "against another V4 (seed 5): fails" 1

# ---- --layers: one layer's weights at a time ----
run fwd --layers 0-4 --positions 160 --against bf16 input
expect_rc "layers 0-4 (MTP block 4) on 160 positions against BF16: pass" 0
expect_line "layers: summary" "forward     passed   5 layers on a fixed hidden state of 160 positions, against bf16: largest difference 0 (layer 4)"
expect_has "layers: the ratio-128 layer" "  layer 2: output rms "
run fwd --layers 5 input
expect_rc "layers: past the MTP block: exit 2" 2
expect_err "layers: message" "ckpt-verify: --layers: layer 5 does not exist (the model has 5, MTP included)"

# ---- --mtp, -j ----
run fwd --mtp --positions 40 input
expect_rc "mtp: exit 0" 0
expect_has "mtp: runs the block" "tokens in "
expect_has "mtp: ... with the MTP layer" ", with the MTP layer"
run fwd -j 1 --tokens-file "$logits" --logits-out j1.safetensors input
run fwd -j 3 --tokens-file "$logits" --logits-out j3.safetensors input
expect_same "-j 1 and -j 3: the same logits file" j1.safetensors j3.safetensors

# ---- errors ----
mkdir nowin && cp input/* nowin/
sed -i 's/"sliding_window": 8,//' nowin/config.json
run fwd nowin
expect_rc "no sliding_window: exit 1" 1
expect_line "... says so" "  nowin: missing \"sliding_window\" (every DeepSeek-V4 layer attends over a window)"
run fwd --tokens 0,256 input
expect_rc "a token outside the vocabulary: exit 2" 2
