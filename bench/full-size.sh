#!/usr/bin/env bash
# Every tool on the full-size inventories, measured on this machine: DeepSeek-V3 671B (163
# shards, 91,991 tensors, 688 GB) and DeepSeek-V4-Flash (46 shards, 69,187 tensors, 160 GB;
# V4-Pro with --pro: 64 shards, 145,116 tensors, 865 GB).  ckpt-synth --sparse writes each
# as the released headers, index and side files with every shard's data a hole, so
# terabytes of apparent size take a few MB of disk and read as zeros at memory speed: what
# is measured is CPU, page handling, metadata and memory, not the disk.  The disk's read
# rate is measured in the same run (a real 3 GB file, page cache dropped) and each row gets
# the time its input would take to read at that rate (proj_s = max(wall, bytes / rate)).
#
# Per model: ckpt-inspect (summary, --json); ckpt-verify (structure and model;
# --write-manifest and --scan on a part: the first PART_SHARDS shards, hard-linked into a
# directory of their own); ckpt-fp8-to-bf16 to a tar stream into /dev/null, and one shard
# into a directory (the GNU parallel recipe's job: --shard), its layer-0 tensors checked
# against the same conversion of a one-layer checkpoint (names, dtypes, shapes; the data
# are zeros both sides); ckpt-hf-to-sharded --model-parallel 16 to a tar stream into
# /dev/null, and as the parallel recipe's one job per rank (--rank I, 2 at a time: the
# recipe's command with OUTPUT_DIR -), whose bytes must add up to the one pass's;
# ckpt-verify --forward --layers over every layer.  The same tools on the tiny fixtures
# (fixtures/tiny-v3, tiny-v4.json) give the growth.  Then the header tools at 1/4, 1/2 and
# all of V3's layers: time per tensor must stay flat (nothing quadratic).
#
# Usage: bench/full-size.sh [--pro] [--models "v3 v4-flash"] [--steps LIST] [DIR]
#   steps (default all): inspect,verify,manifest,scan,bf16,bf16-shard,sharded,ranks,forward,scaling
# Environment: CKPT_BIN (bin/), CKPT_BUILD (build/), RESULTS (bench/results/full-size),
#   PART_SHARDS (4), JOBS (GNU parallel jobs for the rank recipe: 2), SYNTH_SETS (ckpt-synth
#   options for a trial run of the script on less: "--set num_hidden_layers=4 --set shards=4")
# Needs: GNU time (/usr/bin/time), GNU parallel, root for the disk rate (drop_caches; else
# the rate is left out), a file system that keeps holes.  Writes at most ~15 GB at a time.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CKPT_BIN:-$root/bin}
synth=${CKPT_BUILD:-$root/build}/dev/ckpt-synth
specs=$root/fixtures/specs
res=${RESULTS:-$root/bench/results/full-size}
part_shards=${PART_SHARDS:-4}
jobs=${JOBS:-2}
measure=$root/bench/measure.sh
models="v3 v4-flash"
steps=inspect,verify,manifest,scan,bf16,bf16-shard,sharded,ranks,forward,scaling
while [ $# -gt 0 ]; do
	case $1 in
	--pro) models="$models v4-pro"; shift ;;
	--models) models=$2; shift 2 ;;
	--steps) steps=$2; shift 2 ;;
	*) break ;;
	esac
done
dir=${1:-${TMPDIR:-/tmp}}
for x in "$synth" "$bin/ckpt-inspect" /usr/bin/time; do
	[ -x "$x" ] || { echo "bench: $x is missing (make; apt-get install time)" >&2; exit 2; }
done
command -v parallel >/dev/null || { echo "bench: GNU parallel is missing" >&2; exit 2; }
mkdir -p "$res"
work=$(mktemp -d "$dir/bench-full.XXXXXX")
trap 'rm -rf "$work"' EXIT
has() { case ",$steps," in *",$1,"*) return 0 ;; esac; return 1; }
table=$res/table.txt
log() { printf '%s\n' "$*" | tee -a "$table"; }
: >"$table"

bytes_of() { du -cb --apparent-size "$@" 2>/dev/null | tail -n 1 | cut -f1; }
gib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1073741824}'; }

# ---- the disk's read rate: a real file, written, synced, the page cache dropped, read ----
rate=
if [ -w /proc/sys/vm/drop_caches ]; then
	f=$dir/bench-full-rate.$$
	dd if=/dev/zero of="$f" bs=16M count=192 conv=fsync status=none
	sync
	echo 3 >/proc/sys/vm/drop_caches
	t0=$(date +%s.%N)
	dd if="$f" of=/dev/null bs=16M status=none
	t1=$(date +%s.%N)
	rate=$(awk -v b=$((16 * 1048576 * 192)) -v a="$t0" -v c="$t1" 'BEGIN {printf "%d", b / (c - a)}')
	rm -f "$f"
fi
log "full size on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM; $(date -u +%FT%TZ); load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$rate" ]; then
	log "disk read rate: $(awk -v r="$rate" 'BEGIN {printf "%.0f MB/s", r / 1e6}') (3 GiB file, page cache dropped)"
else
	log "disk read rate: not measured (drop_caches needs root)"
fi
log ""
log "$(printf '%-9s %-30s %3s %9s %9s %8s %5s %10s %9s %9s %9s' model run rc wall_s cpu_s rss_MiB fds in_GiB proj_s tiny_s tiny_MiB)"

tiny_row=()
# row MODEL NAME IN_BYTES TINY_RESULT RESULT_FILE: one line of the table from measure.sh's
row() {
	local m=$1 name=$2 inb=$3 tiny=$4 f=$5 rc w c k fds l0 l1 proj ts tk
	read -r rc w c k fds l0 l1 <"$f"
	proj=-
	[ -n "$rate" ] && [ "$inb" -gt 0 ] && proj=$(awk -v w="$w" -v b="$inb" -v r="$rate" 'BEGIN {d = b / r; printf "%.0f", (d > w ? d : w)}')
	ts=- tk=-
	if [ -n "$tiny" ] && [ -f "$tiny" ]; then
		read -r _ ts _ tk _ _ _ <"$tiny"
		tk=$(awk -v k="$tk" 'BEGIN {printf "%.1f", k / 1024}')
	fi
	log "$(printf '%-9s %-30s %3s %9s %9s %8.1f %5s %10s %9s %9s %9s   load %s-%s' "$m" "$name" "$rc" "$w" "$c" "$(echo "$k / 1024" | bc -l)" "$fds" "$(gib "$inb")" "$proj" "$ts" "$tk" "$l0" "$l1")"
}
# run MODEL NAME IN_BYTES CMD...: measured, raw output kept under RESULTS
run() {
	local m=$1 name=$2 inb=$3
	shift 3
	local f=$res/$m.${name%% *}
	"$measure" "$f" "$@" >/dev/null
	row "$m" "$name" "$inb" "$res/tiny-$m.${name%% *}" "$f"
}
tiny() { "$measure" "$res/tiny-$1.$2" "${@:3}" >/dev/null; }

spec_of() { case $1 in v3) echo "$specs/full-v3.json" ;; v4-flash) echo "$specs/full-v4-flash.json" ;; v4-pro) echo "$specs/full-v4-pro.json" ;; esac; }

for m in $models; do
	ck=$work/$m
	# shellcheck disable=SC2086
	"$measure" "$res/$m.synth" "$synth" -q --sparse ${SYNTH_SETS:-} "$(spec_of "$m")" "$ck" >/dev/null
	inb=$(bytes_of "$ck"/*.safetensors)
	# the tiny one of the same family
	tk=$work/tiny-$m
	case $m in
	v3) cp -r "$root/fixtures/tiny-v3" "$tk" ;;
	*) "$synth" -q "$specs/tiny-v4.json" "$tk" ;;
	esac
	tb=$(bytes_of "$tk"/*.safetensors)
	nt=$("$bin/ckpt-inspect" "$ck" | awk '/^tensors/ {print $2}')
	ntt=$("$bin/ckpt-inspect" "$tk" | awk '/^tensors/ {print $2}')
	ns=$(ls "$ck"/*.safetensors | wc -l)
	nst=$(ls "$tk"/*.safetensors | wc -l)
	nl=$(awk -F: '/"num_hidden_layers"/ {gsub(/[ ,]/, "", $2); print $2}' "$ck/config.json")
	log "$(printf '%-9s %s tensors in %s shards, %s GiB (tiny: %s in %s, %s MiB: x%s tensors, x%s shards, x%s bytes); %s layers' \
		"$m" "$nt" "$ns" "$(gib "$inb")" "$ntt" "$nst" "$(awk -v b="$tb" 'BEGIN {printf "%.1f", b / 1048576}')" \
		$((nt / ntt)) $((ns / nst)) $((inb / tb)) "$nl")"
	row "$m" synth-sparse 0 "" "$res/$m.synth"
	if has inspect; then
		tiny "$m" inspect "$bin/ckpt-inspect" "$tk"
		run "$m" inspect 0 "$bin/ckpt-inspect" "$ck"
		tiny "$m" inspect-json "$bin/ckpt-inspect" --json "$tk"
		run "$m" inspect-json 0 "$bin/ckpt-inspect" --json "$ck"
	fi
	if has verify; then
		tiny "$m" verify "$bin/ckpt-verify" "$tk"
		run "$m" verify 0 "$bin/ckpt-verify" "$ck"
		grep -q '^model *passed' "$res/$m.verify.out" || log "  FAILED: the model check (see $m.verify.err)"
	fi
	part=$work/part-$m
	mkdir -p "$part"
	ls "$ck"/*.safetensors | head -n "$part_shards" | xargs -I{} ln -f {} "$part"/
	pb=$(bytes_of "$part"/*.safetensors)
	if has manifest; then
		tiny "$m" "write-manifest" "$bin/ckpt-verify" --write-manifest "$work/sums" "$tk"
		run "$m" "write-manifest ($part_shards shards)" "$pb" "$bin/ckpt-verify" --write-manifest "$work/sums" "$part"
	fi
	if has scan; then
		tiny "$m" "scan" "$bin/ckpt-verify" --scan "$tk"
		run "$m" "scan ($part_shards shards)" "$pb" "$bin/ckpt-verify" --scan "$part"
	fi
	if has bf16; then
		tiny "$m" bf16-tar bash -c "'$bin/ckpt-fp8-to-bf16' -q '$tk' - >/dev/null"
		run "$m" bf16-tar "$inb" bash -c "'$bin/ckpt-fp8-to-bf16' '$ck' - >/dev/null"
		log "  $(tail -n 1 "$res/$m.bf16-tar.err")"
	fi
	if has bf16-shard; then
		# the recipe's job, into a directory; layer 0 against a one-layer checkpoint's
		first=$(ls "$ck" | grep -m1 '\.safetensors$')
		tiny "$m" bf16-shard "$bin/ckpt-fp8-to-bf16" -q --shard "$(ls "$tk" | grep -m1 '\.safetensors$')" "$tk" "$work/tiny-out"
		rm -rf "$work/tiny-out"
		run "$m" "bf16-shard (shard 1, directory)" "$(bytes_of "$ck/$first")" "$bin/ckpt-fp8-to-bf16" -q --shard "$first" "$ck" "$work/out"
		one=$work/one-$m
		"$synth" -q --sparse --set shards=1 --set num_hidden_layers=1 --set first_k_dense_replace=1 \
			--set num_nextn_predict_layers=0 $([ "$m" != v3 ] && echo --set compress_ratios=[0] --set num_hash_layers=1) \
			"$(spec_of "$m")" "$one"
		"$bin/ckpt-fp8-to-bf16" -q "$one" "$work/one-out"
		sample() { "$bin/ckpt-inspect" --match "$2" "$1" | awk -v p="$3" '$1 ~ p {match($0, /\[[^]]*\]/); print $1, $2, substr($0, RSTART, RLENGTH)}' | sort; }
		case $m in v3) pat='model.layers.0.*' re='^model\.layers\.0\.' ;; *) pat='layers.0.*' re='^layers\.0\.' ;; esac
		a=$(sample "$work/out" "$pat" "$re") b=$(sample "$work/one-out" "$pat" "$re")
		if [ -n "$a" ] && [ -z "$(comm -23 <(echo "$a") <(echo "$b"))" ]; then
			log "  layer 0 of shard 1's BF16 output: $(echo "$a" | wc -l) tensors, names, dtypes and shapes as the one-layer checkpoint's conversion"
		else
			log "  FAILED: layer 0 of shard 1's BF16 output differs from the one-layer checkpoint's conversion"
			comm -23 <(echo "$a") <(echo "$b") | head -n 20 | tee -a "$table"
		fi
		rm -rf "$work/out" "$work/one-out" "$one"
	fi
	if has sharded; then
		tiny "$m" mp16-tar bash -c "'$bin/ckpt-hf-to-sharded' -q --model-parallel 2 '$tk' - >/dev/null"
		run "$m" "mp16-tar" "$inb" bash -c "'$bin/ckpt-hf-to-sharded' --model-parallel 16 '$ck' - >/dev/null"
		log "  $(tail -n 1 "$res/$m.mp16-tar.err")"
	fi
	if has ranks; then
		# scripts/hf-to-sharded-parallel.sh's command, OUTPUT_DIR - (one tar stream a rank)
		run "$m" "mp16-ranks (a job a rank, -j $jobs)" "$inb" bash -c "seq 0 15 | parallel -j $jobs '$bin/ckpt-hf-to-sharded --model-parallel 16 --rank {} $ck - 2>$work/rank{}.err >/dev/null'"
		one_pass=$(grep -o 'wrote [0-9]* files ([0-9.]* GiB)' "$res/$m.mp16-tar.err" 2>/dev/null)
		sum=$(cat "$work"/rank*.err | grep -o '([0-9.]* GiB)' | tr -d '(GiB)' | awk '{s += $1} END {printf "%.1f", s}')
		log "  16 rank jobs wrote $sum GiB in all (one pass: ${one_pass:-not run})"
	fi
	if has forward; then
		last=$((nl - 1))
		tiny "$m" forward "$bin/ckpt-verify" --checks none --forward --layers "0-$(($(awk -F: '/"num_hidden_layers"/ {gsub(/[ ,]/, "", $2); print $2}' "$tk/config.json") - 1))" "$tk"
		run "$m" "forward (--layers 0-$last)" "$inb" "$bin/ckpt-verify" --forward --layers "0-$last" "$ck"
		log "  $(grep -m1 '^forward' "$res/$m.forward.out")"
		grep -m1 -A1 '^forward *FAILED' "$res/$m.forward.out" | tail -n 1 | sed 's/^ */  /' | tee -a "$table"
	fi
	rm -rf "$ck" "$part" "$tk"
done

if has scaling; then
	log ""
	log "growth with the inventory (DeepSeek-V3 at 1/4, 1/2 and all of its layers; headers only): microseconds per tensor"
	log "$(printf '%-7s %8s %8s %12s %12s %12s %12s' layers tensors shards synth verify inspect inspect-json)"
	for nl in 15 30 61; do
		ck=$work/scale-$nl
		sh=$(((163 * nl + 60) / 61))
		"$measure" "$res/scale-$nl.synth" "$synth" -q --sparse --set num_hidden_layers=$nl --set shards=$sh "$specs/full-v3.json" "$ck" >/dev/null
		nt=$("$bin/ckpt-inspect" "$ck" | awk '/^tensors/ {print $2}')
		"$measure" "$res/scale-$nl.verify" "$bin/ckpt-verify" "$ck" >/dev/null
		"$measure" "$res/scale-$nl.inspect" "$bin/ckpt-inspect" "$ck" >/dev/null
		"$measure" "$res/scale-$nl.inspect-json" "$bin/ckpt-inspect" --json "$ck" >/dev/null
		per() { awk -v n="$nt" 'NR == 1 {printf "%.1f", $3 * 1e6 / n}' "$res/scale-$nl.$1"; }
		log "$(printf '%-7s %8s %8s %12s %12s %12s %12s' "$nl" "$nt" "$sh" "$(per synth)" "$(per verify)" "$(per inspect)" "$(per inspect-json)")"
		rm -rf "$ck"
	done
	log "(CPU time, user + system, per tensor; flat = linear in the tensors)"
fi
log ""
log "wall_s, cpu_s (user + system), rss (peak, GNU time), fds (most held by one ckpt process, sampled every 0.1 s);"
log "proj_s = max(wall, input bytes / disk read rate); tiny_*: the same run on the tiny checkpoint of the family"
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
# the listings (ckpt-inspect of 92k tensors) are kept as their first lines only
find "$res" -type f -name '*.out' -size +64k | while read -r f; do head -n 30 "$f" >"$f.head" && rm "$f"; done
