#!/usr/bin/env bash
# The fuzzers' corpora, run without libFuzzer (and without clang): every input in
# tests/fuzz/corpus/TARGET through the target's code and its checks, in the plain build and,
# under `make san`, with ASan and UBSan.  The inputs that once crashed a parser are among
# them (crash-*).  A check that fails in a target stops it (exit status >= 128).
. "$CKPT_ROOT/tests/cli/lib.sh"
corpus=$CKPT_ROOT/tests/fuzz/corpus
for src in "$CKPT_ROOT"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	bin=${CKPT_BUILD:-$CKPT_ROOT/build}/tests/replay_$t
	if [ ! -x "$bin" ]; then
		not_ok "fuzz corpus $t: $bin is not built"
		continue
	fi
	if [ ! -d "$corpus/$t" ]; then
		not_ok "fuzz corpus $t: no $corpus/$t"
		continue
	fi
	run "$bin" "$corpus/$t"
	n=$(sed -n 's/^\([0-9]*\) inputs$/\1/p' out)
	if [ "$rc" -eq 0 ] && [ "${n:-0}" -gt 0 ]; then
		ok "fuzz corpus $t: $n inputs run clean"
	else
		not_ok "fuzz corpus $t: every input runs clean" "exit status $rc" "$(tail -n 5 err)"
	fi
done
exit 0
