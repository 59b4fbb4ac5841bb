#!/usr/bin/env bash
# Hashing throughput of ckpt-verify --write-manifest against sha256sum and GNU parallel
# sha256sum on the same files, and against the goal: 0.9 x cores x single-core OpenSSL
# SHA-256, with as many files as cores, read two ways: `openssl speed` (hashing a buffer in
# the cache, compute only) and `openssl dgst -sha256` of one of the files (OpenSSL hashing a
# file from the page cache, reads included).  All in one run, medians of RUNS runs, page cache
# warm (the files are read once before timing: this measures hashing, not the disk).
# The files are valid safetensors shards (one U8 tensor each) of random bytes.
# Usage: bench/verify-sha256.sh [MB PER FILE (default 384, at most 4 GB in all)] [RUNS (default 3)] [DIR]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cores=$(nproc)
mb=${1:-384}
runs=${2:-3}
dir=${3:-${TMPDIR:-/tmp}}
[ $((mb * cores)) -le 4096 ] || mb=$((4096 / cores))
verify=${CKPT_BIN:-$root/bin}/ckpt-verify
work=$(mktemp -d "$dir/verify-sha256.XXXXXX")
trap 'rm -rf "$work"' EXIT

secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
le64() { local v=$1 s="" i; for ((i = 0; i < 8; i++)); do s+=$(printf '\\%03o' $(((v >> (8 * i)) & 255))); done; printf "$s"; }

# N shards: 8-byte header length, the JSON header padded to 8, random data (AES-CTR of zeros)
bytes=$((mb * 1000000))
mkdir "$work/ck"
for ((i = 1; i <= cores; i++)); do
	h="{\"x\":{\"dtype\":\"U8\",\"shape\":[$bytes],\"data_offsets\":[0,$bytes]}}"
	while [ $((${#h} % 8)) -ne 0 ]; do h+=" "; done
	f=$(printf '%s/ck/model-%05d-of-%05d.safetensors' "$work" "$i" "$cores")
	{ le64 ${#h}; printf '%s' "$h"; head -c "$bytes" /dev/zero |
		openssl enc -aes-128-ctr -K "$(printf '%032x' "$i")" -iv 0 -nosalt 2>/dev/null; } >"$f"
done
files=("$work"/ck/*.safetensors)
total=$(du -cb "${files[@]}" | tail -n 1 | cut -f1)
cat "${files[@]}" >/dev/null

# single core: OpenSSL's own figure (16 KiB blocks), and ckpt-verify -j 1 on one file
ossl=$(openssl speed -seconds 3 -bytes 16384 -evp sha256 2>/dev/null | awk '/^sha256/ {v=$NF; sub("k","",v); print v * 1000}')
one_t=() v_t=() s_t=() p_t=() o_t=()
mkdir "$work/one"
ln "${files[0]}" "$work/one/"
one_bytes=$(stat -c %s "${files[0]}")
for ((r = 0; r < runs; r++)); do
	one_t+=("$(secs "$verify" --write-manifest "$work/one.sha" -j 1 "$work/one")")
	o_t+=("$(secs openssl dgst -sha256 "${files[0]}")")
	v_t+=("$(secs "$verify" --write-manifest "$work/m.sha" -j "$cores" "$work/ck")")
	s_t+=("$(secs sha256sum "${files[@]}")")
	p_t+=("$(secs parallel -j "$cores" sha256sum ::: "${files[@]}")")
done
one=$(printf '%s\n' "${one_t[@]}" | median)
v=$(printf '%s\n' "${v_t[@]}" | median)
s=$(printf '%s\n' "${s_t[@]}" | median)
p=$(printf '%s\n' "${p_t[@]}" | median)
o=$(printf '%s\n' "${o_t[@]}" | median)
mbs() { echo "$1 / $2 / 1000000" | bc -l; }
(cd "$work/ck" && sha256sum --quiet -c "$work/m.sha") || { echo "manifest does not check with sha256sum -c" >&2; exit 1; }

printf '%d files of %d MB (%d cores), %d bytes, page cache warm, medians of %d runs\n' "$cores" "$mb" "$cores" "$total" "$runs"
printf '%-40s %8.0f MB/s\n' "openssl speed -evp sha256 (1 core)" "$(echo "$ossl / 1000000" | bc -l)"
printf '%-40s %8.0f MB/s  %6.2f s\n' "openssl dgst -sha256, one file (1 core)" "$(mbs "$one_bytes" "$o")" "$o"
printf '%-40s %8.0f MB/s  %6.2f s\n' "ckpt-verify -j 1, one file (1 core)" "$(mbs "$one_bytes" "$one")" "$one"
printf '%-40s %8.0f MB/s  %6.2f s\n' "sha256sum FILES" "$(mbs "$total" "$s")" "$s"
printf '%-40s %8.0f MB/s  %6.2f s\n' "parallel -j $cores sha256sum ::: FILES" "$(mbs "$total" "$p")" "$p"
printf '%-40s %8.0f MB/s  %6.2f s\n' "ckpt-verify --write-manifest -j $cores" "$(mbs "$total" "$v")" "$v"
goal=$(echo "0.9 * $cores * $ossl" | bc -l)
ratio=$(echo "$total / $v / ($cores * $ossl)" | bc -l)
printf 'ckpt-verify / sha256sum: %.2f   / parallel sha256sum: %.2f\n' "$(echo "$s / $v" | bc -l)" "$(echo "$p / $v" | bc -l)"
printf 'ckpt-verify / (cores x single-core OpenSSL): %.2f  (goal >= 0.90: %s)\n' "$ratio" \
	"$(echo "$total / $v >= $goal" | bc -l | sed 's/1/met/;s/0/NOT met/')"
printf 'ckpt-verify / (cores x openssl dgst -sha256 on one file): %.2f  (the same goal against OpenSSL hashing a file: %s)\n' \
	"$(echo "($total / $v) / ($cores * $one_bytes / $o)" | bc -l)" \
	"$(echo "($total / $v) >= 0.9 * $cores * $one_bytes / $o" | bc -l | sed 's/1/met/;s/0/NOT met/')"
printf 'ckpt-verify -j %d / (cores x ckpt-verify -j 1 on one file): %.2f  (parallel scaling, reads included)\n' "$cores" \
	"$(echo "($total / $v) / ($cores * $one_bytes / $one)" | bc -l)"
