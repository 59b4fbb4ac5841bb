#!/usr/bin/env bash
# A model-parallel directory without all its ranks, model0..model{N-1}-mp{N}.safetensors of
# one N: every tool that reads one says so in one line naming the directory and the ranks
# missing.  The converters (ckpt-to-hf, ckpt-hf-to-sharded --layout mindspore-train) refuse
# it before opening anything (exit 2, nothing written); ckpt-inspect refuses it; ckpt-verify
# reads the ranks there are and reports the line among its findings.
. "$CKPT_ROOT/tests/cli/lib.sh"
tohf=$CKPT_BIN/ckpt-to-hf
whole=": a model-parallel checkpoint is converted whole"

# refused NAME MESSAGE CMD...: exit 2, MESSAGE the one line on stderr, o not created
refused() {
	local name=$1 msg=$2
	shift 2
	run "$@" o
	if [ "$rc" -eq 2 ] && [ "$(cat err)" = "$msg" ] && [ ! -e o ] && [ ! -s out ]; then ok "$name"
	else not_ok "$name" "exit $rc, stderr: $(cat err)" "wanted: $msg" "$([ -e o ] && echo o exists)"; fi
}
# partial NAME FROM RANK...: a copy of FROM without those ranks' files
partial() {
	local name=$1 from=$2 r
	shift 2
	cp -r "$from" "$name" && chmod -R u+w "$name" || not_ok "setup: $name"
	for r in "$@"; do rm "$name/model$r-mp${from#mp}.safetensors"; done
}

"$sharded" -q --model-parallel 2 "$tiny" mp2 || not_ok "setup: mp 2"
"$fp8" -q "$tiny" bf16 || not_ok "setup: BF16"
"$sharded" -q --model-parallel 4 bf16 mp4 || not_ok "setup: mp 4"

# --- the converters: one line, exit 2, nothing written ---
partial last mp2 1
refused "to-hf: the last rank missing" "ckpt-to-hf: last: rank 1 of 2 is missing (model1-mp2.safetensors)$whole" \
	"$tohf" last
partial first mp2 0
refused "to-hf: the first rank missing" "ckpt-to-hf: first: rank 0 of 2 is missing (model0-mp2.safetensors)$whole" \
	"$tohf" --like "$tiny" first
partial two mp4 1 2
refused "to-hf: two of four missing, both named" \
	"ckpt-to-hf: two: ranks 1, 2 of 4 are missing (model1-mp4.safetensors, model2-mp4.safetensors)$whole" \
	"$tohf" --drop-mtp two
partial three mp4 0 1 3
refused "to-hf: three of four missing" \
	"ckpt-to-hf: three: ranks 0, 1, 3 of 4 are missing (model0-mp4.safetensors, model1-mp4.safetensors, model3-mp4.safetensors)$whole" \
	"$tohf" three
refused "to-hf --layout dsmp: the same line" "ckpt-to-hf: last: rank 1 of 2 is missing (model1-mp2.safetensors)$whole" \
	"$tohf" --layout dsmp last
refused "hf-to-sharded --layout mindspore-train: the same line" \
	"ckpt-hf-to-sharded: two: ranks 1, 2 of 4 are missing (model1-mp4.safetensors, model2-mp4.safetensors)$whole" \
	"$sharded" --layout mindspore-train two
refused "hf-to-sharded --model-parallel: the layout refused first, as before" \
	"ckpt-hf-to-sharded: last: a DeepSeek model-parallel checkpoint (layout dsmp); ckpt-hf-to-sharded reads an HF checkpoint" \
	"$sharded" --model-parallel 2 last

# two parallelisms: named by their first files, smallest first, whatever the listing order
mkdir mixed mixed2
cp mp2/config.json mp2/model0-mp2.safetensors mp4/model1-mp4.safetensors mixed/
cp mp4/model3-mp4.safetensors mp2/model1-mp2.safetensors mp4/model0-mp4.safetensors mixed2/
refused "to-hf: model0-mp2 + model1-mp4" \
	"ckpt-to-hf: mixed: holds rank files of model parallelism 2 and 4 (model0-mp2.safetensors, model1-mp4.safetensors): not one checkpoint" \
	"$tohf" mixed
refused "to-hf: a whole mp 2 beside part of an mp 4" \
	"ckpt-to-hf: mixed2: holds rank files of model parallelism 2 and 4 (model1-mp2.safetensors, model0-mp4.safetensors): not one checkpoint" \
	"$tohf" mixed2

# the names alone decide, before any file is read: many ranks missing (the first three
# named), a parallelism of a million with one rank (nothing sized by it)
mkdir eight million
cp mp2/model0-mp2.safetensors eight/model0-mp8.safetensors
cp mp2/model0-mp2.safetensors eight/model4-mp8.safetensors
: >million/model999999-mp1000000.safetensors
refused "to-hf: six of eight missing: three named, the rest counted" \
	"ckpt-to-hf: eight: ranks 1, 2, 3 and 3 more of 8 are missing (model1-mp8.safetensors, model2-mp8.safetensors, model3-mp8.safetensors, ...)$whole" \
	"$tohf" eight
refused "to-hf: one rank of a million" \
	"ckpt-to-hf: million: ranks 0, 1, 2 and 999996 more of 1000000 are missing (model0-mp1000000.safetensors, model1-mp1000000.safetensors, model2-mp1000000.safetensors, ...)$whole" \
	"$tohf" million

# --- ckpt-inspect: the same line, without the converter's words ---
run "$inspect" last
expect_rc "inspect: a rank missing: exit 2" 2
expect_err "inspect: the ranks missing named" "ckpt-inspect: last: rank 1 of 2 is missing (model1-mp2.safetensors)"
run "$inspect" mixed
expect_err "inspect: two parallelisms named" \
	"ckpt-inspect: mixed: holds rank files of model parallelism 2 and 4 (model0-mp2.safetensors, model1-mp4.safetensors): not one checkpoint"

# --- ckpt-verify: reads what is there, reports the line once among the structure's findings ---
run "$verify" two
check "verify: a partial directory fails the structure check (exit 1), the ranks named once" eval \
	'[ $rc -eq 1 ] && [ "$(grep -c "^  two: ranks 1, 2 of 4 are missing (model1-mp4.safetensors, model2-mp4.safetensors)\$" out)" = 1 ] &&
	 ! grep -q "No such file" out && grep -q "^structure  *FAILED" out'
run "$verify" first
check "verify: rank 0 missing: named, rank 1 read" eval \
	'[ $rc -eq 1 ] && grep -q "^  first: rank 0 of 2 is missing (model0-mp2.safetensors)\$" out &&
	 grep -q "rank 0 does not hold it" out'
