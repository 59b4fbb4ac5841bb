#!/usr/bin/env bash
# --version and --help everywhere: every program built (the tools, the ckpt front command,
# the dev tool ckpt-synth) prints "NAME VERSION" and exits 0, with VERSION the Makefile's;
# --help prints a usage on standard output and exits 0; an unknown option exits 2.
. "$CKPT_ROOT/tests/cli/lib.sh"
version=$(sed -n 's/^VERSION *:= *//p' "$CKPT_ROOT/Makefile")
progs=("$CKPT_BIN"/ckpt "$CKPT_BIN"/ckpt-*)
[ -x "${CKPT_BUILD:-$CKPT_ROOT/build}/dev/ckpt-synth" ] && progs+=("${CKPT_BUILD:-$CKPT_ROOT/build}/dev/ckpt-synth")
n=0
for p in "${progs[@]}"; do
	[ -x "$p" ] || continue
	name=${p##*/}
	n=$((n + 1))
	run "$p" --version
	if [ "$rc" -eq 0 ] && [ "$(cat out)" = "$name $version" ] && [ ! -s err ]; then
		ok "$name --version prints \"$name $version\""
	else
		not_ok "$name --version prints \"$name $version\"" "exit $rc" "stdout: $(cat out)" "stderr: $(cat err)"
	fi
	run "$p" --help
	if [ "$rc" -eq 0 ] && grep -qi '^usage: ' out && [ ! -s err ]; then
		ok "$name --help: a usage on stdout, exit 0"
	else
		not_ok "$name --help: a usage on stdout, exit 0" "exit $rc" "$(head -n 3 out)"
	fi
	run "$p" --no-such-option
	expect_rc "$name --no-such-option: exit 2" 2
done
check "at least four programs checked ($n)" [ "$n" -ge 4 ]
exit 0
