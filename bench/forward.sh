#!/usr/bin/env bash
# The forward pass against the memory roofline: makes a 1.56 GB DeepSeek-V3-shaped FP8 model
# (bench/forward-model.json, ckpt-synth) and runs bench_forward on it (1, 4, 16 and 64
# tokens; memory bandwidth and kernel rate measured in the same run; median and best of 5).
# MODEL=v4 times a DeepSeek-V4-Flash-shaped one instead (bench/forward-v4-model.json, 1.6 GB),
# MODEL=v32 a DeepSeek-V3.2-shaped one (bench/forward-v32-model.json); both also run 160
# tokens, past their sliding window and index_topk.
# Usage: [MODEL=v3|v32|v4] bench/forward.sh [DIR] [TOKENS...]   (DIR: where to make the model;
#                                             removed afterwards unless it already held one)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dev=${CKPT_BUILD:-$root/build}/dev
model=${MODEL:-v3}
case $model in
v3) spec=$root/bench/forward-model.json ;;
v32 | v4) spec=$root/bench/forward-$model-model.json ;;
*) echo "bench/forward.sh: MODEL must be v3, v32 or v4, not $model" >&2; exit 2 ;;
esac
suffix=; [ "$model" = v3 ] || suffix=-$model
dir=${1:-${TMPDIR:-/tmp}/ckpt-forward-bench$suffix}
shift || true
made=0
if [ ! -f "$dir/config.json" ]; then
	"$dev/ckpt-synth" -q "$spec" "$dir"
	made=1
fi
trap '[ $made = 1 ] && rm -rf "$dir"' EXIT
if [ $# -eq 0 ]; then
	if [ "$model" = v3 ]; then set -- 1 4 16 64; else set -- 1 4 16 64 160; fi
fi
"$dev/bench_forward" "$dir" "$@"
