#!/usr/bin/env bash
# ckpt-hf-to-sharded against copying the checkpoint's shards with dd (both fsync their
# outputs), on synthetic checkpoints with the 671B model's shapes (ckpt-synth, cheap values:
# one MoE layer with all its cuts: embedding and head by rows, o_proj and down projections
# gathered by columns, experts whole, norms and wq_a/wkv_a copied to every rank), at two
# sizes, to show that the peak RSS does not grow with the checkpoint.  Wall time and peak RSS
# (GNU time's %M) are medians of RUNS runs, conversion and copy alternating, with the input
# in the page cache for both.  Data stays under 8 GB and is deleted at the end.
# Usage: bench/hf-to-sharded.sh [MP (default 8)] [RUNS (default 3)] [DIR (default $TMPDIR)]
# Environment: CKPT_BIN (bin/), CKPT_BUILD (build/, for dev/ckpt-synth), CKPT_SPEC
# (fixtures/specs/bench-experts.json; bench-v4-experts.json: one DeepSeek-V4-Flash layer,
# FP4 experts), BENCH_EXPERTS (the routed experts of the two sizes: "16 64"; "64 256" gives
# V4-Flash sizes alike), CKPT_OPTS (more options for the tool, e.g. --expert-dtype fp8).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
mp=${1:-8}
runs=${2:-3}
dir=${3:-${TMPDIR:-/tmp}}
synth=${CKPT_BUILD:-$root/build}/dev/ckpt-synth
tool=${CKPT_BIN:-$root/bin}/ckpt-hf-to-sharded
spec=${CKPT_SPEC:-$root/fixtures/specs/bench-experts.json}
read -r -a opts <<<"${CKPT_OPTS:-}"
gtime=/usr/bin/time
for x in "$synth" "$tool" "$gtime"; do
	[ -x "$x" ] || { echo "bench: $x is missing (make; apt-get install time)" >&2; exit 2; }
done
work=$(mktemp -d "$dir/bench-sharded.XXXXXX")
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# "SECONDS KB CPU-SECONDS" of a command
measure() {
	"$gtime" -f '%e %M %U %S' -o "$work/time" "$@" >/dev/null 2>&1
	awk '{printf "%s %s %.2f\n", $1, $2, $3 + $4}' "$work/time"
}
copy() { for f in "$1"/*.safetensors; do dd if="$f" of="$2/${f##*/}" bs=64M conv=fsync status=none; done; }

printf 'model parallel %s%s, %s runs, medians; input in the page cache; %s\n' "$mp" "${CKPT_OPTS:+ $CKPT_OPTS}" "$runs" "${spec##*/}"
printf 'load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-7s %12s %12s %9s %9s %7s %10s %10s %9s %9s\n' size in_bytes out_bytes conv_s copy_s ratio conv_rss copy_rss conv_cpu copy_cpu
rss=()
for experts in ${BENCH_EXPERTS:-16 64}; do
	ck=$work/ck
	"$synth" -q --set experts_only=false --set vocab_size=16384 --set num_hidden_layers=1 \
		--set first_k_dense_replace=0 --set n_routed_experts="$experts" --set n_group=1 \
		--set topk_group=1 --set num_experts_per_tok=4 --set shard_size=1073741824 \
		"$spec" "$ck"
	in_bytes=$(du -cb "$ck"/*.safetensors | tail -n 1 | cut -f1)
	cat "$ck"/*.safetensors >/dev/null
	ct=() cr=() cc=() dt=() dr=() dc=() out_bytes=0
	for ((i = 0; i < runs; i++)); do
		rm -rf "$work/out"
		sync
		read -r s k u < <(measure "$tool" -q --model-parallel "$mp" "${opts[@]}" "$ck" "$work/out")
		[ -f "$work/out/model0-mp$mp.safetensors" ] || { echo "bench: the conversion failed" >&2; exit 2; }
		ct+=("$s") cr+=("$k") cc+=("$u")
		out_bytes=$(du -cb "$work"/out/*.safetensors | tail -n 1 | cut -f1)
		rm -rf "$work/out"
		mkdir "$work/cp"
		sync
		read -r s k u < <(measure bash -c "$(declare -f copy); copy '$ck' '$work/cp'")
		dt+=("$s") dr+=("$k") dc+=("$u")
		rm -rf "$work/cp"
	done
	c=$(printf '%s\n' "${ct[@]}" | median)
	d=$(printf '%s\n' "${dt[@]}" | median)
	r=$(printf '%s\n' "${cr[@]}" | median)
	q=$(printf '%s\n' "${dr[@]}" | median)
	u=$(printf '%s\n' "${cc[@]}" | median)
	v=$(printf '%s\n' "${dc[@]}" | median)
	rss+=("$r")
	printf '%-7s %12d %12d %9.2f %9.2f %7.2f %8d K %8d K %9.2f %9.2f   (wall, conversion: %s; copy: %s)\n' \
		"$experts"x "$in_bytes" "$out_bytes" "$c" "$d" "$(echo "$c / $d" | bc -l)" "$r" "$q" "$u" "$v" \
		"${ct[*]}" "${dt[*]}"
	rm -rf "$ck"
done
printf 'ratio = conversion wall time / copy wall time (goal <= 1.2); cpu = user + system seconds\n'
printf 'peak RSS, large / small: %.2f; load average after: %s\n' "$(echo "${rss[1]} / ${rss[0]}" | bc -l)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
