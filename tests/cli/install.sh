#!/usr/bin/env bash
# make install PREFIX=... DESTDIR=...: the programs and man pages where they belong, the
# installed `ckpt` front command running the installed tools (not the ones on PATH), and
# make uninstall removing it all again.
. "$CKPT_ROOT/tests/cli/lib.sh"
dest=$PWD/dest
# a make of our own, not a sub-make of the suite's (its jobserver is not ours)
mk() { env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s --no-print-directory -C "$CKPT_ROOT" \
	BIN="$CKPT_BIN" BUILD="${CKPT_BUILD:-$CKPT_ROOT/build}" PREFIX=/usr DESTDIR="$dest" "$@"; }
version=$(sed -n 's/^VERSION *:= *//p' "$CKPT_ROOT/Makefile")

run mk install
expect_rc "make install PREFIX=/usr DESTDIR=...: exit 0" 0
tools=$(cd "$CKPT_BIN" && ls ckpt ckpt-* 2>/dev/null | LC_ALL=C sort | tr '\n' ' ')
expect_eq "every program is installed in DESTDIR/usr/bin, executable" \
	"$(cd "$dest/usr/bin" && find . -type f -perm -u+x -printf '%f\n' | LC_ALL=C sort | tr '\n' ' ')" "$tools"
mans=$(cd "$CKPT_ROOT/man" && ls ./*.1 | sed 's|^\./||' | LC_ALL=C sort | tr '\n' ' ')
expect_eq "every man page is installed in DESTDIR/usr/share/man/man1" \
	"$(cd "$dest/usr/share/man/man1" && ls | LC_ALL=C sort | tr '\n' ' ')" "$mans"
missing=""
for t in $tools; do [ -f "$CKPT_ROOT/man/$t.1" ] || missing="$missing $t"; done
expect_eq "every program has its man page, ckpt(1) included" "$missing" ""
expect_eq "nothing installed outside DESTDIR/usr/bin and DESTDIR/usr/share/man/man1" \
	"$(cd "$dest" && find . -type f | grep -v '^\./usr/bin/\|^\./usr/share/man/man1/')" ""

# the installed front command, with a PATH that holds none of the tools
inst=$dest/usr/bin
mkdir nothing
run env PATH=$PWD/nothing "$inst/ckpt" help
expect_rc "installed ckpt help: exit 0" 0
for t in $tools; do
	[ "$t" = ckpt ] && continue
	expect_has "installed ckpt help lists ${t#ckpt-}" "  ${t#ckpt-} "
done
expect_line "installed ckpt help: the exit status convention" \
	"Exit status: 0 success, 1 a check found problems, 2 usage, input or output error."
run env PATH=$PWD/nothing "$inst/ckpt" inspect "$tiny"
expect_rc "installed ckpt inspect DIR: exit 0" 0
"$CKPT_BIN/ckpt-inspect" "$tiny" >direct.out 2>&1
expect_same "installed ckpt inspect DIR: the same report as ckpt-inspect DIR" out direct.out
run env PATH=$PWD/nothing "$inst/ckpt" inspect "$CKPT_ROOT/fixtures/bad/layout-truncated.safetensors"
expect_rc "installed ckpt inspect of a bad file: the tool's exit status (2)" 2
expect_err "installed ckpt inspect of a bad file: the tool's message, under the tool's name" \
	"ckpt-inspect: $CKPT_ROOT/fixtures/bad/layout-truncated.safetensors: file is truncated: the header describes 8 bytes of tensor data, the file holds 5"
run env PATH=$PWD/nothing "$inst/ckpt" help inspect
expect_rc "installed ckpt help inspect: exit 0" 0
expect_has "installed ckpt help inspect: ckpt-inspect's --help" "Usage: ckpt-inspect"
run env PATH=$PWD/nothing "$inst/ckpt" --version
expect_line "installed ckpt --version" "ckpt $version"
run env PATH=$PWD/nothing "$inst/ckpt" no-such-tool x
expect_rc "installed ckpt with an unknown tool: exit 2" 2
expect_err "installed ckpt with an unknown tool: message" \
	"ckpt: no-such-tool: no such tool: no ckpt-no-such-tool beside $inst or on PATH (ckpt help lists the tools)"
run env PATH=$PWD/nothing "$inst/ckpt" ../../bin/sh
expect_rc "ckpt with a path for a tool: exit 2" 2
expect_err "ckpt with a path for a tool: refused" "ckpt: \"../../bin/sh\": not a tool name (ckpt help lists the tools)"
run "$inst/ckpt"
expect_rc "ckpt without a tool: usage, exit 2" 2
# a tool found on PATH when none is beside ckpt
mkdir -p alone pathdir
cp "$inst/ckpt" alone/
cp "$inst/ckpt-inspect" pathdir/
run env PATH="$PWD/pathdir" alone/ckpt inspect "$tiny"
expect_rc "ckpt with no tool beside it runs the one on PATH" 0
run env PATH=$PWD/nothing alone/ckpt help
expect_eq "ckpt help lists only the tools it can run" "$(grep -c '^  [a-z]' out)" 0

if command -v groff >/dev/null; then
	warn=$(for m in "$dest"/usr/share/man/man1/*.1; do groff -man -Tutf8 -ww -z "$m" 2>&1 | sed "s|^|${m##*/}: |"; done)
	expect_eq "the installed man pages format without a groff warning" "$warn" ""
else
	skip "the installed man pages format without a groff warning" "groff is not installed"
fi

run mk uninstall
expect_rc "make uninstall: exit 0" 0
expect_eq "make uninstall removes every file it installed" "$(find "$dest" -type f)" ""
exit 0
