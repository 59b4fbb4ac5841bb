#!/usr/bin/env bash
# The forward pass against the memory roofline: makes a 1.56 GB DeepSeek-V3-shaped FP8 model
# (bench/forward-model.json, ckpt-synth) and runs bench_forward on it (1, 4, 16 and 64
# tokens; memory bandwidth and kernel rate measured in the same run; median and best of 5).
# Usage: bench/forward.sh [DIR] [TOKENS...]   (DIR: where to make the model; removed afterwards
#                                             unless it already held one)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dev=${CKPT_BUILD:-$root/build}/dev
dir=${1:-${TMPDIR:-/tmp}/ckpt-forward-bench}
shift || true
made=0
if [ ! -f "$dir/config.json" ]; then
	"$dev/ckpt-synth" -q "$root/bench/forward-model.json" "$dir"
	made=1
fi
trap '[ $made = 1 ] && rm -rf "$dir"' EXIT
if [ $# -eq 0 ]; then set -- 1 4 16 64; fi
"$dev/bench_forward" "$dir" "$@"
