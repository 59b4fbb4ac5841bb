#!/usr/bin/env bash
# How fast ckpt-synth makes a benchmark checkpoint (fixtures/specs/bench-experts.json: routed
# experts at the 671B shapes, cheap values) against writing the same number of bytes with
# dd from /dev/zero, both fsynced, in the same directory; medians of RUNS runs.
# Usage: bench/synth-speed.sh [EXPERTS (default 96: ~4.2 GB)] [RUNS (default 3)] [DIR]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
experts=${1:-96}
runs=${2:-3}
dir=${3:-${TMPDIR:-/tmp}}
synth=${CKPT_BUILD:-$root/build}/dev/ckpt-synth
work=$(mktemp -d "$dir/synth-speed.XXXXXX")
trap 'rm -rf "$work"' EXIT

secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# the size, and a warm-up (the first large write into a fresh directory is often much slower)
"$synth" -q --set n_routed_experts="$experts" --set n_group=1 --set topk_group=1 \
	"$root/fixtures/specs/bench-experts.json" "$work/ck"
bytes=$(du -cb "$work"/ck/*.safetensors | tail -n 1 | cut -f1)
rm -rf "$work/ck"
sync
s_times=() d_times=()
for ((i = 0; i < runs; i++)); do
	rm -rf "$work/ck"
	sync
	s_times+=("$(secs "$synth" -q --set n_routed_experts="$experts" --set n_group=1 --set topk_group=1 \
		"$root/fixtures/specs/bench-experts.json" "$work/ck")")
	rm -rf "$work/ck"
	sync
	d_times+=("$(secs dd if=/dev/zero of="$work/dd" bs=64M count=$(((bytes + 67108863) / 67108864)) conv=fsync)")
	rm -f "$work/dd"
done
s=$(printf '%s\n' "${s_times[@]}" | median)
d=$(printf '%s\n' "${d_times[@]}" | median)
printf 'bytes %d, runs %d\n' "$bytes" "$runs"
printf 'ckpt-synth   %6.2f s  %7.0f MB/s   (runs: %s)\n' "$s" "$(echo "$bytes / $s / 1000000" | bc -l)" "${s_times[*]}"
printf 'dd conv=fsync %5.2f s  %7.0f MB/s   (runs: %s)\n' "$d" "$(echo "$bytes / $d / 1000000" | bc -l)" "${d_times[*]}"
printf 'ratio (dd time / ckpt-synth time): %.2f\n' "$(echo "$d / $s" | bc -l)"
