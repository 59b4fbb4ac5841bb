#!/usr/bin/env bash
# A file that is no safetensors file at all (text, an HTML error page, a pickle, a zip, a
# Git LFS pointer a clone without git-lfs leaves) is said to be one, by every tool that
# reads it, in one line: not only that a header length is over a limit.
. "$CKPT_ROOT/tests/cli/lib.sh"
S2=model-00002-of-00003.safetensors

# NAME and the first bytes of what such a file holds
printf 'This is not a checkpoint, only some text.\n' >text.safetensors
printf '<!DOCTYPE html>\n<html><body>404</body></html>\n' >html.safetensors
printf '\x80\x02cnumpy\n' >pickle.safetensors
printf 'PK\x03\x04\x14\x00\x00\x00\x08\x00' >zip.safetensors
printf 'version https://git-lfs.github.com/spec/v1\noid sha256:%064d\nsize 4242\n' 0 >lfs.safetensors

# the header length each reads as: its first 8 bytes, little-endian
hlen() { od -An -t u8 -N 8 "$1" | tr -d ' '; }

for f in text html pickle zip; do
	n=$(hlen $f.safetensors)
	run "$inspect" $f.safetensors
	expect_rc "inspect, $f: exit 2" 2
	expect_err "inspect, $f: not a safetensors file, with the length read" \
		"ckpt-inspect: $f.safetensors: not a safetensors file (header length $n is over the limit of 100000000 bytes)"
done
run "$inspect" --header zip.safetensors
expect_err "inspect --header: the same line" \
	"ckpt-inspect: zip.safetensors: not a safetensors file (header length $(hlen zip.safetensors) is over the limit of 100000000 bytes)"
run "$inspect" lfs.safetensors
expect_rc "a Git LFS pointer: exit 2" 2
expect_err "a Git LFS pointer: named, with what fetches the file" \
	"ckpt-inspect: lfs.safetensors: not a safetensors file but a Git LFS pointer to one (git lfs pull fetches it)"

# a checkpoint directory with one shard replaced by text, and by an LFS pointer
cp -r "$tiny" txt
cp text.safetensors txt/$S2
run "$verify" txt
expect_rc "verify: a shard that is text: exit 1" 1
expect_has "verify: the shard named as no safetensors file" \
	"txt/$S2: not a safetensors file (header length $(hlen text.safetensors) is over the limit of 100000000 bytes)"
run "$fp8" txt fp8-out
expect_rc "fp8-to-bf16: exit 2" 2
expect_err "fp8-to-bf16: one line, the shard named" \
	"ckpt-fp8-to-bf16: txt/$S2: not a safetensors file (header length $(hlen text.safetensors) is over the limit of 100000000 bytes)"
check "fp8-to-bf16: nothing written" test ! -e fp8-out
cp -r "$tiny" lfs
cp lfs.safetensors lfs/$S2
run "$sharded" --model-parallel 2 lfs mp-out
expect_rc "hf-to-sharded, an LFS pointer for a shard: exit 2" 2
expect_err "hf-to-sharded, an LFS pointer for a shard: named" \
	"ckpt-hf-to-sharded: lfs/$S2: not a safetensors file but a Git LFS pointer to one (git lfs pull fetches it)"

# a real header that is cut short is not called something else
head -c 1000 "$tiny/$S2" >cut.safetensors
run "$inspect" cut.safetensors
expect_err "a file cut inside its header: still said so" \
	"ckpt-inspect: cut.safetensors: header length $(hlen cut.safetensors) runs past the end of the file (1000 bytes)"
