#!/usr/bin/env bash
# ckpt-verify on MindSpore checkpoints: the golden training and
# inference checkpoints and what ckpt-hf-to-sharded / ckpt-train-to-infer make pass
# --against their HF source --exact (the MTP layer's embed_tokens and shared_head, which
# MindSpore does not store, are not differences).
. "$CKPT_ROOT/tests/cli/lib.sh"
tool=$CKPT_BIN/ckpt-verify
if [ ! -x "$tool" ]; then
	echo "ok - verify on MindSpore checkpoints # SKIP ckpt-verify is not built"
	exit 0
fi

"$CKPT_BIN/ckpt-hf-to-sharded" -q --layout mindspore-train "$tiny" train
"$CKPT_BIN/ckpt-train-to-infer" -q train infer
"$CKPT_BIN/ckpt-train-to-infer" -q --transpose-experts train infer-t
for d in train infer infer-t; do
	run "$tool" --against "$tiny" --exact $d
	expect_rc "$d: --against the FP8 source --exact: exit 0" 0
	expect_has "$d: all 132 tensors bit-identical" "132 tensors compared with $tiny (layout hf, exact): 132 bit-identical"
done
expect_has "what MindSpore does not store is named, not compared" "; 3 that the mindspore-infer layout does not store, not compared"
run "$tool" --against train --exact "$tiny"
expect_rc "the other way round: exit 0" 0

need_golden "verify on the golden MindSpore checkpoints"
for d in tiny-v3.mstrain tiny-v3.mstrain.infer; do
	run "$tool" --against "$tiny" --exact "$CKPT_GOLDEN/$d"
	expect_rc "golden $d: --against the FP8 source --exact: exit 0" 0
done
run "$tool" "$CKPT_GOLDEN/tiny-v3.mstrain"
expect_line "golden training layout: the model check passes" \
	"model       passed   DeepSeek-V3: 135 tensors as config.json implies: none missing, none extra, shapes right (dtypes are the mindspore-train layout's own)"
