#!/usr/bin/env bash
# DeepSeek-V3.1 / V3.1-Terminus (quantization_config.scale_fmt "ue8m0"): block scales are
# meant to be powers of two (formats/family_deepseek.c), and V3.1-Terminus' o_proj scales
# are documented not to be.  ckpt-verify --scan counts, per tensor, the scales that are not,
# as information (the check passes, exit 0), in text and JSON; ckpt-inspect --stats shows
# the count on each block-scale row.  Scales stored F32, BF16 or F8_E8M0 (whose only
# non-power is the NaN code 0xFF).  A V3 checkpoint (no scale_fmt) reports nothing of it.
. "$CKPT_ROOT/tests/cli/lib.sh"
stedit=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/st-edit
specs=$CKPT_ROOT/fixtures/specs
o1=model.layers.1.self_attn.o_proj.weight_scale_inv
d0=model.layers.0.mlp.down_proj.weight_scale_inv
why='quantization_config.scale_fmt "ue8m0"'

# shard DIR TENSOR: the shard the index puts TENSOR in
shard() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/model.safetensors.index.json"))["weight_map"][sys.argv[2]])' "$1" "$2"; }
# setv DIR TENSOR I VALUE...: element I := VALUE (st-edit --set), the shard rewritten in place
setv() {
	local dir=$1 t=$2 f
	shift 2
	f=$(shard "$dir" "$t")
	local args=()
	while [ $# -ge 2 ]; do args+=(--set "$t=$1=$2"); shift 2; done
	"$stedit" "$dir/$f" edit.tmp "${args[@]}" && mv edit.tmp "$dir/$f"
}
# py EXPR: EXPR over the JSON in ./out (d)
py() { python3 -c 'import json,sys; d=json.load(open("out")); print(eval(sys.argv[1]))' "$1"; }
# scan_tensor NAME KEY: a member of the scan's entry for tensor NAME (--json)
scan_tensor() { py "[t.get('$2', 'absent') for t in d['report']['checks'][2]['tensors'] if t['name'] == '$1'][0]"; }
# stat_of NAME KEY: a member of inspect --json's stats of tensor NAME
stat_of() { py "[t['stats'].get('$2', 'absent') for t in d['checkpoints'][0]['tensors'] if t['name'] == '$1'][0]"; }

"$synth" -q "$specs/ue8m0.json" v31 >/dev/null 2>synth.err || cat synth.err

# ---- every scale a power of two (as V3.1 ships its F32 scales) ----
run "$verify" --scan v31
expect_rc "ue8m0, all powers of two: exit 0" 0
expect_line "... the scan says so, with the reason" \
	"scan        passed   85 tensors, 1265932 values read (60 FP8 dequantized): no NaN or infinity; 126 block scales of 60 tensors, all powers of two ($why)"
expect_eq "... no note" "$(grep -c '^  note:' out)" 0
run "$verify" --scan --json v31
expect_eq "... JSON: pow2_scales" "$(py "d['report']['checks'][2]['pow2_scales']")" \
	"{'expected_by': 'quantization_config.scale_fmt \"ue8m0\"', 'scales': 126, 'not_pow2': 0, 'tensors_not_pow2': 0}"
expect_eq "... JSON: a weight's scales_not_pow2 is 0" "$(scan_tensor model.layers.1.self_attn.o_proj.weight scales_not_pow2)" 0
expect_eq "... JSON: an unscaled tensor has none" "$(scan_tensor model.norm.weight scales_not_pow2)" absent

# ---- V3.1-Terminus: one o_proj scale not a power of two ----
cp -r v31 term
setv term "$o1" 1 0.003
run "$verify" --scan term
expect_rc "one o_proj scale not a power of two: still exit 0" 0
expect_line "... the scan passes and counts it" \
	"scan        passed   85 tensors, 1265932 values read (60 FP8 dequantized): no NaN or infinity; 1 of 126 block scales not powers of two, in 1 of 60 tensors ($why; information, not a failure)"
expect_line "... one note names the file, the tensor, the block and the value" \
	"  note: term/model-00001-of-00002.safetensors: tensor \"$o1\": 1 of 2 block scales is not a power of two (the first: block [1, 0], 0.00300000003)"
expect_eq "... only that note" "$(grep -c '^  note:' out)" 1
expect_line "... result: passed, no warning" "result: passed"
run "$verify" term
expect_rc "... without --scan (values not read): exit 0" 0
expect_eq "... and no note" "$(grep -c 'note:' out)" 0
run "$verify" --scan --json term
expect_rc "... --json: exit 0" 0
expect_eq "... JSON: passed, no problem, no warning" "$(py "(d['report']['passed'], d['report']['problems'], d['report']['warnings'])")" "(True, 0, 0)"
expect_eq "... JSON: the scan's status" "$(py "d['report']['checks'][2]['status']")" passed
expect_eq "... JSON: pow2_scales counts it" "$(py "d['report']['checks'][2]['pow2_scales']")" \
	"{'expected_by': 'quantization_config.scale_fmt \"ue8m0\"', 'scales': 126, 'not_pow2': 1, 'tensors_not_pow2': 1}"
expect_eq "... JSON: the weight's scales_not_pow2" "$(scan_tensor model.layers.1.self_attn.o_proj.weight scales_not_pow2)" 1
expect_eq "... JSON: another o_proj's is 0" "$(scan_tensor model.layers.0.self_attn.o_proj.weight scales_not_pow2)" 0
run "$inspect" --stats term
expect_rc "inspect --stats: exit 0" 0
expect_eq "... a NOT POW2 column" "$(head -n 40 out | grep -c '^NAME .* INF  NOT POW2  SHARD$')" 1
expect_eq "... 1 on the o_proj scale's row" "$(awk -v n="$o1" '$1 == n {print $(NF-1)}' out)" 1
expect_eq "... 0 on another scale's row" "$(awk -v n="$d0" '$1 == n {print $(NF-1)}' out)" 0
expect_eq "... '-' on a weight's row" "$(awk '$1 == "model.layers.1.self_attn.o_proj.weight" {print $(NF-1)}' out)" -
run "$inspect" --stats --json term
expect_eq "... JSON: stats.not_pow2 of the scale" "$(stat_of "$o1" not_pow2)" 1
expect_eq "... JSON: of another scale" "$(stat_of "$d0" not_pow2)" 0
expect_eq "... JSON: none on a weight" "$(stat_of model.layers.1.self_attn.o_proj.weight not_pow2)" absent
run "$inspect" --stats --raw term
expect_eq "... --raw too" "$(awk -v n="$o1" '$1 == n {print $(NF-1)}' out)" 1
run "$inspect" term
expect_eq "... without --stats: no such column" "$(grep -c 'NOT POW2' out)" 0

# ---- what is and is not a power of two: zero, negative, infinite no; subnormal 2^-149 yes ----
cp -r v31 edge
setv edge "$d0" 0 0 1 -0.0009765625 2 1.40129846e-45 3 inf
run "$inspect" --stats --json edge
expect_eq "0, -2^-10 and inf are not, 2^-149 is: 3 of 4" "$(stat_of "$d0" not_pow2)" 3
run "$verify" --scan edge
expect_line "... the scan notes the first (block [0, 0], 0)" \
	"  note: edge/model-00001-of-00002.safetensors: tensor \"$d0\": 3 of 4 block scales are not powers of two (the first: block [0, 0], 0)"

# ---- BF16 scales (ue8m0 given): a scale rounded to BF16, 0.75 ----
"$synth" -q --set scale_dtype='"BF16"' "$specs/ue8m0.json" bf16s >/dev/null 2>synth.err || cat synth.err
setv bf16s "$o1" 0 0.75
run "$verify" --scan bf16s
expect_rc "BF16 scales: exit 0" 0
expect_line "... counted" \
	"  note: bf16s/model-00001-of-00002.safetensors: tensor \"$o1\": 1 of 2 block scales is not a power of two (the first: block [0, 0], 0.75)"
run "$inspect" --stats bf16s
expect_eq "... inspect --stats" "$(awk -v n="$o1" '$1 == n {print $(NF-1)}' out)" 1

# ---- F8_E8M0 scales: powers of two by construction, but for the NaN code 0xFF ----
"$synth" -q "$specs/scales-e8m0.json" e8m0 >/dev/null 2>synth.err || cat synth.err
run "$verify" --scan e8m0
expect_rc "E8M0 scales: exit 0" 0
expect_has "... all powers of two" "all powers of two ($why)"
f=$(shard e8m0 "$o1")
python3 - "e8m0/$f" "$o1" <<'P'
import json, struct, sys
path, name = sys.argv[1], sys.argv[2]
b = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
begin = json.loads(b[8:8 + n])[name]["data_offsets"][0]
b[8 + n + begin] = 0xFF
open(path, "wb").write(b)
P
run "$verify" --scan e8m0
expect_rc "... a NaN scale code: the scan fails (NaN weights), exit 1" 1
expect_line "... and notes the scale" \
	"  note: e8m0/model-00001-of-00002.safetensors: tensor \"$o1\": 1 of 2 block scales is not a power of two (the first: block [0, 0], nan)"

# ---- DeepSeek-V3.2 (ue8m0 too) ----
"$synth" -q --set scale_fmt=null "$specs/tiny-v32.json" v32 >/dev/null 2>synth.err || cat synth.err
cp -r v32 v32u
python3 - v32u/config.json <<'P'
import json, sys
c = json.load(open(sys.argv[1]))
c["quantization_config"]["scale_fmt"] = "ue8m0"
json.dump(c, open(sys.argv[1], "w"), indent=2)
P
run "$verify" --scan v32u
expect_rc "V3.2 with ue8m0 (scales of refgen, not powers of two): exit 0" 0
expect_has "... counted for the V3.2 family too" "block scales not powers of two, in 112 of 112 tensors ($why; information, not a failure)"

# ---- DeepSeek-V3 (no scale_fmt): nothing of the kind ----
run "$verify" --scan "$tiny"
expect_rc "V3: exit 0" 0
expect_eq "... no word of block scales" "$(grep -c 'block scales\|note:' out)" 0
run "$verify" --scan --json "$tiny"
expect_eq "... JSON: no pow2_scales" "$(py "'pow2_scales' in d['report']['checks'][2]")" False
expect_eq "... JSON: no scales_not_pow2 anywhere" "$(grep -c scales_not_pow2 out)" 0
run "$inspect" --stats "$tiny"
expect_eq "... inspect --stats: no NOT POW2 column" "$(grep -c 'NOT POW2' out)" 0
run "$inspect" --stats --json "$tiny"
expect_eq "... inspect --json: no not_pow2" "$(grep -c not_pow2 out)" 0
exit 0
