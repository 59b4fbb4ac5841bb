#!/bin/bash
# The device run that made fixtures/ref/{v4,slime,v31,v32,kimi} (on the GPU machine, from the
# repository root). Expects an ignored folder .dev/ carried to the machine, holding:
#   .dev/bin/{ckpt-synth,ckpt-fp8-to-bf16}   static builds (the machine has no libarchive):
#       gcc -static -Wl,--unresolved-symbols=ignore-all build/fixtures/gen/ckpt-synth.o \
#           build/libckpt.a -lcrypto -lm -pthread -o .dev/bin/ckpt-synth    (likewise cmd/fp8-to-bf16.o)
#   .dev/up/{fp8_cast_bf16.py,kernel.py,convert.py,model.py}  DeepSeek-V3 inference/ at 9b4e978
#   .dev/up32/convert.py     DeepSeek-V3.2-Exp inference/convert.py
#   .dev/up4/convert.py      Mockingjay1316/deepseek-v4-flash-spark inference/convert.py at 0825add
#   .dev/slime/convert_hf_to_fp8.py   THUDM/slime tools/ at 624b824a8, with a three-function
#       stand-in for slime.utils.accelerator in .dev/slimestub/slime/utils/accelerator.py
# The inputs are made here by the same static ckpt-synth/ckpt-fp8-to-bf16 the tests run (the
# same bytes on every machine). Results come back through $OUT, one archive per fixture.
set -o pipefail
export PYTHONUNBUFFERED=1 UPSTREAM=$PWD/.dev/up UPSTREAM32=$PWD/.dev/up32 UPSTREAM4=$PWD/.dev/up4
W=/tmp/ref
rm -rf $W && mkdir -p $W/in
{
echo "=== env $(date +%T)"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c 'import torch, safetensors, transformers; print(torch.__version__, safetensors.__version__, transformers.__version__)'
chmod +x .dev/bin/*

echo "=== v4 $(date +%T)"
.dev/bin/ckpt-synth -q fixtures/specs/ref-v4.json $W/in/v4
python3 scripts/ref/v4ref.py $W $W/in/v4
(cd $W && tar czf $OUT/v4.tgz --exclude='*.safetensors' v4 v4-headers.json && tar cJf $OUT/v4-mp2.txz v4/convert_mp2_fp4 v4/convert_mp2_fp8)

echo "=== slime $(date +%T)"
.dev/bin/ckpt-fp8-to-bf16 -q fixtures/tiny-v3 $W/in/bf16
for v in block ue8m0; do
	extra=; [ $v = ue8m0 ] && extra="--scale-fmt ue8m0"
	PYTHONPATH=$PWD/.dev/slimestub python3 .dev/slime/convert_hf_to_fp8.py --model-dir $W/in/bf16 \
		--save-dir $W/slime/$v --strategy block --block-size 128 128 $extra 2>&1 | tail -3
done
(cd $W/slime && sha256sum */* >SHA256SUMS; cd $W && tar cJf $OUT/slime.txz slime)

echo "=== v3x $(date +%T)"
scripts/ref/v3x-inputs.sh .dev/bin/ckpt-synth $W/in/v3x
(cd $W/in/v3x && sha256sum */*) >$W/v3x-inputs.sha256
pack() {
	(cd $W/v3x && tar czf $OUT/$1.tgz --exclude=input --exclude="$1/convert_*/*.safetensors" \
		--exclude="$1/fp8_cast_bf16/*.safetensors" $1 $1-headers.json versions.json)
	echo "=== packed $1 $(date +%T)"
}
python3 scripts/ref/v3xref.py $W/v3x $W/in/v3x v32 && pack v32
for n in v31 kimi; do V3X_STEPS=main python3 scripts/ref/v3xref.py $W/v3x $W/in/v3x $n && pack $n; done
for n in v31 kimi; do V3X_STEPS=convert python3 scripts/ref/v3xref.py $W/v3x $W/in/v3x $n && pack $n; done
cp $W/v3x-inputs.sha256 $OUT/
echo "=== done $(date +%T)"
} 2>&1 | tee $OUT/log
