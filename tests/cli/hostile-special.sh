#!/usr/bin/env bash
# Special files and planted links (issue 12, items 2 and 4).
#
# Inputs: a FIFO as config.json, the index, a shard, a side file, --tokens-file, --header
# or the checkpoint itself; a socket and a character device as a shard.  Every tool
# refuses each by name, "PATH: not a regular file (a FIFO)", exit 2, without blocking
# (each run under `timeout 10`: a hang is exit 124); ckpt-verify reports a checkpoint's
# damaged file as a failed check (exit 1) as it does every other damage.  A side file
# that is a FIFO is refused, not left out.  A manifest read from a pipe is accepted.
#
# Outputs: a symbolic link planted at a temporary's name (.NAME.ckpt-tmp) or at the final
# name, for every tool and every kind of output, never redirects a write: the file it
# points to keeps its bytes (SHA-256 before and after) and the output is a regular file.
# A symbolic link among the directories inside the output directory is refused, --force
# or not.
. "$CKPT_ROOT/tests/cli/lib.sh"

# NAME RC MESSAGE CMD...: CMD exits RC within 10 s with MESSAGE as its one line on stderr
refused() {
	local name=$1 want_rc=$2 msg=$3
	shift 3
	run timeout 10 "$@"
	if [ "$rc" -eq "$want_rc" ] && [ "$(cat err)" = "$msg" ] && [ "$(wc -l <err)" -eq 1 ]; then
		ok "$name"
	else
		not_ok "$name" "exit $rc, wanted $want_rc (124: it hung)" "stderr: $(cat err)" "wanted: $msg"
	fi
}

# NAME MESSAGE CMD...: ckpt-verify's report fails the check with MESSAGE, exit 1, no hang
reported() {
	local name=$1 msg=$2
	shift 2
	run timeout 10 "$@"
	if [ "$rc" -eq 1 ] && grep -qxF "  $msg" out; then
		ok "$name"
	else
		not_ok "$name" "exit $rc, wanted 1 (124: it hung)" "stdout: $(cat out)" "stderr: $(cat err)" "wanted: $msg"
	fi
}

# DIR NAME: DIR, a copy of the tiny checkpoint with NAME replaced by a FIFO
with_fifo() {
	rm -rf "$1"
	cp -r "$tiny" "$1"
	rm -f "$1/$2"
	mkfifo "$1/$2"
}

sum() { sha256sum "$1" | cut -d' ' -f1; }

# ---- inputs ----

shard=model-00002-of-00003.safetensors
for f in config.json model.safetensors.index.json $shard; do
	with_fifo in "$f"
	m="in/$f: not a regular file (a FIFO)"
	refused "ckpt-inspect: $f a FIFO: exit 2, the named error" 2 "ckpt-inspect: $m" "$inspect" in
	refused "ckpt-fp8-to-bf16: $f a FIFO" 2 "ckpt-fp8-to-bf16: $m" "$fp8" in o
	check "... nothing written" [ ! -e o ]
	refused "ckpt-hf-to-sharded: $f a FIFO" 2 "ckpt-hf-to-sharded: $m" "$sharded" --model-parallel 2 in o
	refused "ckpt-hf-to-sharded --layout mindspore-train: $f a FIFO" 2 "ckpt-hf-to-sharded: $m" \
		"$sharded" --layout mindspore-train in o
	check "... nothing written" [ ! -e o ]
	reported "ckpt-verify: $f a FIFO: a failed check naming it" "$m" "$verify" in
	refused "ckpt (the dispatcher) inspect: $f a FIFO" 2 "ckpt-inspect: $m" "$ckpt" inspect in
done

# a side file: the converters copy it, so they refuse it; the others do not read it
with_fifo in tokenizer.json
m="in/tokenizer.json: not a regular file (a FIFO)"
refused "ckpt-fp8-to-bf16: a side file a FIFO: refused, not left out" 2 "ckpt-fp8-to-bf16: $m" "$fp8" in o
check "... nothing written" [ ! -e o ]
refused "ckpt-hf-to-sharded: a tokenizer file a FIFO: refused, not left out" 2 "ckpt-hf-to-sharded: $m" \
	"$sharded" --model-parallel 2 in o
check "... nothing written" [ ! -e o ]
run timeout 10 "$inspect" in
expect_rc "ckpt-inspect: a side file a FIFO is not read: exit 0, no hang" 0
run timeout 10 "$verify" -q in
expect_rc "ckpt-verify: a side file a FIFO is not read: exit 0, no hang" 0
refused "ckpt-verify --write-manifest: a FIFO among the files: refused, not left out" 2 "ckpt-verify: $m" \
	"$verify" --write-manifest sums in
check "... no manifest written" [ ! -e sums ]
(cd "$tiny" && sha256sum -- *) >SUMS
refused "ckpt-verify --manifest: a FIFO among the files: refused" 2 "ckpt-verify: $m" \
	"$verify" --manifest SUMS in
rm -rf in
cp -r "$tiny" in
mkdir in/extra && mkfifo in/extra/notes.txt
refused "ckpt-fp8-to-bf16: a FIFO in a subdirectory of side files" 2 \
	"ckpt-fp8-to-bf16: in/extra/notes.txt: not a regular file (a FIFO)" "$fp8" in o
rm -rf in

# a manifest from a pipe, as sha256sum -c reads one
run timeout 10 "$verify" -q --manifest <(cat SUMS) "$tiny"
expect_rc "ckpt-verify --manifest <(cat SUMS): a manifest from a pipe is read" 0
run timeout 10 "$verify" -q --manifest - "$tiny" <SUMS
expect_rc "ckpt-verify --manifest -: from standard input" 0
run timeout 10 "$verify" -q --manifest /dev/stdin "$tiny" <SUMS
expect_rc "ckpt-verify --manifest /dev/stdin" 0

# the checkpoint itself, a single shard, --header, --tokens-file
mkfifo ck.safetensors toks ck.tar
refused "ckpt-inspect: a FIFO as the checkpoint" 2 \
	"ckpt-inspect: ck.safetensors: not a regular file or directory (a FIFO)" "$inspect" ck.safetensors
refused "ckpt-inspect --header: a FIFO" 2 "ckpt-inspect: ck.safetensors: not a regular file (a FIFO)" \
	"$inspect" --header ck.safetensors
refused "ckpt-verify: a FIFO as the checkpoint" 2 \
	"ckpt-verify: ck.safetensors: not a regular file or directory (a FIFO)" "$verify" ck.safetensors
refused "ckpt-verify: a FIFO named like an archive" 2 \
	"ckpt-verify: ck.tar: not a regular file or directory (a FIFO)" "$verify" ck.tar
refused "ckpt-fp8-to-bf16: a FIFO as the input directory" 2 "ckpt-fp8-to-bf16: ck.tar: not a directory" \
	"$fp8" ck.tar o
refused "ckpt-verify --forward --tokens-file: a FIFO" 2 "ckpt-verify: toks: not a regular file (a FIFO)" \
	"$verify" --forward --tokens-file toks "$tiny"
refused "ckpt-verify --forward --tokens-file: a directory" 2 "ckpt-verify: .: not a regular file (a directory)" \
	"$verify" --forward --tokens-file . "$tiny"

# a socket, a character device
rm -rf in
cp -r "$tiny" in
rm "in/$shard"
if python3 -c 'import socket,sys;socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "in/$shard" 2>/dev/null; then
	m="in/$shard: not a regular file (a socket)"
	refused "ckpt-inspect: a socket as a shard" 2 "ckpt-inspect: $m" "$inspect" in
	refused "ckpt-fp8-to-bf16: a socket as a shard" 2 "ckpt-fp8-to-bf16: $m" "$fp8" in o
	refused "ckpt-hf-to-sharded: a socket as a shard" 2 "ckpt-hf-to-sharded: $m" "$sharded" --model-parallel 2 in o
	reported "ckpt-verify: a socket as a shard" "$m" "$verify" in
	rm "in/$shard"
else
	skip "a socket as a shard" "python3 cannot make a socket here"
fi
ln -s /dev/zero "in/$shard"
refused "a link to /dev/zero as a shard: refused as leading outside" 2 \
	"ckpt-inspect: in/$shard: symbolic link to \"/dev/zero\" leads outside the checkpoint directory (CKPT_FOLLOW_SYMLINKS=1 follows it)" \
	"$inspect" in
m="in/$shard: not a regular file (a character device)"
refused "CKPT_FOLLOW_SYMLINKS=1, /dev/zero as a shard: ckpt-inspect" 2 "ckpt-inspect: $m" \
	env CKPT_FOLLOW_SYMLINKS=1 "$inspect" in
refused "CKPT_FOLLOW_SYMLINKS=1, /dev/zero as a shard: ckpt-fp8-to-bf16" 2 "ckpt-fp8-to-bf16: $m" \
	env CKPT_FOLLOW_SYMLINKS=1 "$fp8" in o
refused "CKPT_FOLLOW_SYMLINKS=1, /dev/zero as a shard: ckpt-hf-to-sharded" 2 "ckpt-hf-to-sharded: $m" \
	env CKPT_FOLLOW_SYMLINKS=1 "$sharded" --model-parallel 2 in o
rm -rf in o

# ckpt-train-to-infer: its inputs are the MindSpore training layout
"$sharded" -q --layout mindspore-train "$tiny" ms || echo "not ok - making a MindSpore training checkpoint"
for f in config.json param_name_map.json ms-model-00002-of-00004.safetensors; do
	rm -rf in
	cp -r ms in
	rm "in/$f"
	mkfifo "in/$f"
	refused "ckpt-train-to-infer: $f a FIFO" 2 "ckpt-train-to-infer: in/$f: not a regular file (a FIFO)" "$t2i" in o
	check "... nothing written" [ ! -e o ]
	reported "ckpt-verify: a MindSpore checkpoint with $f a FIFO" "in/$f: not a regular file (a FIFO)" \
		"$verify" in
done
rm -rf in

# ---- outputs: links planted at temporary and final names ----

echo "not yours to overwrite" >victim
victim_sum=$(sum victim)

# NAME OUTDIR PLANT CMD...: a link to victim planted at OUTDIR/PLANT; CMD succeeds, victim
# keeps its bytes, and OUTDIR's files (the link's name included) are regular files
planted() {
	local name=$1 dir=$2 plant=$3
	shift 3
	rm -rf "$dir"
	mkdir -p "$dir"
	ln -s "$PWD/victim" "$dir/$plant"
	run timeout 60 "$@"
	local links
	links=$(find "$dir" -type l | head -n 3)
	if [ "$rc" -eq 0 ] && [ "$(sum victim)" = "$victim_sum" ] && [ -z "$links" ]; then
		ok "$name"
	else
		not_ok "$name" "exit $rc" "stderr: $(cat err)" "victim: $(head -c 60 victim | tr -c '[:print:]' .)" \
			"links left: $links"
		echo "not yours to overwrite" >victim
	fi
}

"$fp8" -q "$tiny" ref-fp8
planted "ckpt-fp8-to-bf16: a link at a shard's temporary name is not followed" o \
	.model-00001-of-00003.safetensors.ckpt-tmp "$fp8" -q "$tiny" o
check "... the output is the same as without it" same_tree o ref-fp8
planted "ckpt-fp8-to-bf16: a link at the index's temporary name" o .model.safetensors.index.json.ckpt-tmp \
	"$fp8" -q "$tiny" o
planted "ckpt-fp8-to-bf16: a link at a side file's temporary name" o .tokenizer.json.ckpt-tmp "$fp8" -q "$tiny" o
planted "ckpt-fp8-to-bf16: a link at the record's temporary name" o ..ckpt-run.json.ckpt-tmp "$fp8" -q "$tiny" o
check "... the output is the same as without it" same_tree o ref-fp8
planted "ckpt-fp8-to-bf16 --force: a link at a final name is replaced, not written through" o \
	model-00002-of-00003.safetensors "$fp8" -q --force "$tiny" o
check "... the output is the same as without it" same_tree o ref-fp8
planted "ckpt-fp8-to-bf16 --shard: a link at the shard's temporary name" o \
	.model-00003-of-00003.safetensors.ckpt-tmp "$fp8" -q --shard model-00003-of-00003.safetensors "$tiny" o

# a resumed run keeps a complete file only when it is the directory's own: a link to a
# file elsewhere, even one with exactly the right bytes, is replaced
rm -rf o && mkdir o
cp ref-fp8/.ckpt-run.json o/
ln -s "$PWD/ref-fp8/model-00001-of-00003.safetensors" o/model-00001-of-00003.safetensors
ref_sum=$(sum ref-fp8/model-00001-of-00003.safetensors)
run "$fp8" -q "$tiny" o
check "resuming: a link at a final name to a complete file elsewhere is replaced by a file" \
	eval '[ $rc -eq 0 ] && [ -f o/model-00001-of-00003.safetensors ] && [ ! -L o/model-00001-of-00003.safetensors ]'
check "... the file it pointed to is untouched" [ "$(sum ref-fp8/model-00001-of-00003.safetensors)" = "$ref_sum" ]
check "... the output is the same as without it" same_tree o ref-fp8
rm -rf o && mkdir o
ln -s "$PWD/ref-fp8/.ckpt-run.json" o/.ckpt-run.json
cp ref-fp8/model-00001-of-00003.safetensors o/
run "$fp8" -q "$tiny" o
check "a link as the record is not the directory's record: a non-empty directory is refused" \
	eval '[ $rc -eq 2 ] && grep -qF "not empty, and not an earlier run of this conversion" err'

# a FIFO at a temporary's name blocks nothing
rm -rf o && mkdir o && mkfifo o/.config.json.ckpt-tmp
run timeout 20 "$fp8" -q "$tiny" o
check "ckpt-fp8-to-bf16: a FIFO at a temporary's name: removed, no hang, the same output" \
	eval '[ $rc -eq 0 ] && same_tree o ref-fp8'

"$sharded" -q --model-parallel 2 "$tiny" ref-mp
planted "ckpt-hf-to-sharded: a link at a rank file's temporary name" o .model0-mp2.safetensors.ckpt-tmp \
	"$sharded" -q --model-parallel 2 "$tiny" o
check "... the output is the same as without it" same_tree o ref-mp
planted "ckpt-hf-to-sharded: a link at the record's temporary name" o .ckpt-sharding.json.ckpt-tmp \
	"$sharded" -q --model-parallel 2 "$tiny" o
planted "ckpt-hf-to-sharded --rank 1: a link at its temporary name" o .model1-mp2.safetensors.ckpt-tmp \
	"$sharded" -q --model-parallel 2 --rank 1 "$tiny" o
planted "ckpt-hf-to-sharded --layout mindspore-train: a link at a file's temporary name" o \
	.ms-model-00001-of-00004.safetensors.ckpt-tmp "$sharded" -q --layout mindspore-train "$tiny" o
check "... the output is the same as without it" same_tree o ms
planted "ckpt-hf-to-sharded --layout mindspore-train: a link at param_name_map.json's temporary name" o \
	.param_name_map.json.ckpt-tmp "$sharded" -q --layout mindspore-train "$tiny" o

"$t2i" -q ms ref-infer
planted "ckpt-train-to-infer: a link at a layer file's temporary name" o .layer_0.safetensors.ckpt-tmp \
	"$t2i" -q ms o
check "... the output is the same as without it" same_tree o ref-infer
planted "ckpt-train-to-infer: a link at config.json's temporary name" o .config.json.ckpt-tmp "$t2i" -q ms o

planted "ckpt-verify --write-manifest: a link at the manifest's temporary name" d .sums.ckpt-tmp \
	"$verify" -q --write-manifest d/sums "$tiny"
check "... the manifest is written" eval '[ "$(wc -l <d/sums)" -eq 8 ]'
planted "ckpt-verify --write-manifest: a link at the manifest's name is replaced" d sums \
	"$verify" -q --write-manifest d/sums "$tiny"
planted "ckpt-verify --forward --logits-out: a link at the logits' temporary name" d .logits.safetensors.ckpt-tmp \
	"$verify" -q --forward --logits-out d/logits.safetensors "$tiny"
check "... the logits are written" "$inspect" d/logits.safetensors
planted "ckpt-verify --forward --logits-out: a link at the logits' name is replaced" d logits.safetensors \
	"$verify" -q --forward --logits-out d/logits.safetensors "$tiny"
planted "ckpt (the dispatcher) fp8-to-bf16: a link at a temporary's name" o .config.json.ckpt-tmp \
	"$ckpt" fp8-to-bf16 -q "$tiny" o

# ---- a symbolic link among the directories inside the output ----

cp -r "$tiny" in
mkdir in/figures && echo png >in/figures/x.png
mkdir elsewhere
rm -rf o && mkdir o && ln -s ../elsewhere o/figures
m="ckpt-fp8-to-bf16: o/figures: a symbolic link inside the output directory; not writing through it"
refused "ckpt-fp8-to-bf16 --force: a linked subdirectory inside the output is refused" 2 "$m" \
	"$fp8" -q --force in o
check "... nothing written through it" [ -z "$(ls -A elsewhere)" ]
check "... nor anything else (refused before any work)" [ ! -e o/model-00001-of-00003.safetensors ]
"$fp8" -q in ref-in
rm -rf o && cp -r ref-in o && rm -r o/figures && ln -s ../elsewhere o/figures
refused "ckpt-fp8-to-bf16, resuming its own directory: a linked subdirectory is refused too" 2 "$m" "$fp8" -q in o
check "... nothing written through it" [ -z "$(ls -A elsewhere)" ]
rm -rf o && mkdir -p o/figures && ln -s "$PWD/victim" o/figures/.x.png.ckpt-tmp
run "$fp8" -q --force in o
check "a link at a temporary's name in a subdirectory: not followed" \
	eval '[ $rc -eq 0 ] && [ "$(sum victim)" = "$victim_sum" ] && same_tree o ref-in'
rm -rf o && mkdir o && ln -s "$PWD/elsewhere" o-link
run "$fp8" -q in o-link
check "the output directory itself may be a link (the user's choice)" \
	eval '[ $rc -eq 0 ] && [ -f elsewhere/figures/x.png ]'
