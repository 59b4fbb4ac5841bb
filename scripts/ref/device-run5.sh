#!/bin/bash
# The device run that made fixtures/ref/{v32-sparse,v4-forward} (scripts/ref/sparseref.py), on
# the GPU machine from the repository root, with .dev/bin as device-run4.sh describes it.
set -o pipefail
export PYTHONUNBUFFERED=1
W=/tmp/sp
rm -rf $W && mkdir -p $W/in
{
chmod +x .dev/bin/*
.dev/bin/ckpt-synth -q fixtures/specs/fwd-v32.json $W/in/v32-fp8
.dev/bin/ckpt-fp8-to-bf16 -q $W/in/v32-fp8 $W/in/v32
.dev/bin/ckpt-synth -q fixtures/specs/fwd-v4.json $W/in/v4
(cd $W/in && sha256sum v32/* v4/*) >$W/inputs.sha256
python3 scripts/ref/sparseref.py $W/out $W/in
cp $W/inputs.sha256 $W/out/
(cd $W/out && tar czf $OUT/sparse.tgz --exclude=_v4bf16 .)
echo "=== done $(date +%T)"
} 2>&1 | tee $OUT/log
