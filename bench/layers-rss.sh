#!/usr/bin/env bash
# Memory of the layer-by-layer check on a checkpoint too big to run whole: one MoE layer of
# DeepSeek-V3 671B's shapes (hidden 7168, 128 heads, q_lora 1536, kv_lora 512, 256 routed
# experts of [2048, 7168] / [7168, 2048] F8_E4M3 + one shared, top 8 of 8 groups; ~11.5 GB,
# made by ckpt-synth from fixtures/specs/bench-experts.json with the attention, router and
# shared expert added and a small vocabulary) goes through `--layers 0` on 16 positions,
# alone and compared with itself (--against), with weights' pages given back after use (the
# default of --layers) and, for contrast, kept.  Printed: peak RSS (getrusage via
# /usr/bin/time -v), wall time, experts run; the bound is 4 GB.
# Usage: bench/layers-rss.sh [DIR]   (DIR: where to make the checkpoint; removed afterwards
#                                     unless it already held one)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dev=${CKPT_BUILD:-$root/build}/dev
dir=${1:-${TMPDIR:-/tmp}/ckpt-layer671b}
made=0
if [ ! -f "$dir/config.json" ]; then
	"$dev/ckpt-synth" -q --set experts_only=false --set n_routed_experts=256 --set vocab_size=1024 \
		"$root/fixtures/specs/bench-experts.json" "$dir"
	made=1
fi
trap '[ $made = 1 ] && rm -rf "$dir"' EXIT
bytes=$(du -cb "$dir"/*.safetensors | tail -n 1 | cut -f1)
echo "checkpoint: $dir, $bytes bytes (one MoE layer, 256 experts of 7168x2048 FP8)"
bound=$((4 * 1000 * 1000))   # kB
status=0
run() {
	local what=$1
	shift
	local t
	t=$(mktemp)
	/usr/bin/time -v "$dev/fwdcheck" --layers 0 --positions 16 "$@" "$dir" >"$t.out" 2>"$t"
	local rss wall
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$t")
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$t")
	printf '%-34s peak RSS %8.1f MB  wall %s  %s\n' "$what" "$(echo "$rss / 1000" | bc -l)" "$wall" \
		"$(grep -o '[0-9]* routed expert runs' "$t.out")"
	if [ "$what" != "${what#pages kept}" ]; then :; elif [ "$rss" -ge $bound ]; then status=1; fi
	rm -f "$t" "$t.out"
}
run "pages given back, alone"
run "pages given back, --against itself" --against "$dir"
run "pages kept (contrast), alone" --keep-pages
if [ $status = 0 ]; then echo "bound: peak RSS under 4 GB with pages given back: yes"
else echo "bound: peak RSS under 4 GB with pages given back: NO"; fi
exit $status
