#!/usr/bin/env bash
# ckpt-verify --forward: top-5 output, --json, --logits-out, --mtp, --against (identical for
# an FP8 checkpoint, its BF16 conversion and its model-parallel shards, made by our own
# converters; different for another model), --layers, --reference (golden and fixtures/ref),
# -j, and the errors.
. "$CKPT_ROOT/tests/cli/lib.sh"
tool=$CKPT_BIN/ckpt-verify
fwd() { "$tool" --forward "$@"; }
partial=$CKPT_ROOT/fixtures/ref/partial

# ---- top-5 per position ----
run fwd --tokens 0,17,255,3 "$tiny"
expect_rc "top-5: exit 0" 0
expect_has "top-5: header" "position i, token i, top 5 for token i+1 (token:logit)"
expect_has "top-5: position 0" "       0        0  179:3.1872  228:2.9235  311:2.8030  307:2.7282  337:2.3297"
expect_has "top-5: position 3" "       3        3  198:2.3183  179:2.3013  138:2.1845  134:2.1571  436:2.0975"
run fwd --positions 5 "$tiny"
expect_eq "default tokens: 5 positions" "$(grep -c '^  *[0-9]  ' out)" 5
expect_line "summary" "forward     passed   1 x 5 tokens in $(sed -n 's/^forward     passed   1 x 5 tokens in \([0-9.]* s\).*/\1/p' out) (4.6 MB of weights read)"

# ---- --json ----
run fwd --json --tokens 0,17 "$tiny"
cp out one.json
check "json: valid (strict reader)" "$jsonq" <one.json
expect_eq "json: the forward check" "$("$jsonq" report.checks.2.name <one.json)" forward
expect_eq "json: mode" "$("$jsonq" report.checks.2.mode <one.json)" run
expect_eq "json: tokens" "$("$jsonq" report.checks.2.sequences.0.tokens.1 <one.json)" 17
expect_eq "json: top token at position 0" "$("$jsonq" report.checks.2.sequences.0.next.0.0.token <one.json)" 179

# ---- --logits-out: the same bytes for any -j, for FP8 and its BF16 conversion ----
run fwd -j 1 --tokens-file "$partial/forward/hf_logits.safetensors" --logits-out j1.safetensors "$partial/input"
expect_rc "logits-out: exit 0" 0
run fwd -j 2 --tokens-file "$partial/forward/hf_logits.safetensors" --logits-out j2.safetensors "$partial/input"
expect_same "logits-out: -j 1 and -j 2 give the same file" j1.safetensors j2.safetensors
run "$CKPT_BIN/ckpt-inspect" j1.safetensors
expect_has "logits-out: logits [2, 24, 300]" "logits     F32    [2, 24, 300]"
run "$CKPT_BIN/ckpt-fp8-to-bf16" -q "$partial/input" bf16
expect_rc "ckpt-fp8-to-bf16 converts the partial fixture" 0
run fwd --tokens-file "$partial/forward/hf_logits.safetensors" --logits-out bf.safetensors bf16
expect_same "FP8 and its ckpt-fp8-to-bf16 conversion: identical logits" j1.safetensors bf.safetensors

# the same bits without AVX-512: valgrind's CPU has AVX2 at most, so the AVX2 clones and the
# scalar FP8 tables run (not with the sanitizer build, which valgrind cannot run)
case "$CKPT_BUILD" in
*/san) echo "ok - without AVX-512: the same logits # SKIP sanitizer build" ;;
*)
	if command -v valgrind >/dev/null; then
		valgrind -q "$tool" --forward --tokens-file "$partial/forward/hf_logits.safetensors" \
			--logits-out vg.safetensors "$partial/input" >/dev/null 2>vg.err
		# (Debian 12's valgrind cannot read the DWARF 5 that clang writes)
		if grep -q "debuginfo reader: Possibly corrupted debuginfo" vg.err; then
			echo "ok - without AVX-512: the same logits # SKIP valgrind cannot read this build's debug info"
		else
			expect_same "without AVX-512 (valgrind): the same logits, bit for bit" j1.safetensors vg.safetensors
		fi
	else
		echo "ok - without AVX-512: the same logits # SKIP no valgrind"
	fi ;;
esac

# ---- --mtp ----
run fwd --tokens 5,6,7 --mtp "$partial/input"
expect_has "mtp: depth 1 table" "MTP depth 1, sequence 0: position i, token i+1, top 5 for token i+2 (token:logit)"
run fwd --tokens 5,6,7 --mtp "$CKPT_ROOT/fixtures/ref/noqlora-softmax/input"
expect_has "mtp: said when there is none" "MTP: the checkpoint has no MTP layer"

# ---- --against ----
run fwd --against bf16 --mtp "$partial/input"
expect_rc "against BF16 conversion: pass" 0
expect_has "against: logits identical" "logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 16/16: pass"
expect_has "against: MTP logits identical" "MTP depth 1 logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 15/15: pass"
run "$CKPT_BIN/ckpt-hf-to-sharded" -q --model-parallel 2 bf16 mp2
expect_rc "ckpt-hf-to-sharded shards the BF16 conversion" 0
run fwd --against mp2 "$partial/input"
expect_rc "against its model-parallel shards: pass" 0
expect_has "against mp2: logits identical" "logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 16/16: pass"
"$CKPT_BUILD/dev/ckpt-synth" -q "$CKPT_ROOT/fixtures/specs/tiny-v3.json" other >/dev/null 2>&1
run fwd --against other "$tiny"
expect_rc "against another model: exit 1" 1
expect_has "against another model: FAIL" ": FAIL"

# ---- --layers ----
run fwd --layers 0-3 --against "$CKPT_GOLDEN/tiny-v3.fp8_cast_bf16" --config "$tiny/config.json" "$tiny"
if [ -d "${CKPT_GOLDEN:-}" ]; then
	expect_rc "layers against golden BF16: pass" 0
	expect_has "layers: MTP layer 3 identical" "layer 3: output rms 1.7883, 8 routed expert runs"
fi
run fwd --layers 1 --against other "$tiny"
expect_rc "layers against another model: exit 1" 1
run fwd --layers 0,9 "$tiny"
expect_rc "layers: a layer that does not exist: exit 2" 2
expect_err "layers: message" "ckpt-verify: --layers: layer 9 does not exist (the model has 4, MTP included)"

# ---- --reference ----
for fx in partial:hf sigmoid-1group:hf noqlora-softmax:own; do
	name=${fx%%:*} ref=${fx##*:}
	run fwd --reference "$CKPT_ROOT/fixtures/ref/$name/forward/${ref}_logits.safetensors" "$CKPT_ROOT/fixtures/ref/$name/input"
	expect_rc "reference $name: pass (1e-4)" 0
done
run fwd --reference "$partial/forward/hf_logits.safetensors" --max-abs 1e-7 "$partial/input"
expect_rc "reference with a 1e-7 limit: exit 1" 1

# ---- errors ----
run fwd --tokens 1,2,999 "$tiny"
expect_rc "token outside the vocabulary: exit 2" 2
expect_err "token outside the vocabulary: message" "ckpt-verify: token 999 is outside the vocabulary (vocab_size 512)"
run fwd --tokens 1,x "$tiny"
expect_err "bad token list: message" "ckpt-verify: --tokens: \"x\" is not a token id (a non-negative integer)"
run "$tool" --tokens 1,2 "$tiny"
expect_rc "forward options without --forward: exit 2" 2
run fwd --tokens 1 --tokens-file x "$tiny"
expect_err "--tokens and --tokens-file" "ckpt-verify: --tokens and --tokens-file do not go together (see ckpt-verify --help)"
run fwd --logits-out x.safetensors --against "$tiny" "$tiny"
expect_err "--logits-out with --against" "ckpt-verify: --logits-out writes the logits of a plain --forward run (see ckpt-verify --help)"
run fwd --exact --against "$tiny" "$tiny"
expect_rc "--exact with --forward: exit 2" 2
run fwd --logits-out /nonexistent/dir/x.safetensors "$tiny"
expect_rc "an unwritable logits file: exit 2" 2
need_golden "model-parallel golden without --config"
run fwd "$CKPT_GOLDEN/tiny-v3.convert-mp2"
expect_rc "no config.json: exit 2" 2
expect_err "no config.json: message" \
	"ckpt-verify: $CKPT_GOLDEN/tiny-v3.convert-mp2: no config.json to take the model's hyper-parameters from (give one with --config)"
for ms in mstrain mstrain.infer; do
	run fwd --config "$tiny/config.json" --against "$CKPT_GOLDEN/tiny-v3.$ms" "$tiny"
	expect_has "MindSpore layout $ms (float32, transposed, stacked): identical logits" \
		"logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 16/16: pass"
done
run fwd --config "$tiny/config.json" --against "$tiny" "$CKPT_GOLDEN/tiny-v3.convert-mp2"
expect_rc "convert.py's model-parallel shards with --config against the FP8 original: pass" 0
expect_has "... identical logits" "logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 16/16: pass"
