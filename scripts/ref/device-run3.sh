#!/bin/bash
# Device run that made fixtures/ref/{v31,v32,kimi} (run on the GPU machine from the repository
# root; scripts/ref/v3xref.py says what it makes).  Expects an ignored folder .dev/ carried
# to the machine, holding:
#   .dev/up/{fp8_cast_bf16.py,kernel.py,convert.py,model.py}  DeepSeek-V3 inference/ at 9b4e978
#   .dev/up32/convert.py                  DeepSeek-V3.2-Exp inference/convert.py (never committed)
#   .dev/v3x/{v31,v32,kimi}/              scripts/ref/v3x-inputs.sh build/dev/ckpt-synth .dev/v3x
#                                         (or .dev/v3x.tar.xz of it, unpacked there first)
#   .dev/ref/                             a copy of scripts/ref/ (the tree the device tool
#                                         sends is the session's checkout, maybe not this one)
# e.g., with M the DeepSeek-V3 mirror (fetch) and M32 the V3.2-Exp one:
#   for f in fp8_cast_bf16.py convert.py kernel.py model.py; do
#       git -C $M show 9b4e978:inference/$f >.dev/up/$f; done
#   git -C $M32 show HEAD:inference/convert.py >.dev/up32/convert.py
#   scripts/ref/v3x-inputs.sh build/dev/ckpt-synth .dev/v3x && (cd .dev && tar cJf v3x.tar.xz v3x && rm -r v3x)
#   cp scripts/ref/*.py scripts/ref/device-run3.sh .dev/ref/
# then run, carrying .dev:
#   tar xJf .dev/v3x.tar.xz -C .dev && bash .dev/ref/device-run3.sh
# Results come back through $OUT: per fixture NAME.tgz (the small files) and NAME-forward.tgz
# (the logits); the upstream tools' safetensors outputs stay there: their sha256 and their
# tensors' are in SHA256SUMS and tensors.json.
set -o pipefail
export PYTHONUNBUFFERED=1 UPSTREAM=$PWD/.dev/up UPSTREAM32=$PWD/.dev/up32
W=/tmp/v3x
rm -rf $W
{
echo "=== env $(date +%T)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
(cd .dev/v3x && sha256sum */*) >$OUT/inputs.sha256
# one fixture at a time, each packed as soon as it is made (a timeout still returns data);
# V3's convert.py on V3.1 and Kimi-K2, which the issue does not ask for, last
pack() {
	(cd $W && tar czf $OUT/$1.tgz --exclude='*.safetensors' --exclude=input $1 $1-headers.json versions.json;
		tar czf $OUT/$1-forward.tgz $1/forward)
	echo "=== packed $1 $(date +%T)"
}
python3 "$(dirname "$0")/v3xref.py" $W .dev/v3x v32 && pack v32
for n in v31 kimi; do V3X_STEPS=main python3 "$(dirname "$0")/v3xref.py" $W .dev/v3x $n && pack $n; done
for n in v31 kimi; do V3X_STEPS=convert python3 "$(dirname "$0")/v3xref.py" $W .dev/v3x $n && pack $n; done
ls -la $OUT
echo "=== done $(date +%T)"
} 2>&1 | tee $OUT/log
