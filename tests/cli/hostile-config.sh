#!/usr/bin/env bash
# Hostile config.json values and checkpoints that lack what config.json implies.
# Every value is checked as config.json is read, by every tool, before any work: each key
# over its limit (lib/tensor/config.h) or below its minimum, rope_theta, rms_norm_eps and the rope
# scaling numbers out of range, the routing keys that do not fit together, no experts where
# there are MoE layers: exit 2, one line naming the file, the key and the value, nothing
# written; 10^12 layers or rotary dimensions fail at once (a wall-clock limit of 10 s: loaded test
# machines take over a second, the bug guarded against takes hours).  Then the
# converters (ckpt-fp8-to-bf16, ckpt-hf-to-sharded in both layouts, ckpt-train-to-infer)
# refuse a checkpoint that has fewer or more layers than config.json says, or lacks a
# tensor, a whole layer or an FP8 weight's scale: the tensors ckpt-verify's model check
# expects (formats/model_check.h).
. "$CKPT_ROOT/tests/cli/lib.sh"
edit=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/st-edit
S1=model-00001-of-00003.safetensors S2=model-00002-of-00003.safetensors S3=model-00003-of-00003.safetensors

# copy FROM DIR: the files of checkpoint FROM in DIR (hard links where they can be)
copy() {
	mkdir -p "$2"
	for f in "$1"/*; do ln "$f" "$2/" 2>/dev/null || cp "$f" "$2/"; done
}
# cfg NAME PYTHON: tiny-v3 with config.json edited by PYTHON (a statement on the dict c)
cfg() {
	copy "$tiny" "$1"
	rm "$1/config.json"
	python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(c, open(sys.argv[3], "w"), indent=2)' "$tiny/config.json" "$2" "$1/config.json"
}
# drop NAME FROM SHARD TENSOR...: checkpoint FROM without the tensors (all in SHARD); the index
# is left out (it would still name them)
drop() {
	local name=$1 from=$2 shard=$3 args=() t
	shift 3
	copy "$from" "$name"
	rm -f "$name/$shard" "$name/model.safetensors.index.json"
	for t; do args+=(--drop "$t"); done
	"$edit" "$from/$shard" "$name/$shard" "${args[@]}" || echo "st-edit failed for $name" >&2
}
# refused NAME WHAT CMD...: CMD exits 2 with the one line WHAT and leaves no ./res (the output
# directory the commands are given)
refused() {
	local name=$1 want=$2
	shift 2
	rm -rf res
	run "$@"
	if [ "$rc" -eq 2 ] && [ "$(cat err)" = "$want" ] && [ "$(wc -l <err)" -eq 1 ] && [ ! -e res ]; then
		ok "$name"
	else
		not_ok "$name" "exit $rc, wanted 2" "stderr: $(cat err)" "wanted: $want" "res: $(ls -A res 2>&1)"
	fi
}
# every_converter NAME DIR MESSAGE: refused alike by ckpt-fp8-to-bf16 and ckpt-hf-to-sharded in
# both layouts (MESSAGE after "ckpt-TOOL: ")
every_converter() {
	refused "$1: ckpt-fp8-to-bf16" "ckpt-fp8-to-bf16: $3" "$fp8" "$2" res
	refused "$1: ckpt-hf-to-sharded --model-parallel 2" "ckpt-hf-to-sharded: $3" "$sharded" --model-parallel 2 "$2" res
	refused "$1: ckpt-hf-to-sharded --layout mindspore-train" "ckpt-hf-to-sharded: $3" \
		"$sharded" --layout mindspore-train "$2" res
}
# value KEY PYTHON MESSAGE: config.json with that edit refused by ckpt-fp8-to-bf16
value() {
	local d=v-$1
	cfg "$d" "$2"
	refused "$1: $3" "ckpt-fp8-to-bf16: $d/config.json: $3" "$fp8" "$d" res
}
ms_now() { echo $(($(date +%s%N) / 1000000)); }
# the variants hard-link the files of one local copy (the fixtures may be on another file system)
cp -r "$tiny" tiny
tiny=$PWD/tiny

# ---- each key over its limit ----
value vocab_size 'c["vocab_size"] = 16777217' "vocab_size 16777217 is over the limit 16777216"
value hidden_size 'c["hidden_size"] = 1048577' "hidden_size 1048577 is over the limit 1048576"
value intermediate_size 'c["intermediate_size"] = 1048577' "intermediate_size 1048577 is over the limit 1048576"
value moe_intermediate_size 'c["moe_intermediate_size"] = 10**9' "moe_intermediate_size 1000000000 is over the limit 1048576"
value num_hidden_layers 'c["num_hidden_layers"] = 4097' "num_hidden_layers 4097 is over the limit 4096"
value num_nextn_predict_layers 'c["num_nextn_predict_layers"] = 10**6' "num_nextn_predict_layers 1000000 is over the limit 4096"
value num_attention_heads 'c["num_attention_heads"] = 65537' "num_attention_heads 65537 is over the limit 65536"
value q_lora_rank 'c["q_lora_rank"] = 2**40' "q_lora_rank 1099511627776 is over the limit 1048576"
value kv_lora_rank 'c["kv_lora_rank"] = 1048577' "kv_lora_rank 1048577 is over the limit 1048576"
value qk_nope_head_dim 'c["qk_nope_head_dim"] = 65537' "qk_nope_head_dim 65537 is over the limit 65536"
value qk_rope_head_dim 'c["qk_rope_head_dim"] = 65538' "qk_rope_head_dim 65538 is over the limit 65536"
value v_head_dim 'c["v_head_dim"] = 2**63 - 1' "v_head_dim 9223372036854775807 is over the limit 65536"
value n_routed_experts 'c["n_routed_experts"] = 65540' "n_routed_experts 65540 is over the limit 65536"
value n_shared_experts 'c["n_shared_experts"] = 65537' "n_shared_experts 65537 is over the limit 65536"
value num_experts_per_tok 'c["num_experts_per_tok"] = 65537' "num_experts_per_tok 65537 is over the limit 65536"
value n_group 'c["n_group"] = 65537' "n_group 65537 is over the limit 65536"
value topk_group 'c["topk_group"] = 65537' "topk_group 65537 is over the limit 65536"
value first_k_dense_replace 'c["first_k_dense_replace"] = 4097' "first_k_dense_replace 4097 is over the limit 4096"
value moe_layer_freq 'c["moe_layer_freq"] = 4097' "moe_layer_freq 4097 is over the limit 4096"
value weight_block_size 'c["quantization_config"]["weight_block_size"] = [128, 1048577]' \
	"weight_block_size 1048577 is over the limit 1048576"
value original_max_position_embeddings 'c["rope_scaling"]["original_max_position_embeddings"] = 2**32 + 1' \
	"rope_scaling original_max_position_embeddings 4294967297 is not from 1 to 4294967296"

# ---- below the minimum: no model has none of these ----
value heads-0 'c["num_attention_heads"] = 0' "num_attention_heads 0 is below the minimum 1"
value hidden-0 'c["hidden_size"] = 0' "hidden_size 0 is below the minimum 1"
value vocab-0 'c["vocab_size"] = 0' "vocab_size 0 is below the minimum 1"
value v_head_dim-0 'c["v_head_dim"] = 0' "v_head_dim 0 is below the minimum 1"
value kv_lora_rank-0 'c["kv_lora_rank"] = 0' "kv_lora_rank 0 is below the minimum 1"
value qk_rope_head_dim-0 'c["qk_rope_head_dim"] = 0' "qk_rope_head_dim 0 is below the minimum 2"
value layers-0 'c["num_hidden_layers"] = 0' "num_hidden_layers 0 is below the minimum 1"
value n_group-0 'c["n_group"] = 0' "n_group 0 is below the minimum 1"
value topk_group-0 'c["topk_group"] = 0' "topk_group 0 is below the minimum 1"
value moe_layer_freq-0 'c["moe_layer_freq"] = 0' "moe_layer_freq 0 is below the minimum 1"
value original_max_position_embeddings-0 'c["rope_scaling"]["original_max_position_embeddings"] = 0' \
	"rope_scaling original_max_position_embeddings 0 is not from 1 to 4294967296"
value layers-negative 'c["num_hidden_layers"] = -3' '"num_hidden_layers" is not a non-negative integer'

# ---- numbers out of range ----
value rope_theta-0 'c["rope_theta"] = 0' "rope_theta 0 is not a finite number above 1"
value rope_theta-negative 'c["rope_theta"] = -10000.0' "rope_theta -10000 is not a finite number above 1"
value rope_theta-1 'c["rope_theta"] = 1' "rope_theta 1 is not a finite number above 1"
value rms_norm_eps-negative 'c["rms_norm_eps"] = -1e-06' "rms_norm_eps -1e-06 is not a number from 0 to 1"
value rms_norm_eps-2 'c["rms_norm_eps"] = 2' "rms_norm_eps 2 is not a number from 0 to 1"
value routed_scaling_factor 'c["routed_scaling_factor"] = -2.5' \
	"routed_scaling_factor -2.5 is not a finite number of at least 0"
value rope-factor-0 'c["rope_scaling"]["factor"] = 0' "rope_scaling factor 0 is not a finite number above 0"
value rope-beta_fast 'c["rope_scaling"]["beta_fast"] = -32' "rope_scaling beta_fast -32 is not a finite number of at least 0"
value rope-mscale_all_dim 'c["rope_scaling"]["mscale_all_dim"] = -1.0' \
	"rope_scaling mscale_all_dim -1 is not a finite number of at least 0"
cfg v-rope_theta-1e999 ''
sed -i 's/"rope_theta": 10000/"rope_theta": 1e999/' v-rope_theta-1e999/config.json
refused "rope_theta 1e999 (beyond a double)" 'ckpt-fp8-to-bf16: v-rope_theta-1e999/config.json: "rope_theta" is not a number' \
	"$fp8" v-rope_theta-1e999 res

# ---- values that do not fit together (each would divide by zero or index past an array) ----
value groups 'c["n_group"] = 3' "n_routed_experts 8 is not a multiple of n_group 3"
value topk-over-groups 'c["topk_group"] = 5' "topk_group 5 is more than n_group 4"
value experts_per_tok 'c["num_experts_per_tok"] = 9' "num_experts_per_tok 9 is more than n_routed_experts 8"
value experts_per_tok-groups 'c["num_experts_per_tok"] = 5' \
	"num_experts_per_tok 5 is more than the 4 experts of topk_group 2 groups of 2"
value no-experts 'c["n_routed_experts"] = 0' "n_routed_experts is 0, but layer 1 is a MoE layer (first_k_dense_replace 1)"
value no-experts-per-tok 'c["num_experts_per_tok"] = 0' \
	"num_experts_per_tok is 0, but layer 1 is a MoE layer (first_k_dense_replace 1)"
value odd-rope 'c["qk_rope_head_dim"] = 63' "qk_rope_head_dim 63 is odd (rotary dimensions come in pairs)"
cfg dense-only 'c["n_routed_experts"] = 0; c["first_k_dense_replace"] = 4'
run "$inspect" dense-only
expect_rc "n_routed_experts 0 where every layer is dense: read (inspect exit 0)" 0

# ---- every tool refuses a bad value, with the same words ----
cfg rt0 'c["rope_theta"] = 0'
every_converter "rope_theta 0" rt0 "rt0/config.json: rope_theta 0 is not a finite number above 1"
refused "rope_theta 0: ckpt-inspect" "ckpt-inspect: rt0/config.json: rope_theta 0 is not a finite number above 1" "$inspect" rt0
run "$verify" --forward rt0
expect_rc "rope_theta 0: ckpt-verify --forward: a failed check (exit 1)" 1
expect_line "... structure names the value" "  rt0/config.json: rope_theta 0 is not a finite number above 1"
expect_line "... the forward check cannot run" "  the model cannot run: rt0/config.json could not be read (see structure)"
run "$verify" --forward --against rt0 "$tiny"
expect_rc "rope_theta 0 on the --against side: exit 1" 1
expect_line "... named" "  rt0 cannot run: rt0/config.json: rope_theta 0 is not a finite number above 1"

# ---- 10^12: refused at once, not after gigabytes or millions of layers ----
cfg huge-rope 'c["qk_rope_head_dim"] = 10**12'
t0=$(ms_now)
run "$verify" --forward huge-rope
t1=$(ms_now)
expect_line "qk_rope_head_dim 10^12: named" "  huge-rope/config.json: qk_rope_head_dim 1000000000000 is over the limit 65536"
check "qk_rope_head_dim 10^12: ckpt-verify --forward is done in under ten seconds, not the hours 10^12 steps take ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 10000
cfg huge-layers 'c["num_hidden_layers"] = 10**12'
t0=$(ms_now)
refused "num_hidden_layers 10^12: --layout mindspore-train refuses it" \
	"ckpt-hf-to-sharded: huge-layers/config.json: num_hidden_layers 1000000000000 is over the limit 4096" \
	"$sharded" --layout mindspore-train huge-layers res
t1=$(ms_now)
check "num_hidden_layers 10^12: in under ten seconds, not the hours 10^12 steps take ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 10000
t0=$(ms_now)
refused "num_hidden_layers 10^12 through --config" \
	"ckpt-hf-to-sharded: huge-layers/config.json: num_hidden_layers 1000000000000 is over the limit 4096" \
	"$sharded" --layout mindspore-train --config huge-layers/config.json "$tiny" res
t1=$(ms_now)
check "... in under ten seconds, not the hours 10^12 steps take ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 10000
cfg huge-experts 'c["n_routed_experts"] = 10**12; c["num_hidden_layers"] = 10**12'
for how in fp8 mp2; do
	t0=$(ms_now)
	if [ $how = fp8 ]; then
		refused "10^12 experts and layers: ckpt-fp8-to-bf16" \
			"ckpt-fp8-to-bf16: huge-experts/config.json: num_hidden_layers 1000000000000 is over the limit 4096" \
			"$fp8" huge-experts res
	else
		refused "10^12 experts and layers: ckpt-hf-to-sharded --model-parallel 2" \
			"ckpt-hf-to-sharded: huge-experts/config.json: num_hidden_layers 1000000000000 is over the limit 4096" \
			"$sharded" --model-parallel 2 huge-experts res
	fi
	t1=$(ms_now)
	check "... in under ten seconds, not the hours 10^12 steps take ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 10000
done

# ---- config.json and the checkpoint disagree on the layers ----
cfg more 'c["num_hidden_layers"] = 4'
every_converter "one layer more in config.json" more \
	"more/config.json: num_hidden_layers is 4 but the checkpoint has layers 0..2 and MTP layer 3"
cfg v3 'c["num_hidden_layers"] = 62'
every_converter "62 layers in config.json" v3 "v3/config.json: num_hidden_layers is 62 but the checkpoint has layers 0..2 and MTP layer 3"
cfg less 'c["num_hidden_layers"] = 2'
every_converter "one layer less in config.json" less \
	"less/config.json: num_hidden_layers is 2 but the checkpoint has layers 0..2 and MTP layer 3"
cfg mtp2 'c["num_nextn_predict_layers"] = 2'
every_converter "two MTP layers in config.json" mtp2 \
	"mtp2/config.json: num_nextn_predict_layers is 2 but the checkpoint has layers 0..2 and MTP layer 3"
cfg mtp0 'c["num_nextn_predict_layers"] = 0'
every_converter "no MTP layer in config.json" mtp0 \
	"mtp0/config.json: num_nextn_predict_layers is 0 but the checkpoint has layers 0..2 and MTP layer 3"
# ---- and on the experts (their number multiplies the tensors the config implies) ----
cfg e40000 'c["n_routed_experts"] = 40000; c["n_group"] = 1; c["topk_group"] = 1'
t0=$(ms_now)
every_converter "40000 experts in config.json, 8 in the checkpoint" e40000 \
	"e40000/config.json: n_routed_experts is 40000 but the checkpoint has experts 0..7"
t1=$(ms_now)
check "... three tools in under three seconds ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 3000
t0=$(ms_now)
run "$verify" e40000
t1=$(ms_now)
expect_rc "40000 experts: ckpt-verify: a failed model check (exit 1)" 1
expect_line "... one problem, not the 719856 tensors it implies" "  e40000/config.json: n_routed_experts is 40000 but the checkpoint has experts 0..7"
expect_eq "... and nothing else" "$(wc -l <out)" 5
check "... in under ten seconds, not the hours 10^12 steps take ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 10000
cfg e4 'c["n_routed_experts"] = 4'
every_converter "4 experts in config.json, 8 in the checkpoint" e4 "e4/config.json: n_routed_experts is 4 but the checkpoint has experts 0..7"

# names FILE PREFIX: the tensors of a safetensors file whose names start with PREFIX
names() {
	python3 -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
print(" ".join(k for k in json.loads(b[8:8 + n]) if k.startswith(sys.argv[2])))' "$1" "$2"
}
# shellcheck disable=SC2046
drop nolayer1a "$tiny" "$S1" $(names "$tiny/$S1" model.layers.1.)
# shellcheck disable=SC2046
drop nolayer1 nolayer1a "$S2" $(names "$tiny/$S2" model.layers.1.)
every_converter "layer 1 missing" nolayer1 "nolayer1: layer 1 is missing (nolayer1/config.json says the model has layers 0..3)"

# ---- a tensor missing ----
drop noexp "$tiny" "$S2" model.layers.2.mlp.experts.3.up_proj.weight model.layers.2.mlp.experts.3.up_proj.weight_scale_inv
every_converter "an expert weight missing" noexp \
	'noexp: tensor "model.layers.2.mlp.experts.3.up_proj.weight" is missing (config.json implies F8_E4M3 [256, 256])'
drop noscale "$tiny" "$S2" model.layers.2.mlp.experts.3.up_proj.weight_scale_inv
every_converter "an FP8 weight's scale missing" noscale \
	'noscale: tensor "model.layers.2.mlp.experts.3.up_proj.weight_scale_inv" is missing (config.json implies F32 [2, 2] for the F8_E4M3 weight)'
drop nodense "$tiny" "$S1" model.layers.0.mlp.up_proj.weight model.layers.0.mlp.up_proj.weight_scale_inv
every_converter "a dense MLP weight missing" nodense \
	'nodense: tensor "model.layers.0.mlp.up_proj.weight" is missing (config.json implies F8_E4M3 [512, 256])'
drop nonorm "$tiny" "$S3" model.norm.weight
every_converter "model.norm.weight missing" nonorm 'nonorm: tensor "model.norm.weight" is missing (config.json implies BF16 [256])'
drop noattn "$tiny" "$S1" model.layers.0.self_attn.kv_a_layernorm.weight
every_converter "an attention norm missing" noattn \
	'noattn: tensor "model.layers.0.self_attn.kv_a_layernorm.weight" is missing (config.json implies BF16 [128])'
copy "$tiny" shape
rm shape/model.safetensors.index.json shape/$S1
"$edit" "$tiny/$S1" shape/$S1 --shape model.layers.1.mlp.gate.weight=16,128
every_converter "a router of another shape" shape \
	'shape: tensor "model.layers.1.mlp.gate.weight" has shape [16, 128], config.json implies [8, 256]'
# config.json given with --config for a checkpoint without one
drop noexp-noconfig "$tiny" "$S2" model.layers.2.mlp.experts.3.up_proj.weight model.layers.2.mlp.experts.3.up_proj.weight_scale_inv
rm noexp-noconfig/config.json
refused "an expert missing, config given with --config" \
	'ckpt-hf-to-sharded: noexp-noconfig: tensor "model.layers.2.mlp.experts.3.up_proj.weight" is missing (config.json implies F8_E4M3 [256, 256])' \
	"$sharded" --model-parallel 2 --config "$tiny/config.json" noexp-noconfig res
run "$fp8" -q noexp-noconfig res
expect_rc "... without any config.json nothing is implied: ckpt-fp8-to-bf16 converts what there is" 0
rm -rf res

# ---- ckpt-train-to-infer: the training layout against its config.json ----
run "$sharded" -q --layout mindspore-train "$tiny" mst
expect_rc "the training layout of tiny-v3 (to start from)" 0
msdrop() { # NAME FILE TENSOR: mst without TENSOR (and without its line in param_name_map.json)
	copy mst "$1"
	rm "$1/$2" "$1/param_name_map.json"
	"$edit" "mst/$2" "$1/$2" --drop "$3"
	python3 -c 'import json, sys
m = json.load(open(sys.argv[1])); del m[sys.argv[3]]
json.dump(m, open(sys.argv[2], "w"), indent=2)' mst/param_name_map.json "$1/param_name_map.json" "$3"
}
msdrop msnoshared ms-model-00002-of-00004.safetensors model.layers.1.feed_forward.shared_experts.w2.weight
refused "train-to-infer: a shared expert missing" \
	'ckpt-train-to-infer: msnoshared: tensor "model.layers.1.mlp.shared_experts.down_proj.weight" is missing (config.json implies [256, 256])' \
	"$t2i" msnoshared res
msdrop msnoattn ms-model-00002-of-00004.safetensors model.layers.1.attention.wo.weight
refused "train-to-infer: an attention output missing" \
	'ckpt-train-to-infer: msnoattn: tensor "model.layers.1.self_attn.o_proj.weight" is missing (config.json implies [256, 256])' \
	"$t2i" msnoattn res
msdrop msnonorm ms-model-00004-of-00004.safetensors model.norm_out.weight
refused "train-to-infer: the final norm missing" \
	'ckpt-train-to-infer: msnonorm: tensor "model.norm.weight" is missing (config.json implies [256])' "$t2i" msnonorm res
copy mst msnolayer
rm msnolayer/ms-model-00002-of-00004.safetensors msnolayer/param_name_map.json
python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))
json.dump({k: v for k, v in m.items() if v != "ms-model-00002-of-00004.safetensors"}, open(sys.argv[2], "w"), indent=2)' \
	mst/param_name_map.json msnolayer/param_name_map.json
refused "train-to-infer: layer 1 missing (its file and its names in the map)" \
	'ckpt-train-to-infer: msnolayer/param_name_map.json: layer 1 has no tensor "model.layers.1.attention.l2q_nope_proj.weight"' \
	"$t2i" msnolayer res
copy mst msmore
rm msmore/config.json
sed 's/"num_hidden_layers": 3/"num_hidden_layers": 4/' mst/config.json >msmore/config.json
refused "train-to-infer: one layer more in config.json" \
	'ckpt-train-to-infer: msmore: tensor "model.layers.4.input_layernorm.weight" is missing (config.json implies [256])' \
	"$t2i" msmore res
copy mst mshuge
rm mshuge/config.json
sed 's/"num_hidden_layers": 3/"num_hidden_layers": 1000000000000/' mst/config.json >mshuge/config.json
refused "train-to-infer: num_hidden_layers 10^12" \
	"ckpt-train-to-infer: mshuge/config.json: num_hidden_layers 1000000000000 is over the limit 4096" "$t2i" mshuge res
run "$t2i" -q mst res
expect_rc "train-to-infer: the sound training checkpoint still converts" 0
exit 0
