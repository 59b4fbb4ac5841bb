#!/usr/bin/env bash
# The malformed-input corpus: for every case of fixtures/bad/EXPECTED ("NAME<TAB>MESSAGE"),
# `ckpt-inspect NAME` (run inside fixtures/bad) exits with status 2, prints nothing on
# stdout and exactly one line on stderr, "ckpt-inspect: MESSAGE", and does not crash.
# Then: the committed corpus is exactly what fixtures/gen/mkbad writes.
set -u
bad=$CKPT_ROOT/fixtures/bad
tool=$CKPT_BIN/ckpt-inspect
work=$PWD

if [ ! -x "$tool" ]; then
	echo "not ok - bad-corpus: $tool is not built"
	exit 1
fi

n=0
while IFS=$'\t' read -r name msg; do
	n=$((n + 1))
	rc=0
	(cd "$bad" && exec "$tool" "$name") >"$work/out" 2>"$work/err" </dev/null || rc=$?
	want="ckpt-inspect: $msg"
	if [ "$rc" -ge 128 ]; then
		echo "not ok - bad $name: crashed (status $rc)"
	elif [ "$rc" -ne 2 ]; then
		echo "not ok - bad $name: exit status $rc, not 2"
		head -n 5 "$work/err" | sed 's/^/#   /'
	elif [ -s "$work/out" ]; then
		echo "not ok - bad $name: wrote to stdout"
	elif [ "$(wc -l <"$work/err")" -ne 1 ] || [ "$(cat "$work/err")" != "$want" ]; then
		echo "not ok - bad $name: stderr is not the one expected line"
		echo "#   want: $want"
		head -n 5 "$work/err" | sed 's/^/#   got:  /'
	else
		echo "ok - bad $name"
	fi
done <"$bad/EXPECTED"

if [ "$n" -ge 30 ]; then
	echo "ok - bad corpus has $n cases"
else
	echo "not ok - bad corpus has $n cases, fewer than 30"
fi

gen=$CKPT_BUILD/dev/mkbad
if [ -x "$gen" ]; then
	"$gen" "$work/gen" && diff -r --no-dereference "$work/gen/bad" "$bad" >"$work/diff" 2>&1 &&
		diff -r --no-dereference "$work/gen/edge" "$CKPT_ROOT/fixtures/edge" >>"$work/diff" 2>&1
	if [ $? -eq 0 ]; then
		echo "ok - fixtures/bad and fixtures/edge are what mkbad writes"
	else
		echo "not ok - fixtures/bad or fixtures/edge differ from mkbad's output (rm -rf them; build/dev/mkbad fixtures)"
		head -n 10 "$work/diff" | sed 's/^/#   /'
	fi
else
	echo "not ok - $gen is not built"
fi
