#!/bin/bash
# Device run that made fixtures/ref (run on the GPU machine from the repository root).
# Expects an ignored folder .dev/ carried to the machine, holding:
#   .dev/up/{fp8_cast_bf16.py,convert.py,kernel.py,model.py}  DeepSeek-V3 inference/ files (never committed)
#   .dev/refgen.py .dev/tiny-v3.json                          copies of ../shared/tools/
#   .dev/golden/{SHA256SUMS,tiny-v3.hf-logits.safetensors}    copies of ../shared/golden/
#   .dev/ref/                                                 a copy of scripts/ref/
# Results come back through $OUT as tarballs; see fixtures/ref/README.md for what went where.
# Packs after each stage so a timeout still returns data.
set -o pipefail
export PYTHONUNBUFFERED=1 UPSTREAM=$PWD/.dev/up REFGEN_DIR=$PWD/.dev
R=$PWD
W=/tmp/work; rm -rf $W; mkdir -p $W/src
stage() { echo; echo "=== $1 $(date +%T)"; }
{
stage env
nvidia-smi --query-gpu=name,driver_version --format=csv
python3 -c "import torch, transformers, triton, safetensors; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'triton', triton.__version__, 'safetensors', safetensors.__version__)"
T=$(python3 -c "import transformers, os; print(os.path.dirname(transformers.__file__))")
cp $T/models/deepseek_v3/modeling_deepseek_v3.py $T/models/deepseek_v3/configuration_deepseek_v3.py $T/modeling_rope_utils.py $W/src/
stage fp8cases
python3 .dev/ref/fp8cases.py make $W/fp8cases/in && python3 .dev/ref/fp8cases.py device $W/fp8cases/in $UPSTREAM $W/fp8cases/out
(cd $W && tar czf $OUT/fp8cases.tgz fp8cases src)
stage models
python3 .dev/ref/modelref.py fixtures $W/model .dev/ref/specs/partial.json .dev/ref/specs/noqlora-softmax.json .dev/ref/specs/sigmoid-1group.json
(cd $W/model && tar czf $OUT/model-partial.tgz partial && tar czf $OUT/model-small.tgz noqlora-softmax sigmoid-1group versions.json)
stage sanity
python3 .dev/ref/modelref.py sanity $W/sanity .dev/golden/SHA256SUMS .dev/golden/tiny-v3.hf-logits.safetensors .dev/tiny-v3.json
cp $W/sanity/sanity.json $W/sanity/report.json $OUT/ 2>/dev/null; mv $OUT/report.json $OUT/sanity-refgen-report.json 2>/dev/null
stage done
ls -la $OUT
} 2>&1 | tee $OUT/log
