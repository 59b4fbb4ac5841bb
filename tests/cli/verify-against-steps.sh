#!/usr/bin/env bash
# ckpt-verify --against, a block-quantized checkpoint against a float one (issue 17, section
# 2): each value judged by the quantization step that made it (lib/check/compare.h), its
# largest error per tensor in half-steps in the -v table and --json; other pairs as before.
. "$CKPT_ROOT/tests/cli/lib.sh"
q=$CKPT_BIN/ckpt-bf16-to-fp8
edit=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/st-edit
S1=model-00001-of-00003.safetensors
W=model.layers.0.mlp.down_proj.weight
# per tensor of the against check: "name judged_by max_error_half_steps max_rel_error"
rows() {
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
a = [c for c in d["report"]["checks"] if c["name"] == "against"][0]
for t in a["tensors"]:
    print(t["name"], t["dtype"], t["other_dtype"], t["judged_by"], t["max_error_half_steps"], t["max_rel_error"])' "$1"
}
# FILE TENSOR ELEMENT BIT: flip one bit of a 1-byte element in place
flip_elem() {
	local off b
	off=$(python3 -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n))
print(8 + n + h[sys.argv[2]]["data_offsets"][0] + int(sys.argv[3]))' "$1" "$2" "$3")
	b=$(od -A n -t u1 -j "$off" -N 1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ (1 << $4))))" | dd of="$1" bs=1 seek="$off" conv=notrunc status=none
}

"$fp8" -q "$tiny" bf || not_ok "setup: the BF16 tiny-v3"
"$q" -q --select model bf f32 || not_ok "setup: F32 scales"
"$q" -q --select model --scale-fmt ue8m0 bf ue || not_ok "setup: ue8m0 scales"
# a BF16 checkpoint that never was FP8 (partial blocks too), one block of it with a large
# value and a small one that quantizes to zero (relative error 1, beyond --atol and --rtol)
"$synth" -q "$CKPT_ROOT/fixtures/specs/bf16.json" s0 || not_ok "setup: bf16.json"
cp -r s0 src
"$edit" s0/model-00001-of-00002.safetensors src/model-00001-of-00002.safetensors \
	--set $W=6=100 --set $W=5=0.0001 || not_ok "setup: st-edit"

# ---- a correct quantization passes: at most one half-step everywhere ----
for s in f32 ue8m0; do
	opt=()
	[ $s = ue8m0 ] && opt=(--scale-fmt ue8m0)
	"$q" -q --select model "${opt[@]}" src q$s || not_ok "setup: $s"
	run "$verify" --json --against src q$s
	expect_rc "$s scales: BF16 -> FP8 against its source: exit 0" 0
	rows out >rows.$s
	expect_eq "$s: the 60 FP8 weights judged by steps, the 25 others by the tolerance" \
		"$(awk '$4 == "steps" && $2 == "F8_E4M3" && $3 == "BF16"' rows.$s | wc -l) $(awk '$4 == "tolerance" && $5 == "None"' rows.$s | wc -l)" \
		"60 25"
	check "$s: every FP8 weight within one half-step, some near it" eval \
		"awk '\$4 == \"steps\" { if (\$5 > 1.0) bad = 1; if (\$5 > m) m = \$5 } END { exit bad || m < 0.9 }' rows.$s"
	expect_eq "$s: the value quantized to zero (relative error 1) is right" \
		"$(awk -v w=$W '$1 == w {print $4, $6}' rows.$s)" "steps 1.0"
	run "$verify" --against src q$s --rtol 0 --atol 0
	expect_rc "$s: --rtol 0 --atol 0: quantized values still judged by their steps" 0
done
run "$verify" -v --against bf f32
check "-v: the table has MAX_STEPS" grep -qE '^  NAME +DTYPE +OTHER +AS +IDENTICAL +VALUES +MISMATCHES +MAX_ABS +MAX_REL +MAX_STEPS$' out
check "-v: an FP8 weight's row: no mismatch, its half-steps" \
	grep -qE "^  $W +F8_E4M3 +BF16 +BF16 +no +131072 +0 +[0-9.e-]+ +[0-9.e-]+ +0\.[0-9]+$" out
check "-v: a BF16 tensor's row: '-'" grep -qE '^  model.norm.weight +BF16 +BF16 +BF16 +yes +256 +0 +0 +0 +-$' out
run "$verify" --against bf f32 --exact
expect_rc "--exact stays exact: bit-identity fails" 1

# ---- the other direction, and fp8-to-bf16's output against its FP8 source ----
run "$verify" --json --against bf f32
rows out >rows.bf
run "$verify" --json --against f32 bf
expect_rc "the BF16 source against its quantization: exit 0" 0
expect_eq "... the same half-steps either way" "$(rows out | awk '{print $1, $5}')" "$(awk '{print $1, $5}' rows.bf)"
run "$verify" --json --against "$tiny" bf
expect_rc "fp8-to-bf16's output against its FP8 source: exit 0" 0
expect_eq "... 0 half-steps for every FP8 weight" \
	"$(rows out | awk '$4 == "steps" { n++; if ($5 == 0) z++ } END { print n, z }')" "104 104"
run "$verify" --against "$tiny" bf
expect_line "... the summary as before" \
	"against     passed   135 tensors compared with $tiny (layout hf, tolerance): 135 bit-identical, 0 within tolerance"

# ---- other pairs as before: FP8 against FP8, float against float ----
run "$verify" -v --json --against "$tiny" f32
expect_eq "FP8 against FP8: judged by the tolerance, no half-steps" \
	"$(rows out | awk '$4 == "steps" || $5 != "None"' | wc -l)" 0
run "$verify" -v --against "$tiny" f32
check "... no MAX_STEPS column" grep -qE '^  NAME +DTYPE +OTHER +AS +IDENTICAL +VALUES +MISMATCHES +MAX_ABS +MAX_REL$' out

# ---- a wrong code: named with its element ----
cp -r f32 bad
flip_elem bad/$S1 $W 1000 1
run "$verify" --against bf bad
expect_rc "one code two steps off: exit 1" 1
check "... the tensor and the element named" grep -qE \
	"^  bad/$S1: tensor \"$W\": 1 of 131072 values not what rounding to the nearest code gives \(first at 1000, row 1 column 488: [-0-9.e]+ against [-0-9.e]+, [2-4](\.[0-9]+)? half-steps; max [2-4](\.[0-9]+)? half-steps\)$" out
check "... the summary counts it" grep -qE "^against +FAILED +135 tensors compared with bf \(layout hf, tolerance\): [0-9]+ bit-identical, 103 within tolerance, 1 beyond tolerance" out
cp -r ue bad2
flip_elem bad2/$S1 $W 70 0
flip_elem bad2/$S1 $W 65535 0
run "$verify" --against bf bad2
expect_rc "ue8m0: two codes one step off: exit 1" 1
check "... both counted, the first named" grep -qE "\"$W\": 2 of 131072 values not what rounding to the nearest code gives \(first at 70, row 0 column 70: " out

# ---- a wrong scale: a block's values judged against what it makes of them ----
cp -r f32 bad3
"$edit" f32/$S1 bad3/$S1 --set "${W}_scale_inv=0=0.0001" || not_ok "setup: st-edit"
run "$verify" --against bf bad3
expect_rc "a block scale far too small: exit 1" 1
check "... the block's first value named" grep -qE "^  bad3/$S1: tensor \"$W\": [0-9]+ of 131072 values not what rounding to the nearest code gives \(first at 0, row 0 column 0: " out

# ---- FP4 (DeepSeek-V4's experts, 1x32 E8M0 groups) and FP8 of V4 ----
"$synth" -q "$CKPT_ROOT/fixtures/specs/tiny-v4.json" v4 || not_ok "setup: tiny-v4.json"
"$fp8" -q v4 v4b || not_ok "setup: V4 dequantized"
run "$verify" --json --against v4 v4b
expect_rc "V4: fp8-to-bf16's output against its FP4 and FP8 source: exit 0" 0
expect_eq "... 60 FP4 and 44 FP8 weights judged by steps, each 0 half-steps" \
	"$(rows out | awk '$4 == "steps" && $5 == 0 { n[$3]++ } END { print n["I8"], n["F8_E4M3"] }')" "60 44"
S4=model-00001-of-00001.safetensors
W4=layers.0.ffn.experts.0.w1.weight
cp -r v4b v4x
"$edit" v4b/$S4 v4x/$S4 --set "$W4=70=1e30" || not_ok "setup: st-edit"
run "$verify" --against v4 v4x
expect_rc "V4: one FP4 expert's value far off: exit 1" 1
check "... the tensor and the element named" grep -qE \
	"^  v4x/$S4: tensor \"$W4\": 1 of 4096 values not what rounding to the nearest code gives \(first at 70, row 1 column 6: 1\.00026e\+30 against [-0-9.e+]+, ([0-9.e+]+|inf) half-steps; max ([0-9.e+]+|inf) half-steps\)$" out
