#!/usr/bin/env bash
# ckpt-train-to-infer against copying the same bytes: a synthetic BF16 training-layout
# checkpoint (fixtures/specs/bench-mindspore.json through ckpt-synth and ckpt-hf-to-sharded --layout mindspore-train,
# about 2.8 GB), converted with and without --transpose-experts, and its shards copied
# with dd conv=fsync (ckpt-train-to-infer fsyncs its files too); wall time and peak RSS,
# medians of RUNS runs, ratios.  The input stays in the page cache for both (23 GB RAM):
# this measures the tool, not the disk's read speed.  At most twice the checkpoint's size
# on disk at a time; everything is deleted at the end.
# Usage: bench/train-to-infer.sh [RUNS (default 3)] [DIR (default $TMPDIR or /tmp)] [-j N]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
dir=${2:-${TMPDIR:-/tmp}}
jobs=${3:-}
build=${CKPT_BUILD:-$root/build}
bin=${CKPT_BIN:-$root/bin}
work=$(mktemp -d "$dir/t2i-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# "SECONDS MAXRSS_KB" of a command
measure() { /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }; cat "$work/time"; }

"$build/dev/ckpt-synth" -q "$root/fixtures/specs/bench-mindspore.json" "$work/hf"
"$bin/ckpt-hf-to-sharded" -q --layout mindspore-train "$work/hf" "$work/train"
rm -rf "$work/hf"
bytes=$(du -cb "$work"/train/*.safetensors | tail -n 1 | cut -f1)
copy() {
	mkdir -p "$work/copy"
	for f in "$work"/train/*.safetensors; do dd if="$f" of="$work/copy/${f##*/}" bs=8M conv=fsync status=none; done
}
# warm-up: the input into the page cache, a first large write
copy
rm -rf "$work/copy"
sync

declare -a t_t t_m x_t x_m c_t c_m
for ((i = 0; i < runs; i++)); do
	read -r s m < <(measure "$bin/ckpt-train-to-infer" -q ${jobs:+-j "$jobs"} "$work/train" "$work/out")
	t_t+=("$s") t_m+=("$m")
	rm -rf "$work/out"
	sync
	read -r s m < <(measure "$bin/ckpt-train-to-infer" -q ${jobs:+-j "$jobs"} --transpose-experts "$work/train" "$work/out")
	x_t+=("$s") x_m+=("$m")
	rm -rf "$work/out"
	sync
	export -f copy
	export work
	read -r s m < <(measure bash -c copy)
	c_t+=("$s") c_m+=("$m")
	rm -rf "$work/copy"
	sync
done
row() { # NAME TIMES... / RSS...
	local name=$1 t m
	t=$(printf '%s\n' "${@:2:$runs}" | median)
	m=$(printf '%s\n' "${@:$((2 + runs)):$runs}" | median)
	printf '%-40s %7.2f s %7.0f MB/s  peak RSS %6.1f MiB   (runs: %s)\n' "$name" "$t" \
		"$(echo "$bytes / $t / 1000000" | bc -l)" "$(echo "$m / 1024" | bc -l)" "$(echo "${@:2:$runs}")"
	echo "$t $m" >"$work/row.$name"
}
printf 'input: %d bytes of training-layout shards, %d runs, %s cores\n' "$bytes" "$runs" "$(nproc)"
row "ckpt-train-to-infer" "${t_t[@]}" "${t_m[@]}"
row "ckpt-train-to-infer --transpose-experts" "${x_t[@]}" "${x_m[@]}"
row "dd conv=fsync (the same bytes)" "${c_t[@]}" "${c_m[@]}"
read -r ct cm <"$work/row.dd conv=fsync (the same bytes)"
for name in ckpt-train-to-infer "ckpt-train-to-infer --transpose-experts"; do
	read -r t m <"$work/row.$name"
	printf '%-40s time %.2f x dd, peak RSS %.1f x dd\n' "$name" "$(echo "$t / $ct" | bc -l)" "$(echo "$m / $cm" | bc -l)"
done
