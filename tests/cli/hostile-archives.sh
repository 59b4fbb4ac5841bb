#!/usr/bin/env bash
# Archives that verify but extract differently (issue 12, item 3): ckpt-verify reads a tar
# without extracting it, and must check what `tar x` leaves, not what the archive lists.
# Each case builds an archive (python3's tarfile; GNU tar for sparse files), extracts it with
# the real GNU tar (as root and, where possible, as an unprivileged user), checks the tree
# against the manifest with sha256sum, and demands that ckpt-verify --manifest agrees:
# exit 0 only when the extracted bytes are the manifest's, exit 1 when they differ, or a
# refusal (exit 2, one line naming the archive and the entry) for what leads outside the
# extraction directory, what tar fails on and what no extractor agrees on.
. "$CKPT_ROOT/tests/cli/lib.sh"
if ! command -v python3 >/dev/null || ! tar --version 2>/dev/null | grep -q 'GNU tar'; then
	skip "hostile archives" "needs python3 and GNU tar"
	exit 0
fi

cat >mk.py <<'EOF'
# mk.py LIST: for each line of LIST, "NAME<tab>SPEC<tab>SPEC...", NAME.tar, a tar archive
# (GNU format) of these entries, in order:
#   tree:DIR=PREFIX  a directory entry PREFIX/, then DIR's files (sorted) as PREFIX/NAME
#   f:NAME=FILE  a file with FILE's bytes    t:NAME=TEXT  a file holding TEXT
#   d:NAME  a directory    s:NAME=TARGET  a symbolic link    h:NAME=TARGET  a hard link
#   p:NAME  a FIFO         c:NAME  a character device (1, 3)
import io, os, sys, tarfile
def add(t, name, kind, data=b"", link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mtime = kind, link, 1700000000
    ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    ti.devmajor, ti.devminor = (1, 3) if kind == tarfile.CHRTYPE else (0, 0)
    ti.size = len(data)
    t.addfile(ti, io.BytesIO(data) if data else None)
for line in open(sys.argv[1]):
    out, *specs = line.rstrip("\n").split("\t")
    with tarfile.open(out + ".tar", "w", format=tarfile.GNU_FORMAT) as t:
        for spec in specs:
            kind, _, rest = spec.partition(":")
            name, _, arg = rest.partition("=")
            if kind == "tree":
                add(t, arg + "/", tarfile.DIRTYPE)
                for f in sorted(os.listdir(name)):
                    add(t, arg + "/" + f, tarfile.REGTYPE, open(os.path.join(name, f), "rb").read())
            elif kind in "ft":
                add(t, name, tarfile.REGTYPE, open(arg, "rb").read() if kind == "f" else arg.encode())
            else:
                add(t, name, {"d": tarfile.DIRTYPE, "s": tarfile.SYMTYPE, "h": tarfile.LNKTYPE,
                              "p": tarfile.FIFOTYPE, "c": tarfile.CHRTYPE}[kind], link=arg)
EOF

# a whole checkpoint that verifies, of 40 kB (ckpt-synth; tiny-v3 is 8 MB)
"$synth" -q --set hidden_size=32 --set intermediate_size=32 --set moe_intermediate_size=16 --set vocab_size=64 \
	--set q_lora_rank=16 --set kv_lora_rank=16 --set qk_nope_head_dim=8 --set qk_rope_head_dim=8 \
	--set v_head_dim=8 --set num_attention_heads=2 --set num_key_value_heads=2 --set n_routed_experts=4 \
	--set n_group=1 --set num_nextn_predict_layers=0 "$CKPT_ROOT/fixtures/specs/partial.json" ckpt ||
	echo "# ckpt-synth failed" >&2
(cd ckpt && sha256sum -- *) >SUMS
S1=model-00001-of-00002.safetensors S2=model-00002-of-00002.safetensors
# other bytes that still parse: a config with a space more, a shard that is another shard
sed 's/}$/} /' ckpt/config.json >evil.json
cmp -s evil.json ckpt/config.json && echo "# evil.json is not different" >&2
cp "ckpt/$S1" evil.safetensors
sums=SUMS

# An unprivileged user extracts too, where root can switch to one: in a directory of its own.
asuser=
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	asuser=$(mktemp -d /tmp/ckpt-hostile-archives.XXXXXX)
	chmod 755 "$asuser"
	trap 'rm -rf "$asuser"' EXIT
fi

# The extracted checkpoint is exactly $sums: its files (regular ones and links to them,
# hidden names aside, as a verifier lists them) with its bytes.  $1: the directory
# extracted into; tar's exit status in $2.
tree_matches() {
	[ "$2" -eq 0 ] && [ -d "$1/ckpt" ] || return 1
	# (a FIFO would block sha256sum: a special file is no checkpoint's anyway)
	[ -z "$(find "$1" \( -type p -o -type b -o -type c -o -type s \) -print)" ] || return 1
	(cd "$1/ckpt" && sha256sum -c --quiet --strict "$OLDPWD/$sums") >/dev/null 2>&1 || return 1
	local n
	n=$(cd "$1/ckpt" && find . -name '.?*' -prune -o \( -type f -o -type l \) -print |
		while read -r p; do [ -f "$p" ] && echo "$p"; done | wc -l)
	[ "$n" -eq "$(wc -l <"$sums")" ]
}

# extracted NAME.tar: "good" when GNU tar's result (as root and as a user) matches $sums.
# Extracted two levels down, so that whatever leaked would stay in the scratch directory.
extracted() {
	local r=0 verdict=good
	rm -rf jail && mkdir -p jail/in/x
	(cd jail/in/x && tar xf "../../../$1.tar") >/dev/null 2>&1 || r=$?
	tree_matches jail/in/x $r || verdict=bad
	if [ -n "$asuser" ]; then
		rm -rf "${asuser:?}"/* && mkdir -p "$asuser/in/x" && cp "$1.tar" "$asuser/" &&
			chown -R nobody "$asuser/in" && r=0
		(cd "$asuser/in/x" && setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
			tar xf "../../$1.tar") >/dev/null 2>&1 || r=$?
		local u=good
		tree_matches "$asuser/in/x" $r || u=bad
		[ "$u" = "$verdict" ] || verdict="root: $verdict, user: $u"
	fi
	echo "$verdict"
}

# case_ NAME RC WHAT SPEC...: the archive of SPEC, checked against $sums.  RC 0 or 1: that
# exit status, and tar x's tree matches $sums exactly when RC is 0; with RC 1, WHAT is the
# start of the problem line expected.  RC 2: refused, WHAT is the message.  (Recorded here;
# run_cases makes the archives with one python3 and checks them.)
names=() rcs=() whats=()
case_() {
	names+=("$1") rcs+=("$2") whats+=("$3")
	printf '%s' "$1" >>cases.list
	shift 3
	printf '\t%s' "$@" >>cases.list
	echo >>cases.list
}

check_case() { # NAME RC WHAT
	local name=$1 want=$2 what=$3 ex
	ex=$(extracted "$name")
	run "$verify" --manifest "$sums" "$name.tar"
	if [ "$want" -eq 2 ]; then
		if [ "$rc" -eq 2 ] && [ "$(cat err)" = "ckpt-verify: $what" ] && [ ! -s out ]; then
			ok "$name: refused, exit 2 (tar x: $ex)"
		else
			not_ok "$name: refused, exit 2" "exit $rc" "stderr: $(cat err)" "wanted: ckpt-verify: $what" \
				"$(head -n 8 out)"
		fi
		return
	fi
	local agree=no
	{ [ "$rc" -eq 0 ] && [ "$ex" = good ]; } || { [ "$rc" -eq 1 ] && [ "$ex" = bad ]; } && agree=yes
	if [ "$rc" -eq "$want" ] && [ $agree = yes ] && [ ! -s err ] &&
		{ [ -z "$what" ] || grep -qF "  $name.tar/$what" out; }; then
		ok "$name: exit $want, as tar x's tree ($ex)"
	else
		not_ok "$name: exit $want, as tar x's tree" "exit $rc, tar x's tree: $ex" "$(cat err)" \
			"$(grep -v '^  ' out | head -n 8)" "$(grep '^  ' out | head -n 4)" "wanted a line: $what"
	fi
}

run_cases() {
	python3 mk.py cases.list
	local i
	for i in "${!names[@]}"; do
		check_case "${names[$i]}" "${rcs[$i]}" "${whats[$i]}"
	done
}

good=tree:ckpt=ckpt
CFG="ckpt/config.json: SHA-256 is $(sha256sum <evil.json | cut -c1-64), the manifest says"
SHARD="ckpt/$S2: SHA-256 is $(sha256sum <evil.safetensors | cut -c1-64), the manifest says"

case_ plain 0 "" $good
case_ plain-dot 0 "" tree:ckpt=./ckpt

# ---- a later entry replaces a file checked before, under any spelling ----
case_ dup-same 1 "$CFG" $good f:ckpt/config.json=evil.json
case_ dup-dot 1 "$CFG" $good f:./ckpt/config.json=evil.json
case_ dup-slashes 1 "$CFG" $good f:ckpt//config.json=evil.json
case_ dup-dot-inside 1 "$CFG" $good f:ckpt/./config.json=evil.json
case_ dup-mixed 1 "$CFG" $good f:././ckpt/.//./config.json=evil.json
case_ dup-shard 1 "$SHARD" $good "f:./ckpt//$S2=evil.safetensors"
case_ dup-dotdot 2 "dup-dotdot.tar: entry \"ckpt/../ckpt/config.json\" has a \"..\" component (extractors disagree on where it lands)" \
	$good f:ckpt/../ckpt/config.json=evil.json
# the other way round: the last one is the right one, and that is what is left
case_ dup-bad-first 0 "" f:ckpt/config.json=evil.json $good
case_ dup-bad-first-spelt 0 "" f:./ckpt//./config.json=evil.json $good
# a directory name spelt two ways is one directory
case_ dup-dir 0 "" d:./ckpt/ $good d:ckpt//

# ---- a hard link or a symbolic link replaces a file checked before ----
case_ hard-replaces 1 "ckpt/config.json: SHA-256 is $(sha256sum <ckpt/tokenizer_config.json | cut -c1-64)" \
	$good h:ckpt/config.json=ckpt/tokenizer_config.json
case_ hard-extra 1 "ckpt/extra.json: not in the manifest" $good h:ckpt/extra.json=ckpt/config.json
# a hard link holds the bytes its target had then, not the target's name
case_ hard-keeps-old 1 "$CFG" $good f:ckpt/.x=evil.json h:ckpt/config.json=ckpt/.x f:ckpt/.x=ckpt/config.json
case_ hard-restores 0 "" $good h:ckpt/.orig=ckpt/config.json f:ckpt/config.json=evil.json \
	h:./ckpt/config.json=ckpt/.orig
case_ hard-to-self 0 "" $good h:ckpt/config.json=./ckpt/config.json
case_ sym-replaces 1 "ckpt/config.json: SHA-256 is $(sha256sum <ckpt/tokenizer_config.json | cut -c1-64)" \
	$good s:ckpt/config.json=tokenizer_config.json
case_ sym-to-hidden-evil 1 "$CFG" $good f:ckpt/.e=evil.json s:ckpt/config.json=.e
# a link to a file inside reads as that file, as from the extracted directory
case_ sym-to-hidden-good 0 "" $good f:ckpt/.c=ckpt/config.json s:ckpt/config.json=.c
case_ sym-through-top 0 "" $good f:ckpt/.c=ckpt/config.json s:ckpt/config.json=../ckpt/.c
case_ hard-to-link 0 "" $good f:ckpt/.c=ckpt/config.json s:ckpt/.l=.c h:ckpt/config.json=ckpt/.l
case_ sym-to-dir 0 "" $good s:ckpt/self=. s:ckpt/up=..
# a later entry written through a link to a directory
case_ through-link 1 "$CFG" $good s:ckpt/d=. f:ckpt/d/config.json=evil.json
case_ through-hidden 1 "$CFG" $good s:.w=ckpt f:.w/config.json=evil.json
case_ through-two 1 "$SHARD" $good s:ckpt/a=b s:ckpt/b=. "f:ckpt/a/a/$S2=evil.safetensors"
# ... but a directory entry of that name replaces the link with a directory
case_ through-dir-entry 1 "ckpt/d/config.json: not in the manifest" $good s:ckpt/d=. d:ckpt/d \
	f:ckpt/d/config.json=evil.json

# ---- links that lead outside, alone or in chains ----
OUT="outside the archive's directory"
case_ link-abs 2 "link-abs.tar: entry \"ckpt/config.json\" is a symbolic link to \"/etc/passwd\", $OUT" \
	$good s:ckpt/config.json=/etc/passwd
case_ link-up 2 "link-up.tar: entry \"ckpt/x\" is a symbolic link to \"../..\", $OUT" $good s:ckpt/x=../..
case_ chain-2 2 "chain-2.tar: entry \"ckpt/c\" is a symbolic link to \"b/..\", which leads $OUT through the symbolic link \"ckpt/b\"" \
	$good s:ckpt/b=.. s:ckpt/c=b/..
case_ chain-3 2 "chain-3.tar: entry \"ckpt/l3\" is a symbolic link to \"l2/../..\", which leads $OUT through the symbolic link \"ckpt/l2\"" \
	$good s:ckpt/l1=. s:ckpt/l2=l1/.. s:ckpt/l3=l2/../..
# each link inside when made, the first one leads out once the second is there
case_ chain-late 2 "chain-late.tar: entry \"ckpt/c\" is a symbolic link to \"b/..\", which leads $OUT through the symbolic link \"ckpt/b\"" \
	$good s:ckpt/c=b/.. s:ckpt/b=..
case_ chain-dir 2 "chain-dir.tar: entry \"ckpt/c\" is a symbolic link to \"sub/up/..\", which leads $OUT through the symbolic link \"ckpt/sub/up\"" \
	$good d:ckpt/sub s:ckpt/sub/up=../.. s:ckpt/c=sub/up/..
# a hard link to a link is the same link elsewhere
case_ hard-moves-link 2 "hard-moves-link.tar: entry \"top\" is a symbolic link to \"../ckpt/config.json\", $OUT" \
	$good s:ckpt/l=../ckpt/config.json h:top=ckpt/l
case_ hard-out 2 "hard-out.tar: entry \"ckpt/x\" is a hard link to \"../../etc/passwd\", $OUT" \
	$good h:ckpt/x=../../etc/passwd
case_ link-loop 2 "link-loop.tar: entry \"ckpt/a\" is a symbolic link to \"b\": links that loop (more than 40 in a row)" \
	$good s:ckpt/a=b s:ckpt/b=a
case_ link-out-of-ckpt 2 "link-out-of-ckpt.tar: entry \"ckpt/config.json\" is a symbolic link to \".h/config.json\", outside the checkpoint's directory \"ckpt\"" \
	$good f:.h/config.json=ckpt/config.json s:ckpt/config.json=../.h/config.json

# ---- names ----
case_ name-abs 2 "name-abs.tar: entry \"/tmp/evil.json\" is an absolute path" $good f:/tmp/evil.json=evil.json
case_ name-up 2 "name-up.tar: entry \"../evil.json\" leads $OUT" $good f:../evil.json=evil.json
case_ name-up-inside 2 "name-up-inside.tar: entry \"ckpt/../../evil.json\" leads $OUT" \
	$good f:ckpt/../../evil.json=evil.json
case_ name-top 2 "name-top.tar: entry \".\" names the extraction directory itself" $good t:.=x

# ---- what tar fails on, or leaves depending on the file system ----
case_ below-file 2 "below-file.tar: entry \"ckpt/config.json/x\" lies below \"ckpt/config.json\", which is not a directory (tar fails on it)" \
	$good t:ckpt/config.json/x=x
case_ below-late 2 "below-late.tar: entry \"ckpt/q/config.json\" lies below the symbolic link \"ckpt/q\", which tar makes only after the last entry (tar fails on it)" \
	$good s:ckpt/q=../ckpt f:ckpt/q/config.json=evil.json
case_ below-dangling 2 "below-dangling.tar: entry \"ckpt/q/x\" lies below the symbolic link \"ckpt/q\", which leads to nothing (tar fails on it)" \
	$good s:ckpt/q=nowhere t:ckpt/q/x=x
case_ replaces-dir 2 "replaces-dir.tar: entry \"ckpt\" replaces the directory \"ckpt\", which is not empty (tar fails on it)" \
	$good t:ckpt=x
case_ replaces-late 2 "replaces-late.tar: entry \"ckpt/config.json\" replaces the symbolic link \"ckpt/config.json\", which tar makes only after the last entry (what is left there depends on the file system)" \
	$good s:ckpt/config.json=../ckpt/tokenizer.json f:ckpt/config.json=ckpt/config.json
case_ hard-missing 2 "hard-missing.tar: entry \"ckpt/x\" is a hard link to \"ckpt/nothing\", which is not there at that point (tar fails on it)" \
	$good h:ckpt/x=ckpt/nothing
case_ hard-later 2 "hard-later.tar: entry \"ckpt/config.json\" is a hard link to \"ckpt/.later\", which is not there at that point (tar fails on it)" \
	h:ckpt/config.json=ckpt/.later $good f:ckpt/.later=evil.json
case_ hard-dir 2 "hard-dir.tar: entry \"ckpt/x\" is a hard link to the directory \"ckpt\" (tar fails on it)" \
	$good h:ckpt/x=ckpt
case_ fifo 2 "fifo.tar: entry \"ckpt/config.json\" is a FIFO (a checkpoint holds files, directories and links only)" \
	$good p:ckpt/config.json
case_ device 2 "device.tar: entry \"ckpt/null\" is a character device (a checkpoint holds files, directories and links only)" \
	$good c:ckpt/null
case_ device-hidden 2 "device-hidden.tar: entry \".dev/null\" is a character device (a checkpoint holds files, directories and links only)" \
	c:.dev/null $good

run_cases

# ---- sparse files: the holes are zeros up to the file's full size ----
mkdir -p sp && cp ckpt/* sp/
printf 'DATA' >sp/tail.bin && truncate -s 256M sp/tail.bin                    # a trailing hole
printf 'A' >sp/mid.bin && truncate -s 16M sp/mid.bin && printf 'B' >>sp/mid.bin # holes inside
truncate -s 40M sp/mid.bin && printf 'C' >>sp/mid.bin
(cd sp && sha256sum -- *) >SP.SUMS
tar --sparse -cf sparse.tar sp
sparse_case() { # NAME RC WHAT ARCHIVE [VERIFY OPTION]...
	local name=$1 want=$2 what=$3 tar=$4
	shift 4
	run "$verify" "$@" "$tar"
	if [ "$rc" -eq "$want" ] && { [ -z "$what" ] || [ "$(cat err)" = "ckpt-verify: $what" ] ||
		grep -qF "  $what" out; }; then
		ok "$name: exit $want"
	else
		not_ok "$name: exit $want" "exit $rc" "$(cat err)" "$(head -n 8 out)" "wanted: $what"
	fi
}
if [ "$(tar tvf sparse.tar | grep -c '^-.*tail.bin')" -eq 1 ] && [ "$(stat -c %s sparse.tar)" -lt 20000000 ]; then
	sparse_case "sparse: trailing and inner holes hashed as the zeros tar writes" 0 "" sparse.tar --manifest SP.SUMS
	rm -rf jail && mkdir jail && (cd jail && tar xf ../sparse.tar && cd sp && sha256sum -c --quiet ../../SP.SUMS) >/dev/null 2>&1
	expect_eq "sparse: tar x leaves the manifest's bytes" $? 0
	# the manifest an archive of the data alone would satisfy (what was hashed before)
	sed "s/^[0-9a-f]*  tail.bin\$/$(printf DATA | sha256sum | cut -c1-64)  tail.bin/" SP.SUMS >short.sums
	sparse_case "sparse: the data without its trailing hole does not match" 1 \
		"sparse.tar/sp/tail.bin: SHA-256 is $(sha256sum <sp/tail.bin | cut -c1-64), the manifest says" sparse.tar --manifest short.sums
	check "sparse: ... nor does it for sha256sum on the extracted file" \
		bash -c "! (cd jail/sp && sha256sum -c --quiet ../../short.sums) >/dev/null 2>&1"
	truncate -s 20G sp/tail.bin
	tar --sparse -cf sparse20.tar sp
	run "$verify" --manifest SP.SUMS sparse20.tar
	check "sparse: a 20 GiB hole with a manifest: refused, exit 2, named" grep -qxE \
		"ckpt-verify: sparse20.tar: entry \"sp/tail.bin\" is a sparse file with 2147483[0-9]{4} bytes of holes: ckpt-verify hashes at most 4 GiB of holes in an archive \(extract it and verify the directory\)" err
	expect_rc "... exit 2" 2
	sparse_case "sparse: a 20 GiB hole without a manifest: nothing to hash, checked" 0 "" sparse20.tar
else
	skip "sparse archives" "tar --sparse made no small sparse archive here"
fi
exit 0
