#!/usr/bin/env bash
# ckpt-hf-to-sharded's OUTPUT_DIR "-", as every converter's: the files as one tar stream on
# standard output, in both layouts, the same bytes as a directory written by the same
# command (its run records aside); --json, which reports on standard output too, refused.
. "$CKPT_ROOT/tests/cli/lib.sh"

untar() { rm -rf "$2" && mkdir "$2" && tar xf "$1" -C "$2"; }
# a directory output without the records only a directory has (.ckpt-run.*)
no_records() { rm -f "$1"/.ckpt-run.json "$1"/.ckpt-run.sha256; }

"$sharded" --model-parallel 2 "$tiny" - >mp2.tar 2>err
rc=$?
expect_rc "--model-parallel 2 to a tar stream: exit 0" 0
check "... the line on stderr says so" eval \
	'grep -qxE "ckpt-hf-to-sharded: wrote 6 files \([0-9.]+ MiB\) as a tar stream to standard output in [0-9.]+ s; MTP layer 3 left out \(76 tensors\), as convert.py does" err'
check "... nothing written here but the stream" eval '[ "$(ls -A | LC_ALL=C sort | tr "\n" " ")" = "err mp2.tar " ]'
untar mp2.tar t2
"$sharded" -q --model-parallel 2 "$tiny" d2
no_records d2
check "... the same files, byte for byte, as into a directory" same_tree t2 d2
check "... convert.py's rank files among them" eval '[ -f t2/model0-mp2.safetensors ] && [ -f t2/model1-mp2.safetensors ]'

"$sharded" --model-parallel 2 --rank 1 "$tiny" - >r1.tar 2>/dev/null
check "--rank 1 to a tar stream: that rank's file alone" eval \
	'[ "$(tar tf r1.tar | tr "\n" " ")" = "model1-mp2.safetensors " ]'

"$sharded" --layout mindspore-train "$tiny" - >ms.tar 2>err
rc=$?
expect_rc "--layout mindspore-train to a tar stream: exit 0" 0
untar ms.tar tm
"$sharded" -q --layout mindspore-train "$tiny" dm
no_records dm
check "... the same files, byte for byte, as into a directory" same_tree tm dm

run "$sharded" --json --model-parallel 2 "$tiny" -
expect_rc "--json with a tar stream: refused (exit 2)" 2
expect_err "... in one line" \
	"ckpt-hf-to-sharded: --json reports on standard output, which OUTPUT_DIR - takes for the tar stream (see ckpt-hf-to-sharded --help)"
check "... no directory named -" test ! -e -
