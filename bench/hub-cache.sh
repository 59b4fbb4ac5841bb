#!/usr/bin/env bash
# ckpt-verify on a Hugging Face hub cache snapshot (check "hub": every blob hashed against its
# name) against --manifest on the same bytes (the snapshot read as a plain directory, its
# sums given), in the same run: the ratio should be 1 (the same hashing, the same threads).
# As many shards as cores, of random bytes (valid safetensors: one U8 tensor each), named by
# their SHA-256 in blobs/, linked from snapshots/COMMIT; page cache warm; medians of RUNS.
# Usage: bench/hub-cache.sh [MB PER FILE (default 256, at most 4 GB in all)] [RUNS (default 3)] [DIR]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cores=$(nproc)
mb=${1:-256}
runs=${2:-3}
dir=${3:-${TMPDIR:-/tmp}}
[ $((mb * cores)) -le 4096 ] || mb=$((4096 / cores))
verify=${CKPT_BIN:-$root/bin}/ckpt-verify
work=$(mktemp -d "$dir/hub-cache.XXXXXX")
trap 'rm -rf "$work"' EXIT

secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
le64() { local v=$1 s="" i; for ((i = 0; i < 8; i++)); do s+=$(printf '\\%03o' $(((v >> (8 * i)) & 255))); done; printf "$s"; }

C=0123456789abcdef0123456789abcdef01234567
repo=$work/models--bench--random
snap=$repo/snapshots/$C
mkdir -p "$repo/blobs" "$repo/refs" "$snap"
printf %s "$C" >"$repo/refs/main"
bytes=$((mb * 1000000))
for ((i = 1; i <= cores; i++)); do
	h="{\"x\":{\"dtype\":\"U8\",\"shape\":[$bytes],\"data_offsets\":[0,$bytes]}}"
	while [ $((${#h} % 8)) -ne 0 ]; do h+=" "; done
	name=$(printf 'model-%05d-of-%05d.safetensors' "$i" "$cores")
	{ le64 ${#h}; printf '%s' "$h"; head -c "$bytes" /dev/zero |
		openssl enc -aes-128-ctr -K "$(printf '%032x' "$i")" -iv 0 -nosalt 2>/dev/null; } >"$work/f"
	sha=$(sha256sum "$work/f" | cut -c1-64)
	mv "$work/f" "$repo/blobs/$sha"
	ln -s "../../blobs/$sha" "$snap/$name"
	printf '%s  %s\n' "$sha" "$name" >>"$work/SHA256SUMS"
done
total=$(du -cbL "$snap"/* | tail -n 1 | cut -f1)
cat "$repo"/blobs/* >/dev/null

"$verify" --checks hub "$snap" >/dev/null || { echo "the hub check failed on the bench cache" >&2; exit 1; }
h_t=() m_t=()
for ((r = 0; r < runs; r++)); do
	h_t+=("$(secs "$verify" --checks hub -j "$cores" "$snap")")
	m_t+=("$(secs "$verify" --checks none --manifest "$work/SHA256SUMS" -j "$cores" "$snap")")
done
hub=$(printf '%s\n' "${h_t[@]}" | median)
man=$(printf '%s\n' "${m_t[@]}" | median)
mbs() { echo "$1 / $2 / 1000000" | bc -l; }
printf '%d files of %d MB (%d cores), %d bytes, page cache warm, medians of %d runs\n' "$cores" "$mb" "$cores" "$total" "$runs"
printf '  ckpt-verify --checks hub (blob names)    %6.2f s  %7.0f MB/s\n' "$hub" "$(mbs "$total" "$hub")"
printf '  ckpt-verify --manifest (same bytes)      %6.2f s  %7.0f MB/s\n' "$man" "$(mbs "$total" "$man")"
printf '  hub / manifest time ratio                %6.2f\n' "$(echo "$hub / $man" | bc -l)"
