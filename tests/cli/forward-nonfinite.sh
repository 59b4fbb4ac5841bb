#!/usr/bin/env bash
# ckpt-verify --forward over NaN and infinity: a run whose hidden states or logits hold a
# non-finite value fails the check (exit 1), naming where they first appear (the
# embedding of a token, a layer and its step, the final norm, an MTP layer); --against,
# --layers and --reference never call non-finite values "difference 0, cosine 1", on
# either side; --json says the same.  Made from fixtures/tiny-v3 (FP8) and its BF16
# conversion with one value changed by st-edit.
. "$CKPT_ROOT/tests/cli/lib.sh"
tool=$CKPT_BIN/ckpt-verify
edit=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/st-edit
fwd() { "$tool" --forward "$@"; }
S1=model-00001-of-00003.safetensors S2=model-00002-of-00003.safetensors S3=model-00003-of-00003.safetensors

# variant NAME FROM SHARD EDIT...: a copy of checkpoint FROM with SHARD edited
variant() {
	local name=$1 from=$2 shard=$3
	shift 3
	cp -r "$from" "$name"
	"$edit" "$from/$shard" "$name/$shard" "$@" || echo "st-edit failed for $name" >&2
}
# the forward check's problem lines (two spaces in, then the message)
expect_problems() { # NAME LINE...
	local name=$1 want got
	shift
	want=$(printf '%s\n' "$@")
	got=$(sed -n '/^forward /,/^result:/p' out | grep -v '^forward \|^result:' | head -n $#)
	if [ "$got" = "$want" ]; then ok "$name"; else not_ok "$name" "got:" "$got" "wanted:" "$want"; fi
}

variant norm "$tiny" "$S3" --set model.norm.weight=3=nan
variant expert "$tiny" "$S1" --set model.layers.1.mlp.experts.0.up_proj.weight=7=nan
variant unrouted "$tiny" "$S1" --set model.layers.1.mlp.experts.3.up_proj.weight=7=nan
variant embed "$tiny" "$S1" --set model.embed_tokens.weight=517=inf
variant attn "$tiny" "$S1" --set model.layers.0.self_attn.kv_a_layernorm.weight=3=nan
variant innorm "$tiny" "$S2" --set model.layers.2.input_layernorm.weight=0=-inf
variant mtp "$tiny" "$S2" --set model.layers.3.enorm.weight=0=nan

# ---- a plain run ----
run fwd --tokens 1,2,3 norm
expect_rc "NaN in model.norm.weight: exit 1" 1
expect_problems "... named: the final norm" "  non-finite values first appear in the final norm"
expect_line "... the top-5 lines say every logit is NaN" "       0        1  (every logit is NaN)"
expect_line "... result" "result: FAILED, 1 problem in 1 check"
run fwd --tokens 1,2,3 expert
expect_rc "NaN in a routed expert of layer 1 (FP8): exit 1" 1
expect_problems "... named: the expert's output in layer 1" "  non-finite values first appear in layer 1 (routed expert 0 output)"
run fwd --tokens 1,2,3 unrouted
expect_rc "NaN in an expert no token is routed to: the pass is finite, exit 0 (--scan finds it)" 0
run fwd --tokens 1,2,3 embed
expect_rc "inf in the embedding row of a token used: exit 1" 1
expect_problems "... named: the embedding of that token" "  non-finite values first appear in the embedding of token 2"
run fwd --tokens 1,3,4 embed
expect_rc "... the same checkpoint on tokens that do not use the row: exit 0" 0
run fwd --tokens 5,6 attn
expect_problems "NaN in layer 0's kv_a_layernorm: the attention output of layer 0" \
	"  non-finite values first appear in layer 0 (attention output)"
run fwd --tokens 5,6 innorm
expect_problems "-inf in layer 2's input_layernorm: layer 2's input norm" \
	"  non-finite values first appear in layer 2 (input norm)"
run fwd --positions 4 innorm
expect_rc "... with the default tokens too: exit 1" 1

# ---- BF16 (ckpt-fp8-to-bf16's conversion), infinity in a projection ----
run "$CKPT_BIN/ckpt-fp8-to-bf16" -q "$tiny" bf16
expect_rc "ckpt-fp8-to-bf16 converts tiny-v3" 0
variant bf16inf bf16 "$S2" --set model.layers.2.self_attn.o_proj.weight=11=inf
run fwd --tokens 1,2,3 bf16inf
expect_rc "BF16: inf in layer 2's o_proj: exit 1" 1
expect_problems "... named: layer 2's attention output" "  non-finite values first appear in layer 2 (attention output)"

# ---- --mtp: the MTP layer is checked too ----
run fwd --tokens 1,2,3 mtp
expect_rc "NaN in the MTP layer's enorm, without --mtp: not run, exit 0" 0
run fwd --tokens 1,2,3 --mtp mtp
expect_rc "... with --mtp: exit 1" 1
expect_problems "... named: MTP layer 3" "  non-finite values first appear in layer 3 (MTP enorm and hnorm)"

# ---- --json ----
run fwd --json --tokens 1,2,3 expert
cp out expert.json
check "json: valid (strict reader)" "$jsonq" <expert.json
expect_eq "json: the forward check failed" "$("$jsonq" report.checks.2.status <expert.json)" failed
expect_eq "json: the problem names the layer" "$("$jsonq" report.checks.2.problems.0.message <expert.json)" \
	"non-finite values first appear in layer 1 (routed expert 0 output)"
expect_eq "json: nonfinite member" "$("$jsonq" report.checks.2.nonfinite <expert.json)" "layer 1 (routed expert 0 output)"
expect_eq "json: passed false" "$("$jsonq" report.passed <expert.json)" false
run fwd --json --tokens 1,2,3 "$tiny"
expect_eq "json: a finite run: nonfinite null" "$("$jsonq" report.checks.2.nonfinite <out)" null

# ---- --against: never "difference 0, cosine 1" over NaN ----
run fwd --tokens 1,2,3 --against norm norm
expect_rc "against: both sides NaN: exit 1" 1
check "... no difference-0 line" eval '! grep -q "max abs difference 0" out'
expect_line "... the comparison line" "  logits: non-finite values, 1536 and 1536 (first in row 0): FAIL"
expect_problems "... both sides named, then the comparison" \
	"  norm: non-finite values first appear in the final norm" \
	"  norm: non-finite values first appear in the final norm" \
	"  logits: not compared: 1536 non-finite values in norm, 1536 in norm (first in row 0)"
expect_line "... summary" "forward     FAILED   1 x 3 tokens through both, against norm: logits not compared, non-finite values (1536 and 1536)"
run fwd --tokens 1,2,3 --against "$tiny" expert
expect_rc "against: NaN in the checked side only: exit 1" 1
expect_problems "... named" "  expert: non-finite values first appear in layer 1 (routed expert 0 output)" \
	"  logits: not compared: 1536 non-finite values in expert, 0 in $tiny (first in row 0)"
run fwd --tokens 1,2,3 --against embed "$tiny"
expect_rc "against: inf in the other side only: exit 1" 1
expect_problems "... named" "  embed: non-finite values first appear in the embedding of token 2" \
	"  logits: not compared: 0 non-finite values in $tiny, 1024 in embed (first in row 1)"
run fwd --json --tokens 1,2,3 --against norm norm
cp out ag.json
expect_eq "against json: max_abs null" "$("$jsonq" report.checks.2.comparisons.0.max_abs <ag.json)" null
expect_eq "against json: cosine null" "$("$jsonq" report.checks.2.comparisons.0.cosine <ag.json)" null
expect_eq "against json: counts" "$("$jsonq" report.checks.2.comparisons.0.nonfinite <ag.json)" "[1536,1536]"
expect_eq "against json: pass false" "$("$jsonq" report.checks.2.comparisons.0.pass <ag.json)" false
expect_eq "against json: where, per side" "$("$jsonq" report.checks.2.nonfinite.1 <ag.json)" "the final norm"
run fwd --tokens 1,2,3 --mtp --against "$tiny" mtp
expect_rc "against --mtp: NaN only in the MTP layer: exit 1" 1
expect_line "... the logits still compared" "  logits: max abs difference 0 (row 0), cosine 1.0000000, top-1 agreement 3/3: pass"
expect_line "... the MTP logits not" "  MTP depth 1 logits: non-finite values, 1024 and 0 (first in row 0): FAIL"

# ---- --layers ----
run fwd --layers 0-3 attn
expect_rc "layers: NaN in layer 0, alone: exit 1" 1
expect_problems "... named" "  non-finite values first appear in layer 0 (attention output)"
expect_line "... the layer's line" "  layer 0: non-finite values from layer 0 (attention output), 0 routed expert runs, $(sed -n 's/^  layer 0: .* expert runs, \([0-9.]* s\)$/\1/p' out)"
run fwd --layers 1-3 attn
expect_rc "layers: the NaN layer not listed: exit 0" 0
run fwd --layers 0,1 --against "$tiny" attn
expect_rc "layers against a finite checkpoint: exit 1" 1
expect_problems "... named" "  attn: non-finite values first appear in layer 0 (attention output)" \
	"  layer 0: not compared: 4096 non-finite values in attn, 0 in $tiny (first in row 0)"
check "... layer 1 still compared and equal" grep -q "^  layer 1: output rms .*; max abs difference 0, cosine 1.0000000: pass$" out
run fwd --layers 2 --against innorm innorm
expect_rc "layers: both sides -inf: exit 1, never difference 0" 1
check "... no difference-0 line" eval '! grep -q "max abs difference 0" out'
run fwd --json --layers 0 --against "$tiny" attn
expect_eq "layers json: nonfinite per side" "$("$jsonq" report.checks.2.layers.0.nonfinite <out)" '["layer 0 (attention output)",null]'
expect_eq "layers json: max_abs null" "$("$jsonq" report.checks.2.layers.0.max_abs <out)" null

# ---- --reference ----
partial=$CKPT_ROOT/fixtures/ref/partial
variant pnorm "$partial/input" model-00002-of-00002.safetensors --set model.norm.weight=0=nan
run fwd --reference "$partial/forward/hf_logits.safetensors" pnorm
expect_rc "reference: NaN in the final norm: exit 1" 1
expect_problems "... named, then the comparisons that could not be made" \
	"  non-finite values first appear in the final norm" \
	"  logits: not compared: 14400 non-finite values in the run, 0 in the reference (first in row 0)" \
	"  hidden.3: not compared: 48 non-finite values in the run, 0 in the reference (first in row 0)"
expect_line "... the hidden states before it still pass" "  hidden.2: max abs difference 5.54e-06 (row 9): pass"
# a reference file that holds NaN itself
"$edit" "$partial/forward/hf_logits.safetensors" refnan.safetensors --set hidden.1=5=nan
run fwd --reference refnan.safetensors "$partial/input"
expect_rc "reference: NaN in the reference file: exit 1" 1
expect_problems "... the comparison says so" \
	"  hidden.1: not compared: 0 non-finite values in the run, 1 in the reference (first in row 0)"
exit 0
