#!/usr/bin/env bash
# ckpt-verify --forward on DeepSeek-V3.2 past index_topk: the lightning indexer picks the
# positions each query attends to (lib/infer/indexer.h).  Against fixtures/ref/v32-sparse
# (transformers' DeepseekV32ForCausalLM, float64, 2 x 24 tokens, index_topk 8): logits and
# hidden states within 1e-4; the FP8 input and its BF16 conversion give the same bits
# (--forward, --against, --layers, --mtp), for any -j; the dense pass on the same weights
# (index_topk raised to 24) is another model.  That every layer picks transformers' positions
# is tests/unit/test_indexer.c's.
. "$CKPT_ROOT/tests/cli/lib.sh"
ref=$CKPT_ROOT/fixtures/ref/v32-sparse
R=$ref/forward/hf_logits.safetensors

mkdir in
"$synth" -q "$CKPT_ROOT/fixtures/specs/fwd-v32.json" in/v32-fp8 >/dev/null 2>synth.err || cat synth.err
run "$fp8" -q in/v32-fp8 in/v32
expect_rc "fwd-v32.json: ckpt-synth, then ckpt-fp8-to-bf16" 0
expect_eq "... the bytes transformers was run on (inputs.sha256)" "$(cd in/v32 && sha256sum * | sed 's|  |  input/|' | sort -k2)" \
	"$(sort -k2 "$ref/inputs.sha256")"

# ---- against transformers ----
run "$verify" --forward --reference "$R" in/v32
expect_rc "V3.2 at 24 positions (index_topk 8): --forward --reference passes" 0
expect_line "... the result line" \
	"forward     passed   against $R: logits max abs difference 5.54e-06, 4 hidden states at most 5.44e-05 (limit 0.0001)"
expect_line "... the logits" "  logits: max abs difference 5.54e-06 (row 19): pass"
max=$(sed -n 's/^  \(logits\|hidden\.[0-9]*\): max abs difference \([^ ]*\) .*/\2/p' out | sort -g | tail -n 1)
check "... every difference below 1e-4 (largest $max)" awk -v m="$max" 'BEGIN { exit !(m != "" && m < 1e-4) }'
run "$verify" --checks structure --forward --reference "$R" in/v32-fp8
expect_line "the FP8 input: the same figures" \
	"forward     passed   against $R: logits max abs difference 5.54e-06, 4 hidden states at most 5.44e-05 (limit 0.0001)"

# ---- the same bits: FP8 and BF16, -j 1 and -j 2, --against, --layers, --mtp ----
run "$verify" -j 1 --checks structure --forward --tokens-file "$R" --logits-out j1.safetensors in/v32
run "$verify" -j 2 --checks structure --forward --tokens-file "$R" --logits-out j2.safetensors in/v32-fp8
expect_rc "--logits-out past index_topk" 0
expect_same "... -j 1 on BF16 and -j 2 on FP8: the same logits file" j1.safetensors j2.safetensors
run "$verify" --checks structure --forward --tokens-file "$R" --against in/v32-fp8 --mtp in/v32
expect_rc "--against the FP8 input at 24 positions, with --mtp" 0
expect_line "... logits identical" \
	"  logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 48/48: pass"
expect_line "... MTP logits identical (the MTP layer's indexer at 23 positions)" \
	"  MTP depth 1 logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 46/46: pass"
run "$verify" --checks structure --forward --tokens-file "$R" --mtp in/v32
expect_rc "--mtp past index_topk runs" 0
expect_has "... with the MTP layer" "forward     passed   2 x 24 tokens in "
expect_has "... its table" "  MTP depth 1, sequence 1: position i, token i+1, top 5 for token i+2 (token:logit)"
for T in 24 40; do
	run "$verify" --checks structure --forward --layers 0-3 --positions $T --against in/v32-fp8 in/v32
	expect_rc "--layers 0-3 (pages given back after use) at $T positions, against the FP8 input" 0
	expect_line "... the same outputs on every layer, the MTP layer included" \
		"forward     passed   4 layers on a fixed hidden state of $T positions, against in/v32-fp8: largest difference 0 (layer 3)"
done

# ---- the indexer matters: the dense pass over the same weights is another model ----
mkdir dense
ln in/v32/* dense/
rm dense/config.json
sed 's/"index_topk": 8/"index_topk": 24/' in/v32/config.json >dense/config.json
run "$verify" --checks structure --forward --tokens-file "$R" --against dense in/v32
expect_rc "index_topk 24 (every position kept) against 8: the logits differ" 1
expect_has "... FAIL" "logits: max abs difference "
run "$verify" --checks structure --forward --reference "$R" dense
expect_rc "... and the dense one fails the reference" 1
run "$verify" --checks structure --forward --tokens 1,2,3,4,5,6,7,8 --against dense in/v32
expect_rc "up to index_topk (8 tokens) both are the dense pass" 0
expect_line "... identical" "  logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 8/8: pass"
exit $rc
