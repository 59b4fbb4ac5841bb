#!/bin/bash
# The device run that checked that what the new converters write loads in transformers and
# computes what it should (scripts/ref/loadpair.py): ckpt-fp8-to-bf16's DeepSeek-V4 output
# against fixtures/ref/v4-forward, both --fp4-table spellings, and ckpt-bf16-to-fp8's FP8
# (F32 and ue8m0 scales) against the BF16 it came from; and what V4's convert.py makes of a
# NaN FP4 group scale (scripts/ref/fp4nan.py). .dev/bin holds static builds of
# ckpt-synth, ckpt-fp8-to-bf16 and ckpt-bf16-to-fp8 (device-run4.sh says how).
set -o pipefail
export PYTHONUNBUFFERED=1
W=/tmp/lc
rm -rf $W && mkdir -p $W
{
chmod +x .dev/bin/*
B=.dev/bin
$B/ckpt-synth -q fixtures/specs/fwd-v4.json $W/v4
$B/ckpt-fp8-to-bf16 $W/v4 $W/v4-bf16
$B/ckpt-fp8-to-bf16 --fp4-table transformers $W/v4 $W/v4-bf16-tf
$B/ckpt-fp8-to-bf16 -q fixtures/tiny-v3 $W/v3-bf16
$B/ckpt-bf16-to-fp8 --select model $W/v3-bf16 $W/v3-fp8
$B/ckpt-bf16-to-fp8 --select model --scale-fmt ue8m0 $W/v3-bf16 $W/v3-fp8-ue8m0
python3 scripts/ref/loadpair.py $OUT/loadpair.json \
	same v4-bf16 $W/v4-bf16 fixtures/ref/v4-forward/forward/hf_logits.safetensors \
	same v4-bf16-transformers-table $W/v4-bf16-tf fixtures/ref/v4-forward/forward/hf_logits.safetensors \
	pair v3-fp8 $W/v3-fp8 $W/v3-bf16 \
	pair v3-fp8-ue8m0 $W/v3-fp8-ue8m0 $W/v3-bf16
python3 scripts/ref/fp4nan.py .dev/up4/convert.py $OUT/fp4nan.json
echo "=== done $(date +%T)"
} 2>&1 | tee $OUT/log
