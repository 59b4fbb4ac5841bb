#!/usr/bin/env bash
# Benchmark: ckpt-bf16-to-fp8 against the disk floor, with its peak RSS and CPU-only rate:
# bench/fp8-to-bf16.sh's measurement, on the BF16 conversion of its synthetic experts.
#
#   bench/bf16-to-fp8.sh [GB]        (default 4: the BF16 input's size, in GB)
#
# Environment: as bench/fp8-to-bf16.sh (CKPT_BIN, CKPT_SYNTH, CKPT_SPEC, BENCH_DIR,
# CKPT_BASE_BIN, BENCH_ROUNDS).
CKPT_TOOL=ckpt-bf16-to-fp8 exec "$(dirname "$0")/fp8-to-bf16.sh" "$@"
