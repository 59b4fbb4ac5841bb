#!/usr/bin/env bash
# ckpt-synth (the fixture generator): usage and errors, byte-identical output across runs
# and thread counts, and refgen.py's tiny-v3 spec giving the golden checkpoint's layout and
# side files.  What the checkpoints hold is checked in tests/unit/test_synth.c.
set -u
synth=$CKPT_BUILD/dev/ckpt-synth
specs=$CKPT_ROOT/fixtures/specs
check() { # check NAME CMD...: ok when CMD succeeds
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "ok - synth: $name"; else echo "not ok - synth: $name"; fi
}
# expect_fail NAME STATUS MESSAGE CMD...: CMD exits with STATUS and prints exactly MESSAGE on stderr
expect_fail() {
	local name=$1 want=$2 msg=$3 rc=0
	shift 3
	"$@" >out.txt 2>err.txt || rc=$?
	if [ "$rc" -eq "$want" ] && [ "$(cat err.txt)" = "$msg" ]; then
		echo "ok - synth: $name"
	else
		echo "not ok - synth: $name (status $rc, stderr: $(head -c 300 err.txt))"
	fi
}

check "--help exits 0 and shows the usage" bash -c "'$synth' --help | grep -q '^Usage: ckpt-synth'"
check "--version" bash -c "[ \"\$('$synth' --version)\" = 'ckpt-synth 0.1.0' ]"
rc=0
"$synth" >/dev/null 2>err.txt || rc=$?
check "no arguments is a usage error (status 2, usage on stderr)" test "$rc" -eq 2 -a "$(head -n 1 err.txt)" = "Usage: ckpt-synth [options] SPEC.json OUTDIR"
expect_fail "a missing spec" 2 "ckpt-synth: nope.json: No such file or directory" "$synth" nope.json out
expect_fail "--set needs KEY=JSON" 2 "ckpt-synth: --set seed: the value is not JSON: expected a value at line 1 column 1" \
	"$synth" --set seed=x "$specs/partial.json" out
expect_fail "-j needs a count" 2 "ckpt-synth: -j 0: not a thread count from 1 to 1024" "$synth" -j 0 "$specs/partial.json" out
printf '{"extends": "%s", "hidden_size": 0}' "$specs/partial.json" >bad.json
expect_fail "a bad config value names the spec and the key" 2 'ckpt-synth: bad.json: hidden_size 0 is below the minimum 1' \
	"$synth" bad.json out
check "nothing is written for a bad spec" test ! -e out

"$synth" -q -j 1 "$specs/partial.json" a >/dev/null 2>&1
"$synth" -q -j 2 "$specs/partial.json" b >/dev/null 2>&1
check "partial.json: identical bytes with -j 1 and -j 2" diff -r a b
check "partial.json: two shards, index, config, generation config, tokenizer" test -s a/model-00001-of-00002.safetensors \
	-a -s a/model-00002-of-00002.safetensors -a -s a/model.safetensors.index.json -a -s a/config.json \
	-a -s a/generation_config.json -a -s a/tokenizer.json -a -s a/tokenizer_config.json
check "no temporary files are left behind" bash -c "[ -z \"\$(ls -A a | grep ckpt-tmp)\" ]"
"$synth" -q --set seed=99 "$specs/partial.json" c >/dev/null 2>&1
check "--set seed=99 changes the shards but not the index" bash -c "! cmp -s a/model-00001-of-00002.safetensors c/model-00001-of-00002.safetensors && cmp a/model.safetensors.index.json c/model.safetensors.index.json"
expect_fail "a directory that is not empty is refused" 2 "ckpt-synth: a: not empty (--force writes into it anyway)" \
	"$synth" "$specs/partial.json" a
check "--force rewrites it, byte for byte the same" bash -c "'$synth' -q --force '$specs/partial.json' a && diff -r a b"
out=$("$synth" "$specs/scale-other-shard.json" d 2>&1)
check "the summary says which scale moved" grep -q '^moved model.layers.1.mlp.experts.0.down_proj.weight_scale_inv to model-00002-of-00003.safetensors (its weight is in model-00001-of-00003.safetensors)$' <<<"$out"

# refgen.py's spec for the golden tiny-v3: the same side files byte for byte, the same tensor names
"$synth" -q "$specs/tiny-v3.json" t >/dev/null 2>&1
for f in config.json generation_config.json tokenizer.json tokenizer_config.json; do
	check "tiny-v3.json: $f is the golden one byte for byte" cmp t/$f "$CKPT_ROOT/fixtures/tiny-v3/$f"
done
check "tiny-v3.json: the index names the golden tensors (shards aside)" \
	diff <(sed 's/model-0000.-of-00003/X/' t/model.safetensors.index.json) \
	<(sed 's/model-0000.-of-00003/X/' "$CKPT_ROOT/fixtures/tiny-v3/model.safetensors.index.json")
