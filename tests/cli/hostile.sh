#!/usr/bin/env bash
# Hostile input through the tools (fixtures/bad holds the malformed files, checked through
# ckpt-inspect by bad-corpus.sh): symbolic links leading out of a checkpoint, to shards or
# to the side files the converters copy, refused by every tool with the same named error;
# the links allowed (inside the directory, the Hugging Face hub cache, CKPT_FOLLOW_SYMLINKS=1);
# index names with "..", nesting deep enough to exhaust a recursive parser, and a header
# claiming a terabyte, refused by the converters as by ckpt-inspect; tar entries leading out of
# the archive's directory, refused by ckpt-verify.
. "$CKPT_ROOT/tests/cli/lib.sh"
bad=$CKPT_ROOT/fixtures/bad
FOLLOW="leads outside the checkpoint directory (CKPT_FOLLOW_SYMLINKS=1 follows it)"

# every tool, one bad checkpoint: exit 2, the one message, nothing written
every_tool() { # NAME DIR MESSAGE (with DIR as the tools are given it)
	local t
	for t in inspect fp8 sharded; do
		case $t in
		inspect) run "$inspect" "$2" ;;
		fp8) run "$fp8" "$2" out-$t ;;
		sharded) run "$sharded" --model-parallel 2 "$2" out-$t ;;
		esac
		local prog=ckpt-${t/fp8/fp8-to-bf16}
		prog=${prog/sharded/hf-to-sharded}
		if [ "$rc" -eq 2 ] && [ "$(cat err)" = "$prog: $3" ] && [ ! -e "out-$t" ]; then
			ok "$1: $prog refuses it, exit 2, nothing written"
		else
			not_ok "$1: $prog refuses it, exit 2, nothing written" "exit $rc" "stderr: $(cat err)" \
				"wanted: $prog: $3"
		fi
		rm -rf "out-$t"
	done
}

cp -r "$bad/symlink-shard" "$bad/outside" .
every_tool "a shard linked outside the checkpoint" symlink-shard \
	"symlink-shard/model-00002-of-00002.safetensors: symbolic link to \"../outside/model-00002-of-00002.safetensors\" $FOLLOW"
cp -r "$bad/symlink-config" .
every_tool "config.json linked to /etc/passwd" symlink-config \
	"symlink-config/config.json: symbolic link to \"/etc/passwd\" $FOLLOW"
cp -r "$bad/symlink-index" .
every_tool "the index linked outside" symlink-index \
	"symlink-index/model.safetensors.index.json: symbolic link to \"../outside/model.safetensors.index.json\" $FOLLOW"
cp -r "$bad/index-dotdot" .
every_tool "a weight_map file name with .." index-dotdot \
	"index-dotdot/model.safetensors.index.json: weight_map entry \"a\": file name \"../model-00001-of-00002.safetensors\" is a path that leaves the checkpoint directory"
cp -r "$bad/index-absolute" .
every_tool "a weight_map file name that is absolute" index-absolute \
	"index-absolute/model.safetensors.index.json: weight_map entry \"a\": file name \"/etc/passwd\" is an absolute path"
cp -r "$bad/config-too-deep" .
every_tool "config.json nested 800 deep" config-too-deep \
	"config-too-deep/config.json: invalid JSON: more than 127 nested arrays and objects at line 1 column 648"
cp -r "$bad/index-too-deep" .
every_tool "an index nested 4000 deep" index-too-deep \
	"index-too-deep/model.safetensors.index.json: invalid JSON: more than 127 nested arrays and objects at line 1 column 140"
mkdir huge && cp "$bad/layout-huge-claim.safetensors" huge/model.safetensors
every_tool "a header claiming a terabyte in a small file" huge \
	"huge/model.safetensors: file is truncated: the header describes 1099511627776 bytes of tensor data, the file holds 0"

# --- side files: what ckpt-fp8-to-bf16 copies ("every other file") and ckpt-hf-to-sharded
# copies (the tokenizer files) must not be links leading out ---
cp -r "$tiny" in
echo "not yours" >secret
ln -s "$PWD/secret" in/README.md
run "$fp8" in o
check "ckpt-fp8-to-bf16: a side file linked outside: exit 2, nothing written" [ "$rc" -eq 2 -a ! -e o ]
expect_err "ckpt-fp8-to-bf16: a side file linked outside: the named error" \
	"ckpt-fp8-to-bf16: in/README.md: symbolic link to \"$PWD/secret\" $FOLLOW"
rm in/README.md
mkdir elsewhere && echo png >elsewhere/x.png
ln -s ../elsewhere in/figures
run "$fp8" in o
expect_err "ckpt-fp8-to-bf16: a directory linked outside: the named error" \
	"ckpt-fp8-to-bf16: in/figures: symbolic link to \"../elsewhere\" $FOLLOW"
run env CKPT_FOLLOW_SYMLINKS=1 "$fp8" in o
check "CKPT_FOLLOW_SYMLINKS=1: ckpt-fp8-to-bf16 follows it and copies the file" \
	eval '[ $rc -eq 0 ] && cmp -s o/figures/x.png elsewhere/x.png'
rm -rf in/figures o
mkdir in/docs && echo readme >in/docs/README && ln -s docs/README in/README
run "$fp8" in o
check "ckpt-fp8-to-bf16: a link inside the checkpoint is followed, its file copied" \
	eval '[ $rc -eq 0 ] && cmp -s o/README in/docs/README && [ ! -L o/README ]'
rm -rf o
cp in/tokenizer.json tok.json && rm in/tokenizer.json && ln -s ../tok.json in/tokenizer.json
run "$sharded" --model-parallel 2 in o
expect_err "ckpt-hf-to-sharded: a tokenizer file linked outside: the named error" \
	"ckpt-hf-to-sharded: in/tokenizer.json: symbolic link to \"../tok.json\" $FOLLOW"
check "ckpt-hf-to-sharded: ... exit 2, no rank written" [ "$rc" -eq 2 -a ! -e o/model0-mp2.safetensors ]
rm -rf in o

# --- tar archives (ckpt-verify reads them without extracting): entries an extracting tar
# would write outside its target are refused by name ---
if [ -x "$verify" ]; then
	mkdir -p tarsrc && cp -r "$tiny" tarsrc/ckpt && rm tarsrc/ckpt/config.json && ln -s /etc/passwd tarsrc/ckpt/config.json
	tar cf link.tar -C tarsrc ckpt
	run "$verify" link.tar
	check "ckpt-verify: a tar with a symbolic link leading out: exit 2" [ "$rc" -eq 2 ]
	expect_err "ckpt-verify: a tar with a symbolic link leading out: the named error" \
		"ckpt-verify: link.tar: entry \"ckpt/config.json\" is a symbolic link to \"/etc/passwd\", outside the archive's directory"
	mkdir -p tw && echo x >secret2 && (cd tw && tar cPf ../dotdot.tar ../secret2 2>/dev/null)
	run "$verify" dotdot.tar
	expect_err "ckpt-verify: a tar entry named ../x: the named error" \
		"ckpt-verify: dotdot.tar: entry \"../secret2\" leads outside the archive's directory"
	tar cPf abs.tar "$PWD/secret2" 2>/dev/null
	run "$verify" abs.tar
	expect_err "ckpt-verify: a tar entry with an absolute name: the named error" \
		"ckpt-verify: abs.tar: entry \"$PWD/secret2\" is an absolute path"
	mkdir -p mf && cp "$tiny"/* mf/ && echo private >secret3 && ln -s "$PWD/secret3" mf/notes.txt
	run "$verify" --write-manifest sums mf
	check "ckpt-verify --write-manifest: a file linked outside is not hashed: exit 2, no manifest" \
		[ "$rc" -eq 2 -a ! -e sums ]
	expect_err "ckpt-verify --write-manifest: a file linked outside: the named error" \
		"ckpt-verify: mf/notes.txt: symbolic link to \"$PWD/secret3\" $FOLLOW"
else
	skip "ckpt-verify: tar entries leading out" "ckpt-verify is not built"
fi

# --- the Hugging Face hub cache: snapshot files are links into ../../blobs ---
repo=hub/models--deepseek-ai--tiny
mkdir -p "$repo/blobs" "$repo/snapshots/0123abc"
for f in "$tiny"/*; do
	h=$(sha256sum "$f" | cut -c1-16)
	cp "$f" "$repo/blobs/$h"
	ln -s "../../blobs/$h" "$repo/snapshots/0123abc/${f##*/}"
done
run "$fp8" "$repo/snapshots/0123abc" hubout
"$fp8" "$tiny" direct 2>/dev/null
rm -f hubout/.ckpt-run.json direct/.ckpt-run.json
check "the hub cache layout: ckpt-fp8-to-bf16 converts it, the same files as from a plain directory" \
	eval '[ $rc -eq 0 ] && same_tree hubout direct'
run "$sharded" --model-parallel 2 "$repo/snapshots/0123abc" hubsh
"$sharded" --model-parallel 2 "$tiny" directsh >/dev/null 2>&1
rm -f hub{sh,out}/.ckpt-run.{json,sha256} direct{sh,}/.ckpt-run.{json,sha256} hubsh/ckpt-sharding.json directsh/ckpt-sharding.json # (they name their input)
check "the hub cache layout: ckpt-hf-to-sharded cuts it, the same files as from a plain directory" \
	eval '[ $rc -eq 0 ] && same_tree hubsh directsh'
exit 0
