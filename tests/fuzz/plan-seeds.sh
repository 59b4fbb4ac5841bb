#!/usr/bin/env bash
# tests/fuzz/plan-seeds.sh OUTDIR: the seeds of fuzz_plan (tests/fuzz/fuzz_plan.c) from
# micro checkpoints (1-2 layers, 2-4 experts, 16x16 FP8 blocks) that ckpt-synth writes and
# the converters turn into BF16 and MindSpore training layouts, so that every header fits
# in the fuzzer's -max_len.  Needs `make` (bin/ and build/dev/).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
S=$root/build/dev/ckpt-synth B=$root/bin
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"
cat >micro.json <<'SPEC'
{"vocab_size": 16, "hidden_size": 32, "intermediate_size": 32, "moe_intermediate_size": 16,
 "num_hidden_layers": 1, "num_nextn_predict_layers": 0, "num_attention_heads": 2, "num_key_value_heads": 2,
 "n_shared_experts": 1, "n_routed_experts": 2, "kv_lora_rank": 16, "q_lora_rank": 16,
 "qk_rope_head_dim": 8, "v_head_dim": 8, "qk_nope_head_dim": 8, "n_group": 1, "topk_group": 1,
 "num_experts_per_tok": 1, "first_k_dense_replace": 0, "values": "cheap",
 "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [16, 16]}}
SPEC
$S -q micro.json m1
$S -q --set shards=2 --set scale_in_other_shard=true micro.json m2
$S -q --set q_lora_rank=null --set num_hidden_layers=2 --set first_k_dense_replace=1 micro.json m3
$S -q --set drop_scale=true --set shards=2 micro.json m4
$S -q --set scale_dtype='"F8_E8M0"' --set n_routed_experts=4 --set num_nextn_predict_layers=1 micro.json m5
$B/ckpt-fp8-to-bf16 -q m1 m1bf
$B/ckpt-hf-to-sharded -q --layout mindspore-train m1 ms1
$B/ckpt-hf-to-sharded -q --layout mindspore-train m3 ms3
$B/ckpt-hf-to-sharded -q --layout mindspore-train --dtype fp32 m5 ms5
python3 - "$out" <<'PY'
import glob, struct, sys
out = sys.argv[1]
def header(f):
    b = open(f, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    return b[8:8 + n]
k = 0
def emit(sel, sections):
    global k
    k += 1
    open(f'{out}/seed-{k:02d}', 'wb').write(bytes([sel]) + b'\n#--\n'.join(sections))
# selector: low 2 bits the plan (0 fp8cast, 1 dsmp, 2 mindspore-train, 3 train-to-infer)
for d in ['m1', 'm2', 'm3', 'm4', 'm5', 'm1bf']:
    shards = [header(f) for f in sorted(glob.glob(f'{d}/*.safetensors'))]
    for sel in (0, 1, 2, 5, 8, 17, 6, 10):
        emit(sel, [open(f'{d}/config.json', 'rb').read()] + shards)
for d in ['ms1', 'ms3', 'ms5']:
    shards = [header(f) for f in sorted(glob.glob(f'{d}/*.safetensors'))]
    for sel in (3, 7, 19, 67, 135):
        emit(sel, [open(f'{d}/config.json', 'rb').read(), open(f'{d}/param_name_map.json', 'rb').read()] + shards)
PY
