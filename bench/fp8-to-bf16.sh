#!/usr/bin/env bash
# Benchmark: ckpt-fp8-to-bf16 (or ckpt-bf16-to-fp8) against the disk floor, in one run.
#
#   bench/fp8-to-bf16.sh [GB]        (default 4: the input's size, in GB)
#   CKPT_TOOL=ckpt-bf16-to-fp8 bench/fp8-to-bf16.sh [GB]   (bench/bf16-to-fp8.sh)
#
# Makes a synthetic checkpoint of routed experts (ckpt-synth's bench-experts spec: the 671B
# model's shapes, gate/up [2048, 7168], down [7168, 2048], F8_E4M3 with F32 scales; or
# CKPT_SPEC, e.g. bench-v4-experts: V4-Flash's FP4 experts) in one shard of about GB
# gigabytes, and one of a quarter of that; for ckpt-bf16-to-fp8, both are first converted to
# BF16 by ckpt-fp8-to-bf16 (untimed), and GB is the BF16 input's size.  Then, three rounds
# (BENCH_ROUNDS), interleaved so that drifts of a shared disk hit both sides alike:
#   floor:      cat INPUT > /dev/null, then dd writing as many bytes as the output has
#               (bs=8M, conv=fsync) - reading the input and writing the output with plain tools;
#   conversion: the tool, INPUT OUTPUT (all cores; it fsyncs its files too),
#               wall time and peak RSS (/usr/bin/time).
# Page caches are dropped before each timed step when /proc/sys/vm/drop_caches can be
# written (else all reads are warm, and the report says so).  Prints the medians, the
# ratio conversion / floor (goal: at most 1.15), the peak RSS with the small and the
# large shard (goal: flat, under 64 MB + 16 MB per thread), and the conversion's CPU-only
# rate (into a tar stream to /dev/null, input cached).  Everything is deleted at the end.
#
# Environment: CKPT_BIN (bin/), CKPT_SYNTH (build/dev/ckpt-synth), CKPT_SPEC
# (fixtures/specs/bench-experts.json), CKPT_TOOL (ckpt-fp8-to-bf16),
# BENCH_DIR (where the data goes; default $TMPDIR or /tmp),
# CKPT_BASE_BIN (another build's bin/, e.g. of the commit before a change: its conversion is
# timed in the same rounds, right after this build's, and the ratio of the medians printed),
# BENCH_ROUNDS (3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
gb=${1:-4}
bin=${CKPT_BIN:-$root/bin}
synth=${CKPT_SYNTH:-$root/build/dev/ckpt-synth}
spec=${CKPT_SPEC:-$root/fixtures/specs/bench-experts.json}
name=${CKPT_TOOL:-ckpt-fp8-to-bf16}
tool=$bin/$name
base=${CKPT_BASE_BIN:+$CKPT_BASE_BIN/$name}
for f in "$tool" "$bin/ckpt-fp8-to-bf16" "$synth" "$spec" /usr/bin/time ${base:+"$base"}; do
	[ -e "$f" ] || { echo "bench: $f is missing (make; ckpt-synth comes with fixtures/gen)" >&2; exit 2; }
done
work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/ckpt-bench-fp8.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

drop() { sync; { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; }
cold=no
if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then cold=yes; fi
now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }
bytes() { local s=0 f; for f; do s=$((s + $(stat -c %s "$f"))); done; echo $s; }

# the input of N experts in directory $2: the spec's checkpoint, or its BF16 conversion
gen() {
	"$synth" -q --set n_routed_experts="$1" --set n_group=1 --set topk_group=1 --set shard_size=1099511627776 "$spec" "$2"
	if [ "$name" = ckpt-bf16-to-fp8 ]; then
		"$bin/ckpt-fp8-to-bf16" --quiet "$2" "$2.bf16"
		rm -rf "$2"
		mv "$2.bf16" "$2"
	fi
}
# the bytes per expert (three projections and their scales: 44.05 MB at the 671B shapes)
gen 1 one
per_expert=$(bytes one/*.safetensors)
rm -rf one
experts=$(calc "$gb * 1e9 / $per_expert" 0)
small=$(( experts / 4 > 0 ? experts / 4 : 1 ))
gen "$experts" big
gen "$small" small
in_bytes=$(bytes big/*.safetensors)

# the output's size, from one conversion (also a warm-up)
"$tool" --quiet big out
out_bytes=$(bytes out/*.safetensors)
rm -rf out
blocks=$(( (out_bytes + 8388607) / 8388608 ))

floor=() conv=() rss=() based=()
for round in $(seq 1 "${BENCH_ROUNDS:-3}"); do
	drop
	t0=$(now)
	cat big/*.safetensors >/dev/null
	t1=$(now)
	dd if=/dev/zero of=dd.out bs=8M count="$blocks" conv=fsync status=none
	t2=$(now)
	rm -f dd.out
	floor+=("$(calc "$t2 - $t0" 3)")
	drop
	/usr/bin/time -f "%e %M" -o time.txt "$tool" --quiet big out
	read -r t m <time.txt
	conv+=("$t")
	rss+=("$m")
	rm -rf out
	if [ -n "$base" ]; then
		drop
		/usr/bin/time -f "%e" -o time.txt "$base" --quiet big out
		based+=("$(cat time.txt)")
		rm -rf out
	fi
	echo "round $round: floor $(calc "$t2 - $t0") s (cat $(calc "$t1 - $t0") s + dd $(calc "$t2 - $t1") s), conversion $t s, peak RSS $((m / 1024)) MiB${base:+, base build ${based[-1]} s}" >&2
done

drop
/usr/bin/time -f "%e %M" -o time.txt "$tool" --quiet small out
read -r ts ms <time.txt
rm -rf out
small_bytes=$(bytes small/*.safetensors)

cat big/*.safetensors >/dev/null
t0=$(now)
"$tool" --quiet big - >/dev/null
t1=$(now)
cpu=$(calc "$t1 - $t0" 3)

threads=$(nproc)
f=$(median "${floor[@]}")
c=$(median "${conv[@]}")
r=$(median "${rss[@]}")
what=${spec##*/}
[ "$name" = ckpt-bf16-to-fp8 ] && what="$what, converted to BF16"
echo "$name benchmark: $(calc "$in_bytes / 1e9") GB in (1 shard, $experts experts x 3 projections of $what), $(calc "$out_bytes / 1e9") GB out, $threads threads, caches dropped: $cold"
echo "  floor (cat input + dd output, median of ${#floor[@]}): $f s   [${floor[*]}]"
echo "  conversion (median of ${#conv[@]}):                   $c s   [${conv[*]}]"
echo "  ratio conversion / floor:                   $(calc "$c / $f")   (goal <= 1.15)"
echo "  conversion throughput:                      $(calc "$in_bytes / $c / 1e6" 0) MB/s in, $(calc "$out_bytes / $c / 1e6" 0) MB/s out"
echo "  CPU only (tar to /dev/null, input cached):  $cpu s = $(calc "$in_bytes / $cpu / 1e6" 0) MB/s in, $(calc "$out_bytes / $cpu / 1e6" 0) MB/s out"
echo "  peak RSS, $(calc "$in_bytes / 1e9") GB shard:                 $((r / 1024)) MiB (median)"
echo "  peak RSS, $(calc "$small_bytes / 1e9") GB shard:                 $((ms / 1024)) MiB ($ts s)"
echo "  RSS goal: 64 MiB + 16 MiB x $threads threads = $((64 + 16 * threads)) MiB"
if [ -n "$base" ]; then
	b=$(median "${based[@]}")
	echo "  base build $CKPT_BASE_BIN (median of ${#based[@]}):  $b s   [${based[*]}]"
	echo "  ratio this build / base build:              $(calc "$c / $b")"
fi
