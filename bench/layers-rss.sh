#!/usr/bin/env bash
# Memory of ckpt-verify --forward --layers on a checkpoint too big to run whole: one MoE
# layer of DeepSeek-V3 671B's shapes (hidden 7168, 128 heads, q_lora 1536, kv_lora 512,
# 256 routed experts of [2048, 7168] / [7168, 2048] F8_E4M3 + one shared, top 8 of 8
# groups; ~11.5 GB, made by ckpt-synth from fixtures/specs/bench-experts.json with the
# attention, router and shared expert added and a small vocabulary) through `--layers 0`
# on 16 positions, alone and compared with itself (--against), each weight's pages given
# back after use; for contrast, the whole forward pass of the same one-layer model on 16
# tokens, which keeps them (the checkpoint is smaller than half this machine's memory).
# Printed: peak RSS (getrusage, through /usr/bin/time -v), wall time, experts run; the
# bound is 4 GB.
# Usage: bench/layers-rss.sh [DIR]   (DIR: where to make the checkpoint; removed afterwards
#                                     unless it already held one)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dev=${CKPT_BUILD:-$root/build}/dev
bin=${CKPT_BIN:-$root/bin}
dir=${1:-${TMPDIR:-/tmp}/ckpt-layer671b}
made=0
if [ ! -f "$dir/config.json" ]; then
	"$dev/ckpt-synth" -q --set experts_only=false --set n_routed_experts=256 --set vocab_size=1024 \
		--set n_group=8 --set topk_group=4 --set num_experts_per_tok=8 \
		"$root/fixtures/specs/bench-experts.json" "$dir"
	made=1
fi
trap '[ $made = 1 ] && rm -rf "$dir"' EXIT
bytes=$(du -cb "$dir"/*.safetensors | tail -n 1 | cut -f1)
echo "checkpoint: $dir, $bytes bytes (one MoE layer, 256 experts of 7168x2048 FP8)"
bound=$((4 * 1000 * 1000))   # kB
status=0
run() {
	local what=$1 bounded=$2
	shift 2
	local t
	t=$(mktemp)
	/usr/bin/time -v "$bin/ckpt-verify" --forward --positions 16 "$@" "$dir" >"$t.out" 2>"$t" || true
	local rss wall
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$t")
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$t")
	printf '%-40s peak RSS %8.1f MB  wall %s  %s\n' "$what" "$(echo "$rss / 1000" | bc -l)" "$wall" \
		"$(grep -o '[0-9]* routed expert runs\|[0-9.]* GB of weights read' "$t.out" | head -n 1)"
	if [ "$bounded" = 1 ] && [ "$rss" -ge $bound ]; then status=1; fi
	rm -f "$t" "$t.out"
}
run "--layers 0" 1 --layers 0
run "--layers 0 --against itself" 1 --layers 0 --against "$dir"
run "whole forward pass (contrast)" 0
if [ $status = 0 ]; then echo "bound: --layers peak RSS under 4 GB: yes"
else echo "bound: --layers peak RSS under 4 GB: NO"; fi
exit $status
