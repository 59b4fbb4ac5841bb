#!/usr/bin/env bash
# The MindSpore training layout is built by roles (formats/ms_from_hf.c): DeepSeek-V3.2's
# indexer has no names there, so ckpt-hf-to-sharded --layout mindspore-train refuses V3.2
# rather than write it without its indexer (it did, exit 0).
. "$CKPT_ROOT/tests/cli/lib.sh"
"$synth" -q "$CKPT_ROOT/fixtures/specs/tiny-v32.json" v32 >/dev/null 2>synth.err || cat synth.err
run "$CKPT_BIN/ckpt-hf-to-sharded" --layout mindspore-train v32 ms
expect_rc "V3.2 to the MindSpore training layout: refused, exit 2" 2
expect_err "... said why" \
	"ckpt-hf-to-sharded: v32: DeepSeek-V3.2's indexer (config.json's index_n_heads) has no names in MindSpore Transformers' training layout: not converted"
expect_eq "... nothing written" "$(ls -A ms 2>/dev/null | wc -l)" 0
exit 0
