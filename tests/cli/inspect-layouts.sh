#!/usr/bin/env bash
# ckpt-inspect on layouts other than HF, through their views: a model-parallel directory
# (ckpt-hf-to-sharded --model-parallel 2 of the FP8 tiny checkpoint, 4 of its BF16 form)
# and MindSpore training and inference directories list the tensors of the HF checkpoint
# they came from under the same names, with the same shapes, parameters and statistics
# (--stats, --stats --raw), in JSON and in the text table, the summary counting them; and
# an HF checkpoint whose block scales do not fit its config is shown with its problems.
. "$CKPT_ROOT/tests/cli/lib.sh"
tool=$CKPT_BIN/ckpt-inspect

# entries OUT JSON [values]: one line per tensor of the document, its JSON object less
# where it is stored (an HF shard and offsets, or pieces and copies); with "values", also
# less its dtype and bytes (a layout that widens BF16 norms to F32 keeps their values).
entries() {
	local strip='s/"shard":"[^"]*","data_offsets":\[[0-9]+,[0-9]+\],//; s/"pieces":\[.*\],"copies":\[[^]]*\],//; s/"scaled":(true|false),//'
	[ "${3:-}" = values ] && strip="$strip; s/\"dtype\":\"[^\"]*\",//; s/\"bytes\":[0-9]+,//"
	# (the array printed compactly, one object a line: each begins with its name)
	"$jsonq" checkpoints.0.tensors <"$2" | sed -E 's/^\[//; s/\]$//; s/\},\{"name":/}\n{"name":/g' |
		sed -E "$strip" >"$1"
}

# same_as_hf WHAT OTHER HF: every entry of OTHER is an entry of HF, byte for byte; prints
# HF's entries that OTHER lacks into WHAT.missing
same_as_hf() {
	local extra
	extra=$(comm -23 <(sort "$2") <(sort "$3") | head -n 3)
	if [ -z "$extra" ] && [ -s "$2" ]; then ok "$1: every tensor as in the HF checkpoint ($(wc -l <"$2") tensors)"; else
		not_ok "$1: every tensor as in the HF checkpoint" "differs or missing from HF:" "$extra"; fi
	comm -13 <(sort "$2") <(sort "$3") | sed -E 's/^\{"name":"([^"]*)".*/\1/' >"$1.missing"
}

"$CKPT_BIN/ckpt-hf-to-sharded" -q --model-parallel 2 "$tiny" mp2 2>err
check "model-parallel 2 of the FP8 checkpoint written" test -s mp2/model1-mp2.safetensors
"$CKPT_BIN/ckpt-fp8-to-bf16" -q "$tiny" bf16 2>err
"$CKPT_BIN/ckpt-hf-to-sharded" -q --model-parallel 4 bf16 mp4 2>err
check "model-parallel 4 of its BF16 form written" test -s mp4/model3-mp4.safetensors
"$CKPT_BIN/ckpt-hf-to-sharded" -q --layout mindspore-train bf16 mstrain 2>err
"$CKPT_BIN/ckpt-hf-to-sharded" -q --layout mindspore-train --dtype fp32 bf16 mstrain32 2>err
"$CKPT_BIN/ckpt-train-to-infer" -q mstrain msinfer 2>err
"$CKPT_BIN/ckpt-train-to-infer" -q --transpose-experts mstrain msinfert 2>err
check "MindSpore training (bf16, fp32) and inference layouts (experts as stored, transposed) written" \
	test -s mstrain/param_name_map.json -a -s mstrain32/param_name_map.json -a -s msinfer/general.safetensors \
	-a -s msinfert/general.safetensors

# ---- the model-parallel directory, FP8 with its scales cut along ----
for raw in "" --raw; do
	what="mp2 --stats${raw:+ $raw}"
	run "$tool" --json --stats $raw "$tiny"
	cp out hf.json
	run "$tool" --json --stats $raw mp2
	expect_rc "$what --json: exit 0" 0
	cp out mp2.json
	entries hf.ent hf.json
	entries mp2.ent mp2.json
	same_as_hf "$what" mp2.ent hf.ent
	expect_eq "$what: what it lacks is the MTP layer, which the layout leaves out" \
		"$(grep -cv '^model\.layers\.3\.' "$what.missing") $(wc -l <"$what.missing")" "0 76"
done
expect_eq "mp2 --json: the weights dequantized, their scales stored" \
	"$("$jsonq" checkpoints.0.tensors.3.name <mp2.json) $(grep -c '"values":"scaled"' hf.json)" \
	"model.layers.0.mlp.down_proj.weight 0"
run "$tool" --json --stats mp2
cp out mp2.json
expect_eq "mp2 --json: a weight cut in two, dequantized" \
	"$("$jsonq" checkpoints.0.tensors.3.name <mp2.json) $("$jsonq" checkpoints.0.tensors.3.stats.values <mp2.json) $("$jsonq" checkpoints.0.tensors.3.pieces.# <mp2.json)" \
	"model.layers.0.mlp.down_proj.weight scaled 2"
expect_eq "mp2 --json: its block scale, cut the same way, a tensor of its own" \
	"$("$jsonq" checkpoints.0.tensors.4.name <mp2.json) $("$jsonq" checkpoints.0.tensors.4.stats.values <mp2.json) $("$jsonq" checkpoints.0.tensors.4.shape <mp2.json) $("$jsonq" checkpoints.0.tensors.4.pieces.1 <mp2.json)" \
	'model.layers.0.mlp.down_proj.weight_scale_inv stored [2,4] {"file":"model1-mp2.safetensors","tensor":"layers.0.ffn.w2.scale","rows":[0,2],"cols":[2,4],"scale":null}'
hf_params=$(grep -v '"name":"model\.layers\.3\.' hf.ent | sed -E 's/.*"parameters":([0-9]+).*/\1/' | awk '{s += $1} END {print s}')
hf_bytes=$(grep -v '"name":"model\.layers\.3\.' hf.ent | sed -E 's/.*"bytes":([0-9]+).*/\1/' | awk '{s += $1} END {print s}')
expect_eq "mp2 --json: the summary counts those tensors" \
	"$("$jsonq" checkpoints.0.tensor_count <mp2.json) $("$jsonq" checkpoints.0.parameters <mp2.json) $("$jsonq" checkpoints.0.tensor_bytes <mp2.json)" \
	"163 $hf_params $hf_bytes"
expect_eq "mp2 --json: dtypes and FP8 weights" \
	"$("$jsonq" checkpoints.0.dtypes <mp2.json) $("$jsonq" checkpoints.0.fp8_weights <mp2.json)" \
	'[{"dtype":"F8_E4M3","tensors":72,"parameters":4915200,"bytes":4915200},{"dtype":"BF16","tensors":17,"parameters":268992,"bytes":537984},{"dtype":"F32","tensors":74,"parameters":328,"bytes":1312}] {"with_scales":72,"without_scales":0,"unscaled":[]}'
expect_eq "mp2 --json: the files, the copies, no problems" \
	"$("$jsonq" checkpoints.0.files.1 <mp2.json) $("$jsonq" checkpoints.0.copy_bytes <mp2.json) $("$jsonq" checkpoints.0.problems <mp2.json)" \
	'{"name":"model1-mp2.safetensors","bytes":2892416,"tensors":115} 308768 []'

# the text: the same numbers, and how each tensor is put together
row() { awk -v n="$1" '$1 == n {print $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13}' "$2"; }
run "$tool" --stats "$tiny"
cp out hf.txt
run "$tool" --stats mp2
expect_rc "mp2 --stats: exit 0" 0
cp out mp2.txt
for t in model.layers.0.mlp.down_proj.weight model.layers.0.self_attn.o_proj.weight model.embed_tokens.weight \
	model.layers.2.mlp.experts.5.up_proj.weight model.layers.0.self_attn.o_proj.weight_scale_inv; do
	expect_eq "mp2 --stats: $t as in the HF checkpoint" "$(row $t mp2.txt)" "$(row $t hf.txt)"
done
expect_eq "mp2 --stats: the dequantized weight's numbers" "$(row model.layers.0.mlp.down_proj.weight mp2.txt)" \
	"F8_E4M3 [256, 512] 131072 scaled -0.84315 0.191791 -0.000191282 0.0441751 0.84315 0 0"
check "mp2 --stats: where each is stored, after the statistics" \
	grep -qE '^model\.layers\.0\.self_attn\.o_proj\.weight +F8_E4M3 +\[256, 256\] +65536 +scaled( +[^ ]+){7} +2 column blocks +model0-mp2\.safetensors, model1-mp2\.safetensors$' mp2.txt
expect_line "mp2: the table's header" \
	"NAME                                                          DTYPE    SHAPE        BYTES  VALUES          MIN          MAX          MEAN          STD       ABSMAX  NAN  INF  STORED AS        FILES"
expect_eq "mp2: the summary's dtypes are the HF tensors' less the MTP layer" \
	"$(sed -n '/^dtypes/,/^FP8/p' mp2.txt | sed -n 2,4p | awk '{print $1, $2, $3, $4}' | tr '\n' ' ')" \
	"F8_E4M3 72 4915200 4915200 BF16 17 268992 537984 F32 74 328 1312 "
run "$tool" --match 'model.layers.0.self_attn.o_proj.*' --stats --raw mp2
expect_line "mp2 --match: counted among its tensors" "2 of 163 tensors match"
expect_eq "mp2 --match --raw: the stored codes, as in HF" "$(row model.layers.0.self_attn.o_proj.weight out | cut -d' ' -f5)" stored
run "$tool" --stats -j 1 mp2
expect_same "mp2 --stats: -j 1 and the default give the same output" out mp2.txt

# ---- model-parallel 4 of the BF16 checkpoint (cuts along dim 1 gathered) ----
run "$tool" --json --stats bf16
cp out bf16.json
run "$tool" --json --stats mp4
expect_rc "mp4 --stats --json: exit 0" 0
cp out mp4.json
entries bf16.ent bf16.json
entries mp4.ent mp4.json
same_as_hf "mp4 of BF16" mp4.ent bf16.ent
expect_eq "mp4 of BF16: what it lacks is the MTP layer" "$(grep -cv '^model\.layers\.3\.' "mp4 of BF16.missing")" 0
run "$tool" --json --match model.layers.0.self_attn.o_proj.weight mp4
expect_eq "mp4 of BF16: o_proj from four column blocks" \
	"$("$jsonq" checkpoints.0.tensors.0.pieces.# <out) $("$jsonq" checkpoints.0.tensors.0.pieces.3.cols <out)" "4 [192,256]"

# ---- MindSpore: training (BF16 and FP32) and inference ----
entries bf16.val bf16.json values
for d in mstrain mstrain32 msinfer msinfert; do
	run "$tool" --json --stats $d
	expect_rc "$d --stats --json: exit 0" 0
	cp out $d.json
	entries $d.val $d.json values
	same_as_hf "$d: values" $d.val bf16.val
	expect_eq "$d: what it lacks is what MindSpore never stores (the MTP layer's embedding and head)" \
		"$(tr '\n' ' ' <"$d: values.missing")" \
		"model.layers.3.embed_tokens.weight model.layers.3.shared_head.head.weight model.layers.3.shared_head.norm.weight "
done
expect_eq "mstrain: its own dtypes (norms F32)" \
	"$("$jsonq" checkpoints.0.layout <mstrain.json) $("$jsonq" checkpoints.0.dtypes <mstrain.json)" \
	'mindspore-train [{"dtype":"BF16","tensors":107,"parameters":7405568,"bytes":14811136},{"dtype":"F32","tensors":25,"parameters":10264,"bytes":41056}]'
run "$tool" --stats msinfer
cp out msinfer.txt
run "$tool" --stats bf16
cp out bf16.txt
for t in model.layers.0.self_attn.kv_a_proj_with_mqa.weight model.layers.0.self_attn.q_b_proj.weight \
	model.layers.1.mlp.experts.3.down_proj.weight; do
	expect_eq "msinfer --stats: $t (put together from MindSpore's parts) as in HF" \
		"$(row $t msinfer.txt | cut -d' ' -f4-)" "$(row $t bf16.txt | cut -d' ' -f4-)"
done
run "$tool" msinfert
expect_eq "msinfert: every expert read transposed out of its layer's stack" \
	"$(grep -c '^model\.layers\.[1-3]\.mlp\.experts\.[0-7]\.[a-z_]*\.weight .* part of one, transposed ' out)" 72
check "msinfer: the rope rows put back in HF order" \
	grep -qE '^model\.layers\.0\.self_attn\.kv_a_proj_with_mqa\.weight .* 2 row blocks, rows reordered +layer_0\.safetensors$' msinfer.txt

# ---- an HF checkpoint whose block scales do not fit its config ----
mkdir b64
for f in "$tiny"/*.safetensors "$tiny"/model.safetensors.index.json; do ln "$f" b64/ 2>/dev/null || cp "$f" b64/; done
printf '{"quantization_config": {"weight_block_size": [64, 64]}}' >b64/config.json
run "$tool" b64
expect_rc "scales that do not fit: shown (exit 0)" 0
expect_line "scales that do not fit: the first problem named in the summary" \
	'problems      b64/model-00001-of-00003.safetensors: "model.layers.0.mlp.down_proj.weight": scale has shape [2, 4], expected [4, 8] for blocks of 64x64'
expect_has "scales that do not fit: the weights counted without" "FP8 weights   0 with scales, 104 without"
expect_line "scales that do not fit: the scale listed as a tensor" \
	"model.layers.0.mlp.down_proj.weight_scale_inv                 F32      [2, 4]          32  model-00001-of-00003.safetensors"
run "$tool" --json b64
expect_eq "scales that do not fit --json: the problems" "$("$jsonq" checkpoints.0.problems.# <out)" 104
run "$tool" --stats b64
expect_rc "scales that do not fit --stats: refused (exit 2)" 2
expect_err "scales that do not fit --stats: the message names the shard" \
	'ckpt-inspect: b64/model-00001-of-00003.safetensors: "model.layers.0.mlp.down_proj.weight": scale has shape [2, 4], expected [4, 8] for blocks of 64x64'
check "scales that do not fit --stats: nothing on stdout" test ! -s out
