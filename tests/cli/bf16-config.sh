#!/usr/bin/env bash
# BF16 weights under a config.json that declares FP8 (issue 14, item 1): a converter that
# writes BF16 weights writes config.json without quantization_config, and ckpt-verify
# reports such a config as one problem that says how to fix it, not one per weight and
# scale.
. "$CKPT_ROOT/tests/cli/lib.sh"

# the fixture's config.json without quantization_config, every other byte kept (it ends
# without a newline, as json.dump writes it)
unq() { printf %s "$(grep -v '"quantization_config": {' "$1" | sed '/"activation_scheme"/,/^  },$/d')"; }
unq "$tiny/config.json" >config.unq
check "setup: the config without quantization_config differs" eval '! cmp -s config.unq "$tiny/config.json"'

"$fp8" -q "$tiny" bf16 || not_ok "setup: fp8-to-bf16"
check "fp8-to-bf16 writes config.json without quantization_config" cmp -s config.unq bf16/config.json

# --- the man page's route: --config of the FP8 checkpoint over its BF16 weights ---
run "$sharded" --model-parallel 4 --config "$tiny/config.json" bf16 mp4
expect_rc "hf-to-sharded --config FP8 over BF16: exit 0" 0
check "... the warning says what was done" grep -qxF \
	"ckpt-hf-to-sharded: warning: $tiny/config.json declares FP8 weights (quantization_config) but those of bf16 are BF16: config.json written without quantization_config" err
check "... config.json without quantization_config, every other byte kept" cmp -s config.unq mp4/config.json
run "$verify" mp4
expect_rc "... and ckpt-verify passes the output" 0
# the same as fp8_cast_bf16.py leaves it: config.json untouched beside BF16 shards
cp -r bf16 castpy && cp "$tiny/config.json" castpy/
run "$sharded" -q --model-parallel 2 castpy mp2
check "fp8_cast_bf16.py's output (config untouched): the same, -q silent" eval \
	'[ $rc -eq 0 ] && [ ! -s err ] && cmp -s config.unq mp2/config.json'
run "$sharded" -q --model-parallel 2 --rank 0 castpy r0
check "--rank 0 (which writes the side files): the same config" cmp -s config.unq r0/config.json
# FP8 weights: the config copied as it is
"$sharded" -q --model-parallel 1 "$tiny" fp8mp1
expect_same "FP8 weights: config.json copied unchanged" "$tiny/config.json" fp8mp1/config.json

# --- the MindSpore training layout is dequantized; train-to-infer copies a config ---
"$sharded" -q --layout mindspore-train "$tiny" ms
check "--layout mindspore-train: config.json without quantization_config" cmp -s config.unq ms/config.json
cp "$tiny/config.json" ms/config.json
"$t2i" -q ms msi
check "train-to-infer: config.json without quantization_config" cmp -s config.unq msi/config.json

# --- ckpt-verify: one named problem, with the fix ---
run "$verify" castpy
expect_rc "verify: FP8 config over BF16 weights: exit 1" 1
expect_line "verify: one problem naming config.json, saying how to fix it" \
	"  castpy/config.json: declares FP8 weights (quantization_config) but none is stored in FP8: remove quantization_config from it, as ckpt-fp8-to-bf16 writes it for BF16 weights"
expect_line "verify: the model check's summary" \
	"model       FAILED   135 tensors expected from config.json: its quantization_config declares the BF16 weights FP8"
expect_line "verify: 1 problem, not 144" "result: FAILED, 1 problem in 1 check"
run "$verify" --json castpy
expect_eq "verify --json: 1 problem" "$("$jsonq" report.problems <out)" 1
# the rest of the check still runs, against the config read without it
cp -r castpy gone
cp "$tiny/config.json" mp4/config.json
run "$verify" mp4
check "a model-parallel directory with the FP8 config: the one problem" eval \
	'[ $rc -eq 1 ] && grep -qxF "result: FAILED, 1 problem in 1 check" out && grep -qF "mp4/config.json: declares FP8 weights (quantization_config)" out'
# a config that is also wrong otherwise: that problem too, as for a BF16 config
sed 's/"vocab_size": [0-9]*/"vocab_size": 4096/' castpy/config.json >gone/config.json
cmp -s gone/config.json castpy/config.json && not_ok "setup: vocab_size edited"
run "$verify" gone
check "another difference is still reported beside it" eval \
	'[ $rc -eq 1 ] && grep -qF "gone/config.json: declares FP8 weights" out && grep -q "shape \[[0-9]*, [0-9]*\], config.json implies \[4096" out'
# FP8 weights under the FP8 config, and BF16 weights under a BF16 config: pass as before
run "$verify" -q "$tiny"
expect_rc "FP8 weights, FP8 config: passes" 0
run "$verify" -q bf16
expect_rc "BF16 weights, BF16 config: passes" 0
# the MindSpore layouts store their own dtypes: not concerned
run "$verify" -q ms
expect_rc "MindSpore training layout with the FP8 config: dtypes not checked, passes" 0
