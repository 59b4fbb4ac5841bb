#!/bin/bash
# Second device run: is transformers' float64 CPU forward bit-reproducible? (hfrepro.py)
# Expects .dev/refgen.py, .dev/golden/{bf16/ (= ../shared/golden/tiny-v3.fp8_cast_bf16),
# config.json, tiny-v3.hf-logits.safetensors} and .dev/r2/{partial/ (= partial's
# fp8_cast_bf16 output), config.json, hf_logits.safetensors, hfrepro.py}.
set -o pipefail
export PYTHONUNBUFFERED=1
lscpu | grep -i "model name\|^CPU(s)\|flags" | cut -c1-300 | tee $OUT/log
python3 .dev/r2/hfrepro.py 2>&1 | grep -v "UNEXPECTED\|^---\|^Key \|^Notes\|^- UNEXPECTED\|LOAD REPORT\|Loading weights\|^$" | tee -a $OUT/log
