#!/usr/bin/env bash
# ckpt-verify on the Hugging Face hub cache, offline: cache trees built as huggingface_hub
# lays them out (blobs named by the SHA-256 of LFS files and the git blob SHA-1 of the
# others, snapshots of relative links, refs/main), then every way they break: a flipped byte
# in a weight blob of the right size, a wrong small-file blob, unfinished downloads, dangling,
# absolute and outside links, a shard the index names missing, blobs named by no hash, refs
# naming no snapshot, FIFOs; --revision by branch and by commit; copies instead of links.
. "$CKPT_ROOT/tests/cli/lib.sh"
C=0123456789abcdef0123456789abcdef01234567
C2=89abcdef0123456789abcdef0123456789abcdef

# blob name of a file as the hub names it: LFS (the weights) by SHA-256, the rest by git's id
blob_of() {
	case $1 in
	*.safetensors) sha256sum "$1" | cut -c1-64 ;;
	*) git hash-object --no-filters "$1" ;;
	esac
}

# mk_cache DIR: DIR/models--deepseek-ai--tiny holding tiny-v3 at commit $C, refs/main -> $C
mk_cache() {
	local r=$1/models--deepseek-ai--tiny f h
	mkdir -p "$r/blobs" "$r/refs" "$r/snapshots/$C"
	printf %s "$C" >"$r/refs/main"
	for f in "$tiny"/*; do
		h=$(blob_of "$f")
		cp "$f" "$r/blobs/$h"
		ln -s "../../blobs/$h" "$r/snapshots/$C/${f##*/}"
	done
	echo "$r"
}

# a value of the last run's JSON report
jq1() { "$jsonq" "$1" <out; }
jqs() { local p; for p in "$@"; do jq1 "$p"; done | paste -sd' '; }

# problem lines of the last run, exactly (two spaces first, as ckpt-verify prints them)
expect_problem() { expect_line "$1" "  $2"; }

if ! command -v git >/dev/null; then
	skip "hub cache" "git is not installed (the test names small blobs with git hash-object)"
	exit 0
fi

# --- a cache as the hub leaves it ---
R=$(mk_cache good)
S=$R/snapshots/$C
run "$verify" "$R"
expect_rc "repository directory: exit 0" 0
expect_line "repository directory: the hub check's line" \
	"hub         passed   snapshot $C: 8 files checked against their blob names (8.01 MiB hashed)"
expect_line "repository directory: the result says the blobs were checked" \
	"result: passed; 8 files checked against their blob names"
expect_has "repository directory: the usual checks follow" "model       passed   DeepSeek-V3: 239 tensors"
run "$verify" "$S"
expect_rc "snapshot directory: exit 0" 0
expect_line "snapshot directory: the hub check's line (no commit: the path names it)" \
	"hub         passed   8 files checked against their blob names (8.01 MiB hashed)"
run "$verify" --revision main "$R"
expect_line "--revision main (a branch, through refs/main)" "result: passed; 8 files checked against their blob names"
run "$verify" --revision "$C" "$R"
expect_line "--revision COMMIT (a hash, no ref)" "result: passed; 8 files checked against their blob names"
run "$verify" --json "$R"
expect_eq "--json: the hub check's counts" \
	"$(jqs report.checks.0.name report.checks.0.files_checked report.checks.0.bytes_hashed report.checks.0.copies_not_checked report.passed)" \
	"hub 8 8403282 0 true"
run "$verify" --checks hub "$R"
check "--checks hub: only the hub check" eval '[ $rc -eq 0 ] && [ "$(grep -c "^[a-z]* *passed" out)" = 1 ] && grep -q "^hub " out'
run "$verify" --checks structure,model "$R"
check "--checks structure,model: no hub check" eval '[ $rc -eq 0 ] && ! grep -q "^hub " out'
run "$verify" -j 1 "$R"
a=$(cat out)
run "$verify" -j 4 "$R"
expect_eq "-j 1 and -j 4: the same report" "$(cat out)" "$a"
run "$verify" --manifest <(cd "$tiny" && sha256sum -- *) "$S"
expect_has "--manifest on a snapshot: the links are read through" "8 files listed, 8 hashed"

# a second branch at another commit, with a subdirectory (links one ../ deeper), .gitattributes
cp -r "$S" "$R/snapshots/$C2"
mkdir "$R/snapshots/$C2/original"
printf 'params\n' >p.json
h=$(blob_of p.json)
cp p.json "$R/blobs/$h"
ln -s "../../../blobs/$h" "$R/snapshots/$C2/original/params.json"
printf '*.safetensors filter=lfs\n' >ga
h=$(blob_of ga)
cp ga "$R/blobs/$h"
ln -s "../../blobs/$h" "$R/snapshots/$C2/.gitattributes"
printf '%s\n' "$C2" >"$R/refs/v1" # (a newline after the hash is read too)
run "$verify" --revision v1 "$R"
expect_line "--revision BRANCH: its snapshot, subdirectories and hidden files included" \
	"hub         passed   snapshot $C2: 10 files checked against their blob names (8.01 MiB hashed)"
run "$verify" --revision "$C2" "$R"
expect_rc "--revision COMMIT of the second snapshot: exit 0" 0

# --- what cannot be checked at all: exit 2, one line ---
run "$verify" --revision nosuch "$R"
expect_rc "--revision a branch the cache lacks: exit 2" 2
expect_err "--revision a branch the cache lacks: the message" \
	"ckpt-verify: $R: no revision \"nosuch\" in the cache (no refs/nosuch, and not a commit hash)"
run "$verify" --revision ffffffffffffffffffffffffffffffffffffffff "$R"
expect_err "--revision a commit without a snapshot" \
	"ckpt-verify: $R: no snapshot of commit ffffffffffffffffffffffffffffffffffffffff ($R/snapshots/ffffffffffffffffffffffffffffffffffffffff is missing)"
run "$verify" --revision ../../etc "$R"
expect_err "--revision leading out of refs/: refused" \
	"ckpt-verify: $R: \"../../etc\" is not a revision (a branch, a tag or a commit hash)"
run "$verify" --revision main "$tiny"
expect_rc "--revision on a plain directory: exit 2" 2
expect_err "--revision on a plain directory: the message" \
	"ckpt-verify: $tiny: --revision applies to a repository of the Hugging Face hub cache (models--ORG--NAME)"

R2=$(mk_cache refmissing)
printf %s ffffffffffffffffffffffffffffffffffffffff >"$R2/refs/main"
run "$verify" "$R2"
expect_rc "refs/main naming a missing snapshot: exit 2" 2
expect_err "refs/main naming a missing snapshot: the message" \
	"ckpt-verify: $R2: refs/main names commit ffffffffffffffffffffffffffffffffffffffff, which has no snapshot ($R2/snapshots/ffffffffffffffffffffffffffffffffffffffff is missing)"
printf 'not a hash' >"$R2/refs/main"
run "$verify" "$R2"
expect_err "refs/main that is not a commit: the message" "ckpt-verify: $R2/refs/main: not a commit hash (40 lowercase hex digits)"
echo s3cr3t-bytes >secret
rm "$R2/refs/main" && ln -s "$PWD/secret" "$R2/refs/main"
run "$verify" "$R2"
expect_err "refs/main a planted link: refused, not read" \
	"ckpt-verify: $R2/refs/main: not a regular file (a symbolic link)"
rm "$R2/refs/main"
run "$verify" "$R2"
expect_rc "no refs/main, one snapshot: that one (as huggingface_hub's verify)" 0
mkdir "$R2/snapshots/$C2"
run "$verify" "$R2"
expect_err "no refs/main, two snapshots: name one" \
	"ckpt-verify: $R2: no refs/main, and snapshots/ holds 2 entries: name one with --revision"

# --- every way a snapshot breaks: exit 1, one line per problem naming the file ---
shard2=model-00002-of-00003.safetensors
h2=$(blob_of "$tiny/$shard2")
R=$(mk_cache flip)
S=$R/snapshots/$C
chmod u+w "$R/blobs/$h2"
at=$(( $(stat -c %s "$R/blobs/$h2") - 1000 ))
old=$(od -An -tx1 -j "$at" -N1 "$R/blobs/$h2" | tr -d ' ')
printf "\\x$(printf %02x $(( 0x$old ^ 0x40 )))" | dd of="$R/blobs/$h2" bs=1 seek="$at" conv=notrunc status=none
got=$(sha256sum "$R/blobs/$h2" | cut -c1-64)
run "$verify" "$R"
expect_rc "a flipped byte in a weight blob of the right size: exit 1" 1
expect_problem "a flipped byte: the file, its SHA-256 and the blob's name" \
	"$S/$shard2: SHA-256 is $got, its blob's name says $h2"
expect_line "a flipped byte: the summary counts it" \
	"hub         FAILED   snapshot $C: 8 files checked against their blob names (8.01 MiB hashed); 1 differs"
expect_line "a flipped byte: the result counts it (structure and model pass: the header is intact)" \
	"result: FAILED, 1 problem in 1 check; 8 files checked against their blob names"

R=$(mk_cache small)
S=$R/snapshots/$C
hc=$(blob_of "$tiny/config.json")
chmod u+w "$R/blobs/$hc"
echo >>"$R/blobs/$hc"
got=$(git hash-object --no-filters "$R/blobs/$hc")
run "$verify" --checks hub "$R"
expect_rc "a wrong small-file blob: exit 1" 1
expect_problem "a wrong small-file blob: its git blob SHA-1" \
	"$S/config.json: git blob SHA-1 is $got, its blob's name says $hc"

R=$(mk_cache incomplete)
S=$R/snapshots/$C
rm "$S/$shard2"
mv "$R/blobs/$h2" "$R/blobs/$h2.incomplete"
truncate -s 1000000 "$R/blobs/$h2.incomplete"
head -c 5000 "$tiny/$shard2" >"$R/blobs/$h2.1a2b3c4d.incomplete" # (newer huggingface_hub)
run "$verify" "$R"
expect_rc "an unfinished download: exit 1" 1
expect_problem "an unfinished download: the .incomplete blob" "$R/blobs/$h2.incomplete: an unfinished download (977 KiB so far)"
expect_problem "an unfinished download: the newer .XXXXXXXX.incomplete name" \
	"$R/blobs/$h2.1a2b3c4d.incomplete: an unfinished download (4.88 KiB so far)"
expect_problem "an unfinished download: the shard the index names, missing from the snapshot" \
	"$S/$shard2: named by model.safetensors.index.json, but not in the snapshot (not downloaded)"
expect_problem "an unfinished download: the structure check says it too" \
	"$S/$shard2: shard file is missing (model.safetensors.index.json maps tensors to it)"
expect_line "an unfinished download: the summary" \
	"hub         FAILED   snapshot $C: 7 files checked against their blob names (5.25 MiB hashed); 1 file named by the index missing; 2 unfinished downloads"
ln -s "../../blobs/$h2.incomplete" "$S/$shard2"
run "$verify" --checks hub "$R"
expect_problem "a link to an unfinished download" "$S/$shard2: links to \"$h2.incomplete\", an unfinished download"

R=$(mk_cache dangling)
S=$R/snapshots/$C
ht=$(blob_of "$tiny/tokenizer.json")
rm "$R/blobs/$ht"
run "$verify" "$R"
expect_rc "a dangling link: exit 1" 1
expect_problem "a dangling link: named" \
	"$S/tokenizer.json: symbolic link to \"../../blobs/$ht\", which does not exist (a dangling link: the blob is missing)"
expect_has "a dangling link: counted" "7 files checked against their blob names (8.01 MiB hashed); 1 could not be checked"

R=$(mk_cache absolute)
S=$R/snapshots/$C
ln -sfn "$PWD/$R/blobs/$hc" "$S/config.json"
run "$verify" --checks hub "$R"
expect_rc "an absolute link: exit 1" 1
expect_problem "an absolute link: named" \
	"$S/config.json: symbolic link to the absolute path \"$PWD/$R/blobs/$hc\" (the hub links relatively, into ../../blobs)"
ln -sfn "$PWD/secret" "$S/config.json"
run "$verify" "$R"
expect_problem "an absolute link to a secret: named, not read" \
	"$S/config.json: symbolic link to the absolute path \"$PWD/secret\" (the hub links relatively, into ../../blobs)"
check "an absolute link to a secret: its bytes appear nowhere" eval '! grep -q s3cr3t out err'

R=$(mk_cache outside)
S=$R/snapshots/$C
O=outside/models--other--x
mkdir -p "$O/blobs"
cp "$tiny/config.json" "$O/blobs/$hc"
ln -sfn "../../../models--other--x/blobs/$hc" "$S/config.json"
ln -sfn "../../refs/main" "$S/tokenizer_config.json"
ln -sfn "../../../../secret" "$S/generation_config.json"
run "$verify" --checks hub "$R"
expect_rc "links out of the repository's blobs/: exit 1" 1
expect_problem "a link into another repository's blobs: named" \
	"$S/config.json: symbolic link to \"../../../models--other--x/blobs/$hc\" leads outside the repository's blobs/"
expect_problem "a link into the repository, not its blobs: named" \
	"$S/tokenizer_config.json: symbolic link to \"../../refs/main\" leads outside the repository's blobs/"
expect_problem "a link out of the cache: named" \
	"$S/generation_config.json: symbolic link to \"../../../../secret\" leads outside the repository's blobs/"
expect_has "links out: counted" "5 files checked against their blob names (8.01 MiB hashed); 3 could not be checked"

R=$(mk_cache missing)
S=$R/snapshots/$C
rm "$S/$shard2"
run "$verify" --json "$R"
expect_rc "a missing shard the index names: exit 1" 1
expect_eq "a missing shard: --json lists it under the hub check, with the file" \
	"$(jqs report.checks.0.problems.0.file report.checks.0.problems.0.message report.checks.0.files_checked)" \
	"$S/$shard2 named by model.safetensors.index.json, but not in the snapshot (not downloaded) 7"

R=$(mk_cache nonhex)
S=$R/snapshots/$C
mv "$R/blobs/$ht" "$R/blobs/tokenizer-blob"
ln -sfn ../../blobs/tokenizer-blob "$S/tokenizer.json"
mv "$R/blobs/$hc" "$R/blobs/${hc}00"
ln -sfn "../../blobs/${hc}00" "$S/config.json"
run "$verify" --checks hub "$R"
expect_rc "blobs named by no hash: exit 1" 1
expect_problem "a non-hex blob name" \
	"$S/tokenizer.json: links to blob \"tokenizer-blob\", whose name is neither a SHA-256 (64 hex digits) nor a git blob SHA-1 (40)"
expect_problem "a hex blob name of neither length" \
	"$S/config.json: links to blob \"${hc}00\", whose name is neither a SHA-256 (64 hex digits) nor a git blob SHA-1 (40)"
g=$(printf %40s | tr ' ' g)
mv "$R/blobs/${hc}00" "$R/blobs/$g"
ln -sfn "../../blobs/$g" "$S/config.json"
run "$verify" --checks hub "$R"
expect_problem "40 characters, not hex" \
	"$S/config.json: links to blob \"$g\", whose name is neither a SHA-256 (64 hex digits) nor a git blob SHA-1 (40)"

# hostile entries: FIFOs are named, never opened (the run would hang)
R=$(mk_cache fifo)
S=$R/snapshots/$C
mkfifo "$S/extra.bin"
f=$(printf %64s | tr ' ' a)
mkfifo "$R/blobs/$f"
ln -s "../../blobs/$f" "$S/weights.bin"
rc=0
timeout 20 "$verify" --checks hub "$R" >out 2>err || rc=$?
expect_rc "FIFOs in the snapshot and in blobs/: exit 1, no hang" 1
expect_problem "a FIFO in the snapshot" "$S/extra.bin: not a regular file (a FIFO)"
expect_problem "a link to a FIFO in blobs/" "$S/weights.bin: links to blob \"$f\", which is not a regular file (a FIFO)"

# --- the hub's no-symlink mode: copies, no blob name to check them by ---
R=$(mk_cache copies)
S=$R/snapshots/$C
rm "$S"/*
cp "$tiny"/* "$S/"
run "$verify" --json "$R"
expect_rc "copies instead of links: exit 0 (nothing found wrong)" 0
expect_eq "copies: not checked, and the report not complete" \
	"$(jqs report.checks.0.status report.checks.0.copies_not_checked report.complete)" "not_checked 8 false"
run "$verify" "$R"
expect_line "copies: the summary says why" \
	"hub         not checked  snapshot $C: 0 files checked against their blob names (0 B hashed); 8 files are copies, not links to blobs (the hub's no-symlink mode): no hash to check them by"
expect_line "copies: the result says what was not checked" \
	"result: passed, except what was not checked: hub; 0 files checked against their blob names"
exit 0
