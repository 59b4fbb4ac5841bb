#!/usr/bin/env bash
# bench/forward.sh's models (bench/forward-*model.json): the V4 one at V4-Flash's widths
# with every attention kind (compress ratios 0, 4, 128), hash and scored routing and FP4
# experts; the V3.2 one the V3 model plus V3.2's indexer; both about 1.5 GB. Made with
# --sparse (headers only: the sizes, not the bytes); the scripts' MODEL choice checked.
. "$CKPT_ROOT/tests/cli/lib.sh"
bench=$CKPT_ROOT/bench
# the tensors' "name":{"dtype":...,"shape":[...] from the shards' headers
headers() { for f in "$1"/*.safetensors; do head -c 300000 "$f" | grep -a -o '"[a-z_.0-9]*":{"dtype":"[^"]*","shape":\[[0-9,]*\]'; done; }

run "$synth" -q --sparse "$bench/forward-v4-model.json" v4
expect_rc "forward-v4-model.json: written" 0
expect_eq "... model_type deepseek_v4, compress_ratios 0, 4, 128" \
	"$("$jsonq" model_type <v4/config.json) $("$jsonq" compress_ratios <v4/config.json | tr -d ' \n')" "deepseek_v4 [0,4,128]"
expect_eq "... 1.61 GB" "$("$jsonq" metadata.total_size <v4/model.safetensors.index.json)" 1612657564
headers v4 >v4.h
for t in 'layers.0.attn.wq_b.weight":{"dtype":"F8_E4M3","shape":[32768,1024]' \
	'layers.0.attn.wo_a.weight":{"dtype":"F8_E4M3","shape":[8192,4096]' \
	'layers.1.attn.indexer.wq_b.weight":{"dtype":"F8_E4M3","shape":[8192,1024]' \
	'layers.2.attn.compressor.wkv.weight' 'layers.0.ffn.gate.tid2eid' 'layers.1.ffn.gate.bias' \
	'layers.2.ffn.experts.15.w1.weight":{"dtype":"I8","shape":[2048,2048]' 'hc_head_fn'; do
	expect_eq "... holds $t" "$(grep -c -F "\"$t" v4.h)" 1
done

run "$synth" -q --sparse "$bench/forward-v32-model.json" v32
expect_rc "forward-v32-model.json: written" 0
expect_eq "... model_type deepseek_v32, index_topk 64" \
	"$("$jsonq" model_type <v32/config.json) $("$jsonq" index_topk <v32/config.json)" "deepseek_v32 64"
expect_eq "... every layer's indexer" "$(grep -o 'model\.layers\.[0-9]*\.self_attn\.indexer\.wk\.weight"' v32/model.safetensors.index.json | sort -u | wc -l)" 4

run env MODEL=v5 "$bench/forward.sh"
expect_rc "forward.sh MODEL=v5: refused" 2
expect_err "... saying which models it knows, in one line" "bench/forward.sh: MODEL must be v3, v32 or v4, not v5"
