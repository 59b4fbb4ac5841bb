#!/usr/bin/env bash
# fixtures/ref: every committed data file is listed in its SHA256SUMS and still has that hash
# (the sums were taken on the GPU machine that made the data; see fixtures/ref/README.md).
set -u
ref=${CKPT_ROOT:?}/fixtures/ref
for d in "$ref"/partial "$ref"/noqlora-softmax "$ref"/sigmoid-1group "$ref"/fp8cases "$ref"/v31 "$ref"/v32 "$ref"/kimi "$ref"/v32-sparse "$ref"/v4-forward; do
	name=refdata-$(basename "$d")
	if bad=$(cd "$d" && sha256sum --quiet -c --ignore-missing SHA256SUMS 2>&1) && [ -z "$bad" ]; then
		echo "ok - $name: hashes match SHA256SUMS"
	else
		echo "not ok - $name: hashes differ from SHA256SUMS"
		echo "$bad" | head -5 | sed 's/^/#   /'
	fi
	unlisted=$(cd "$d" && find . -type f ! -name SHA256SUMS ! -name report.json ! -name tensors.json ! -name CASES.json \
		! -name README.md | sed 's|^\./||' | sort | comm -23 - <(awk '{print $2}' SHA256SUMS | sort))
	if [ -z "$unlisted" ]; then
		echo "ok - $name: every data file is listed"
	else
		echo "not ok - $name: files not in SHA256SUMS: $(echo $unlisted | head -c 200)"
	fi
done
