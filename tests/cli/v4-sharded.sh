#!/usr/bin/env bash
# ckpt-hf-to-sharded on DeepSeek-V4 against V4-Flash's official inference/convert.py
# (fixtures/ref/v4/SHA256SUMS, made on the GPU machine by scripts/ref/v4ref.py from
# fixtures/specs/ref-v4.json): the input is made again here with ckpt-synth and must be the
# bytes convert.py was run on; then every rank file at --model-parallel 1, 2, 4 and 8, with
# the experts as FP4 (default) and re-encoded to FP8, must have convert.py's SHA-256; the
# transforms' report (values that lost bits), the refusals (what convert.py asserts on, the
# option on a family without the choice), one rank alone, resume, and the output read back
# by ckpt-verify.
. "$CKPT_ROOT/tests/cli/lib.sh"
ref=$CKPT_ROOT/fixtures/ref/v4
sum_of() { awk -v f="$1" '$2 == f {print $1}' "$ref/SHA256SUMS"; }
sha() { sha256sum "$1" | awk '{print $1}'; }

"$synth" -q "$CKPT_ROOT/fixtures/specs/ref-v4.json" in || { not_ok "the reference input is made" "$(cat err 2>/dev/null)"; exit 1; }

# ---- the input is convert.py's (fixtures/ref/v4/input.sha256: from its report.json) ----
bad=$(cd in && for f in *; do [ "$(sha "$f")" = "$(awk -v f="input/$f" '$2 == f {print $1}' "$ref/input.sha256")" ] || echo "$f"; done)
expect_eq "the generated input is, byte for byte, what convert.py read" "$bad" ""

# ---- byte-identical to convert.py, every rank file ----
for d in fp4 fp8; do
	for m in 1 2 4 8; do
		opt=()
		[ $d = fp8 ] && opt=(--expert-dtype fp8)
		run "$sharded" -q --model-parallel $m "${opt[@]}" in out-$m-$d
		expect_rc "mp $m, $d experts: converts" 0
		bad=
		for ((i = 0; i < m; i++)); do
			f=model$i-mp$m.safetensors
			w=$(sum_of convert_mp${m}_$d/$f)
			[ -n "$w" ] && [ "$(sha out-$m-$d/$f)" = "$w" ] || bad="$bad $f"
		done
		expect_eq "mp $m, $d experts: the $m rank files are convert.py's, byte for byte" "$bad" ""
		expect_same "mp $m, $d experts: tokenizer.json copied" in/tokenizer.json out-$m-$d/tokenizer.json
	done
done
run "$sharded" -q --model-parallel 2 --expert-dtype fp4 in fp4-named
expect_same "--expert-dtype fp4 is the default" out-2-fp4/model1-mp2.safetensors fp4-named/model1-mp2.safetensors

# ---- the report: what the transforms did, the values the re-encode lost ----
run "$sharded" --model-parallel 2 --expert-dtype fp8 -j 1 in r8
expect_rc "fp8, one thread: converts" 0
expect_has "the one-line report counts the values that lost bits" \
	"; 120 FP4 expert weights re-encoded to FP8: 1717392 values lost bits (a group too far below its block's largest scale; convert.py keeps the same bytes); 5 FP8 weights dequantized to BF16 by rank slices"
expect_same "... the bytes do not depend on -j" r8/model0-mp2.safetensors out-2-fp8/model0-mp2.safetensors
run "$sharded" --model-parallel 4 in r4
expect_has "FP4: the experts written as F4" "; 120 FP4 expert weights written as F4; 5 FP8 weights dequantized to BF16 by rank slices"
run "$sharded" --json --model-parallel 8 --expert-dtype fp8 in j8
expect_eq "--json: expert_dtype, experts re-encoded, values lost, every file counted" \
	"$(for k in expert_dtype experts_reencoded values_lost values_lost_counted_in_every_file dequantized_bf16; do "$jsonq" $k <out; done)" \
	"$(printf 'fp8\n120\n1717392\ntrue\n5')"
expect_eq "the record says how the experts were written" "$("$jsonq" expert_dtype <j8/ckpt-sharding.json)" "fp8"

# the re-encode is lossless where the group scales are close (no extreme bytes): a count of 0
python3 - "$CKPT_ROOT/fixtures/specs/ref-v4.json" >calm.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["fp4_extreme_scales"] = False; print(json.dumps(s))
PY
"$synth" -q calm.json calm
run "$sharded" --model-parallel 2 --expert-dtype fp8 calm calm-out
expect_has "without extreme scales no value loses bits" "120 FP4 expert weights re-encoded to FP8: no value lost bits"

# ---- one rank alone, resume ----
run "$sharded" -q --model-parallel 4 --expert-dtype fp8 --rank 2 in rank2
expect_rc "--rank 2 of 4: converts" 0
expect_eq "... it is convert.py's model2-mp4" "$(sha rank2/model2-mp4.safetensors)" "$(sum_of convert_mp4_fp8/model2-mp4.safetensors)"
rm r8/model1-mp2.safetensors
run "$sharded" --model-parallel 2 --expert-dtype fp8 in r8
expect_has "resumed: the count covers only the files written now" "values lost bits (a group too far below its block's largest scale; convert.py keeps the same bytes) in the files written now"
expect_eq "... the rank file written again is convert.py's" "$(sha r8/model1-mp2.safetensors)" "$(sum_of convert_mp2_fp8/model1-mp2.safetensors)"
run "$sharded" --model-parallel 2 in r8
expect_rc "an FP4 conversion does not resume an FP8 one" 2

# ---- refusals ----
run "$sharded" --model-parallel 2 --expert-dtype fp16 in bad1
expect_rc "--expert-dtype fp16: exit 2" 2
expect_err "... one line naming the choices" \
	"ckpt-hf-to-sharded: --expert-dtype: \"fp16\" is not fp4 or fp8 (DeepSeek-V4's inference/convert.py)"
run "$sharded" --model-parallel 1 --expert-dtype fp8 "$tiny" bad2
expect_rc "--expert-dtype on DeepSeek-V3: exit 2" 2
expect_err "... refused in one line: its convert.py has no such choice" \
	"ckpt-hf-to-sharded: DeepSeek-V3: --expert-dtype: DeepSeek-V3's inference/convert.py writes the routed experts as they are stored (it has no choice of expert dtype)"
run "$sharded" --layout mindspore-train --expert-dtype fp8 in bad3
expect_rc "--expert-dtype with --layout mindspore-train: usage, exit 2" 2
[ ! -e bad1 ] && [ ! -e bad2 ] && [ ! -e bad3 ] && ok "nothing written on a refusal" || not_ok "nothing written on a refusal" "$(ls -d bad*)"

# tiny-v4.json: wo_a of 32 rows (convert.py's unflatten into 128-row blocks fails)
"$synth" -q "$CKPT_ROOT/fixtures/specs/tiny-v4.json" tiny4
for m in 1 2; do
	run "$sharded" --model-parallel $m tiny4 t$m
	expect_rc "tiny-v4, mp $m: refused, exit 2" 2
done
expect_err "... naming the tensor and why" \
	"ckpt-hf-to-sharded: tiny4/model-00001-of-00001.safetensors: tensor \"layers.0.attn.wo_a.weight\": rank slices of [16, 64] with 128 x 128 scale blocks are not whole 128 x 128 blocks, which convert.py's dequantization to BF16 needs (it fails on them)"
# experts of 64 rows: FP4 is a plain copy, FP8 needs 128 x 128 blocks (convert.py asserts)
python3 - "$CKPT_ROOT/fixtures/specs/ref-v4.json" >small-experts.json <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["moe_intermediate_size"] = 64; print(json.dumps(s))
PY
"$synth" -q small-experts.json se
run "$sharded" -q --model-parallel 2 se se-fp4
expect_rc "experts of 64 rows, FP4: converts" 0
run "$sharded" --model-parallel 2 --expert-dtype fp8 se se-fp8
expect_rc "experts of 64 rows, FP8: refused, exit 2" 2
expect_err "... naming the first such expert and why" \
	"ckpt-hf-to-sharded: se/model-00001-of-00003.safetensors: tensor \"layers.0.ffn.experts.0.w1.weight\": [64, 256] FP4 codes in 1 x 32 groups are not whole 128 x 128 blocks of 1 x 32 groups, which convert.py's re-encode to FP8 needs (it asserts)"
run "$sharded" --model-parallel 16 in bad16
expect_rc "16 ranks of 8 experts: refused" 2

# ---- the output read back ----
for d in fp4 fp8; do
	run "$verify" out-2-$d
	expect_rc "verify on the mp 2 $d output: passes" 0
	run "$verify" --against in out-2-$d
	expect_rc "verify --against the HF input, mp 2 $d" "$([ $d = fp4 ] && echo 0 || echo 1)"
done
# DeepSeek's convert.py copies no config.json beside the ranks: the names alone say V4
mkdir bare && cp out-2-fp4/model*-mp2.safetensors bare/
run "$verify" bare
expect_rc "ranks without config.json: the structure check passes" 0
expect_has "... every tensor placed by V4's cut" "structure   passed   "
expect_line "... the model check says why it cannot run" "model       skipped  no config.json: nothing says which tensors the model has"
run "$inspect" bare
expect_rc "... and ckpt-inspect reads them" 0
