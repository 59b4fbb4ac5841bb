#!/usr/bin/env bash
# ckpt-fp8-to-bf16: byte-exact against upstream fp8_cast_bf16.py on the golden checkpoint, a
# complete output directory, options, per-shard mode under GNU parallel, resume, tar output,
# refusals with their exact messages, full disks.
# (tree_sums, same_tree, skip, hlen and strip_meta come from lib.sh; ok, check and run are
# this file's own)
. "$CKPT_ROOT/tests/cli/lib.sh"
T=$CKPT_BIN/ckpt-fp8-to-bf16
IN=$CKPT_ROOT/fixtures/tiny-v3
G=$CKPT_GOLDEN/tiny-v3.fp8_cast_bf16
SHARDS="model-00001-of-00003.safetensors model-00002-of-00003.safetensors model-00003-of-00003.safetensors"

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else nok "$name"; fi; }

# run, keeping stderr in $err and the status in $rc
run() { err=$("$@" 2>&1 >/dev/null); rc=$?; }

# --- the one-shot conversion, against upstream's output ---
"$T" "$IN" out >/dev/null 2>err.txt
check "converts the golden tiny-v3 (exit 0, nothing on stderr)" [ $? -eq 0 -a ! -s err.txt ]

if [ -d "$G" ]; then
	good=0
	for s in $SHARDS; do
		strip_meta "out/$s" >stripped
		cmp -s stripped "$G/$s" && good=$((good + 1))
	done
	check "every shard equals upstream's byte for byte once __metadata__ is taken out ($good of 3)" [ $good -eq 3 ]
	good=0
	for s in $SHARDS; do
		a=$(hlen "out/$s") b=$(hlen "$G/$s")
		cmp -s <(tail -c +$((9 + a)) "out/$s") <(tail -c +$((9 + b)) "$G/$s") &&
			head -c $((8 + a)) "out/$s" | tail -c "$a" | grep -q '^{"__metadata__":{"format":"pt"},"' &&
			good=$((good + 1))
	done
	check "data sections identical to upstream's, header starts with __metadata__ {\"format\":\"pt\"} ($good of 3)" [ $good -eq 3 ]
	total=0
	for s in $SHARDS; do total=$((total + $(stat -c %s "out/$s") - 8 - $(hlen "out/$s"))); done
	sed '2,4c\  "metadata": {},' out/model.safetensors.index.json >index.want
	check "index equals upstream's except metadata, which is {\"total_size\": $total}" \
		cmp -s index.want "$G/model.safetensors.index.json"
	check "metadata.total_size is the sum of the shards' data bytes" \
		grep -qx "    \"total_size\": $total" out/model.safetensors.index.json
else
	skip "byte identity with upstream" "no golden data at $G"
fi
# (the fixture's config.json ends without a newline, as json.dump writes it)
printf %s "$(grep -v '"quantization_config": {' "$IN/config.json" | sed '/"activation_scheme"/,/^  },$/d')" >config.want
check "config.json: quantization_config removed, every other byte kept" cmp -s config.want out/config.json
check "tokenizer and generation config copied unchanged" \
	eval 'cmp -s "$IN/tokenizer.json" out/tokenizer.json && cmp -s "$IN/tokenizer_config.json" out/tokenizer_config.json && cmp -s "$IN/generation_config.json" out/generation_config.json'
check "no scale tensor in the index" eval '! grep -q _scale_inv out/model.safetensors.index.json'
check "the directory holds the shards, index, config, side files and the run record with its sums, no temporary" \
	[ "$(cd out && ls -A | tr '\n' ' ')" = ".ckpt-run.json .ckpt-run.sha256 config.json generation_config.json model-00001-of-00003.safetensors model-00002-of-00003.safetensors model-00003-of-00003.safetensors model.safetensors.index.json tokenizer.json tokenizer_config.json " ]

# --- torch_dtype set, other files (any name, subdirectories), hidden entries left out ---
cp -r "$IN" in2
sed -i 's/"torch_dtype": "bfloat16"/"torch_dtype": "float8_e4m3fn"/' in2/config.json
mkdir -p in2/figures in2/.cache
echo readme >in2/README.md
echo 'print(1)' >in2/modeling_deepseek.py
printf 'png' >in2/figures/x.png
echo hidden >in2/.cache/x
echo attrs >in2/.gitattributes
"$T" in2 out2 2>/dev/null
check "torch_dtype set to bfloat16" eval 'grep -q "\"torch_dtype\": \"bfloat16\"" out2/config.json && cmp -s out/config.json out2/config.json'
check "README, *.py and files in subdirectories copied" \
	eval 'cmp -s in2/README.md out2/README.md && cmp -s in2/modeling_deepseek.py out2/modeling_deepseek.py && cmp -s in2/figures/x.png out2/figures/x.png'
check "hidden files and directories not copied" [ ! -e out2/.cache -a ! -e out2/.gitattributes ]

# --- --drop-mtp ---
"$T" --drop-mtp "$IN" mtp 2>/dev/null
mtp_in_headers=0
for s in $SHARDS; do head -c 20000 "mtp/$s" | grep -q 'model\.layers\.3\.' && mtp_in_headers=1; done
check "--drop-mtp: no model.layers.3 tensor in shards or index" \
	eval '[ $mtp_in_headers -eq 0 ] && ! grep -q "model\.layers\.3\." mtp/model.safetensors.index.json && grep -q "model\.layers\.2\." mtp/model.safetensors.index.json'
check "--drop-mtp: num_nextn_predict_layers 0, nothing else changed" \
	eval 'sed "s/\"num_nextn_predict_layers\": 0/\"num_nextn_predict_layers\": 1/" mtp/config.json | cmp -s - out/config.json'
total=0
for s in $SHARDS; do total=$((total + $(stat -c %s "mtp/$s") - 8 - $(hlen "mtp/$s"))); done
check "--drop-mtp: total_size of what is left ($total)" grep -qx "    \"total_size\": $total" mtp/model.safetensors.index.json
check "--drop-mtp: shard 1 (no MTP tensors) unchanged" cmp -s out/model-00001-of-00003.safetensors mtp/model-00001-of-00003.safetensors

# --- threads ---
"$T" -j 1 "$IN" j1 2>/dev/null
"$T" -j 4 "$IN" j4 2>/dev/null
check "-j 1 and -j 4 write the same bytes" eval 'same_tree j1 out && same_tree j4 out'

# --- per-shard mode ---
run "$T" --finalize "$IN" ps
check "--finalize before the shards: exit 2, names the missing shard" \
	[ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: ps/model-00001-of-00003.safetensors: missing or incomplete: every file must be written before finalizing" ]
for s in $("$T" --list-shards "$IN"); do "$T" --shard "$s" "$IN" ps; done
check "--shard writes its shard only" [ "$(ls ps | wc -l)" -eq 3 -a ! -e ps/config.json ]
"$T" --finalize "$IN" ps
check "--shard for each shard, then --finalize, equals a one-shot run" same_tree ps out
run "$T" --shard nope.safetensors "$IN" ps
check "--shard of a name that is no shard: exit 2" [ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: nope.safetensors: not a shard of $IN (see --list-shards)" ]
check "--list-shards prints the shards" [ "$("$T" --list-shards "$IN" | tr '\n' ' ')" = "$SHARDS " ]

if command -v parallel >/dev/null; then
	CKPT_FP8_TO_BF16=$T "$CKPT_ROOT/scripts/fp8-to-bf16-parallel.sh" -P 3 "$IN" par >/dev/null 2>par.err
	check "scripts/fp8-to-bf16-parallel.sh (real GNU parallel, 3 at once) equals a one-shot run" \
		eval '[ $? -eq 0 ] && same_tree par out'
	CKPT_FP8_TO_BF16=$T "$CKPT_ROOT/scripts/fp8-to-bf16-parallel.sh" -P 3 "$IN" par --drop-mtp >/dev/null 2>par.err
	check "the recipe refuses to mix runs with other options in one directory" \
		grep -q "not an earlier run of this conversion" par.err
else
	skip "scripts/fp8-to-bf16-parallel.sh under GNU parallel" "GNU parallel is not installed"
fi

# --- resume ---
cp -r out res
touch -d '2001-01-01' res/model-00001-of-00003.safetensors
truncate -s 1000 res/model-00002-of-00003.safetensors
rm res/model-00003-of-00003.safetensors
printf partial >res/.model-00003-of-00003.safetensors.ckpt-tmp
"$T" "$IN" res 2>/dev/null
check "a re-run redoes a truncated and a missing shard and ends equal to a clean run" same_tree res out
check "a re-run keeps a complete shard (not rewritten)" [ "$(stat -c %Y res/model-00001-of-00003.safetensors)" = "$(date -d 2001-01-01 +%s)" ]
check "a re-run removes the temporary file an interrupted run left" [ ! -e res/.model-00003-of-00003.safetensors.ckpt-tmp ]
"$T" --force "$IN" res 2>/dev/null
check "--force rewrites complete shards" [ "$(stat -c %Y res/model-00001-of-00003.safetensors)" != "$(date -d 2001-01-01 +%s)" ]
# a same-size shard with one flipped header byte is not taken as complete
cp -r out res2
printf 'X' | dd of=res2/model-00002-of-00003.safetensors bs=1 seek=20 conv=notrunc 2>/dev/null
"$T" "$IN" res2 2>/dev/null
check "a shard whose header differs from the plan is redone" same_tree res2 out

# killed at any moment: nothing partial under a final name, and a re-run completes it
killed_ok=1
for delay in 0.005 0.01 0.02 0.04; do
	rm -rf kill
	"$T" -j 2 "$IN" kill 2>/dev/null &
	pid=$!
	sleep $delay
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	for s in $SHARDS; do
		[ ! -e "kill/$s" ] || cmp -s "kill/$s" "out/$s" || killed_ok=0
	done
	"$T" "$IN" kill 2>/dev/null && same_tree kill out || killed_ok=0
done
check "kill -9 at any moment: no partial shard under its name; the re-run completes it" [ $killed_ok -eq 1 ]

# --- tar output ---
"$T" "$IN" - 2>/dev/null | (mkdir untar && tar x -C untar)
check "OUTPUT - writes a tar stream that extracts to the same directory (minus the run record)" \
	eval 'rm -f untar/.ckpt-run.json; cp -r out cmp-tar && rm cmp-tar/.ckpt-run.json cmp-tar/.ckpt-run.sha256 && same_tree untar cmp-tar'
run "$T" --shard model-00001-of-00003.safetensors "$IN" -
check "--shard with a tar stream: exit 2" [ $rc -eq 2 ]

# --- refusals ---
cp -r "$IN" in3
run "$T" in3 in3/out
check "output inside the input: exit 2, exact message" \
	[ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: in3/out: is inside the input directory in3; the output must go elsewhere" -a ! -e in3/out ]
run "$T" in3 in3
check "output equal to the input: exit 2, exact message" \
	[ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: in3: is the input directory; the output must go elsewhere" ]
mkdir foreign && echo mine >foreign/notes.txt
run "$T" "$IN" foreign
check "a foreign non-empty output: exit 2, exact message, untouched" \
	[ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: foreign: not empty, and not an earlier run of this conversion (no .ckpt-run.json); --force writes into it anyway" -a "$(ls -A foreign)" = notes.txt ]
run "$T" --drop-mtp "$IN" out
check "an earlier run with other options is foreign: exit 2" \
	[ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: out: not empty, and not an earlier run of this conversion (its .ckpt-run.json names another); --force writes into it anyway" ]
"$T" --force "$IN" foreign 2>/dev/null
check "--force writes into a foreign directory, leaving its own files" eval '[ -e foreign/notes.txt ] && cmp -s foreign/model-00002-of-00003.safetensors out/model-00002-of-00003.safetensors'
cp -r "$IN" bad
truncate -s 1000 bad/model-00002-of-00003.safetensors
run "$T" bad badout
check "a damaged input shard: exit 2, the library's message" \
	[ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: bad/model-00002-of-00003.safetensors: header length 9568 runs past the end of the file (1000 bytes)" -a ! -e badout ]
run "$T" nowhere x
check "a missing input: exit 2" [ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: nowhere: No such file or directory" ]
run "$T" "$IN"
check "one argument: usage error, exit 2" [ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: INPUT_DIR and OUTPUT_DIR are needed (see ckpt-fp8-to-bf16 --help)" ]
run "$T" -x "$IN" x
check "an unknown option: named, exit 2" [ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: unknown option '-x' (see ckpt-fp8-to-bf16 --help)" ]
run "$T" "$IN" x --shard
check "--shard without its NAME: named, exit 2" [ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: option '--shard' needs an argument (see ckpt-fp8-to-bf16 --help)" ]
check "--version prints the version" [ "$("$T" --version)" = "ckpt-fp8-to-bf16 0.1.0" ]
check "--help prints the usage, exit 0" eval '"$T" --help | head -1 | grep -q "^Usage: ckpt-fp8-to-bf16 \[OPTION\]\.\.\. INPUT_DIR OUTPUT_DIR$"'
run "$T" -j 0 "$IN" j0
check "-j 0: usage error, exit 2" [ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: -j wants a number of threads from 1 to 4096, not '0' (see ckpt-fp8-to-bf16 --help)" ]

# --- full disks ---
err=$("$T" "$IN" - 2>&1 >/dev/full); rc=$?
check "tar stream to a full device: exit 2, says so" \
	[ $rc -eq 2 -a "$err" = "ckpt-fp8-to-bf16: standard output: cannot write the header of model-00001-of-00003.safetensors: No space left on device" ]
err=$(ulimit -f 2048; "$T" -j 2 "$IN" fsz 2>&1)
rc=$?
check "a write that fails midway (file size limit): exit 2, message, nothing partial left" \
	eval '[ $rc -eq 2 ] && [ "$err" = "ckpt-fp8-to-bf16: fsz/model-00001-of-00003.safetensors: write failed: File too large" ] && [ "$(ls -A fsz)" = .ckpt-run.json ]'
if unshare -r -m true 2>/dev/null; then
	mkdir mnt
	err=$(unshare -r -m sh -c 'mount -t tmpfs -o size=4m tmpfs mnt && "$0" "$1" mnt/out; echo "rc=$?"; ls -A mnt' "$T" "$IN" 2>&1)
	# (nothing left, not even the record: issue 14, item 11)
	check "a small file system: refused before writing, exit 2, nothing left behind" \
		eval 'printf "%s\n" "$err" | head -1 | grep -q "^ckpt-fp8-to-bf16: mnt/out: not enough free space: the output needs 14.7 MiB, .* are free$" && [ "$(printf "%s\n" "$err" | tail -n +2 | tr "\n" " ")" = "rc=2 " ]'
else
	skip "a small file system (tmpfs)" "no user namespaces to mount one in"
fi

# --- warnings and --strict: a weight without its scale ---
if [ -x "$CKPT_BUILD/dev/ckpt-synth" ] && [ -f "$CKPT_ROOT/fixtures/specs/drop-scale.json" ]; then
	"$CKPT_BUILD/dev/ckpt-synth" -q "$CKPT_ROOT/fixtures/specs/drop-scale.json" nosc >/dev/null 2>&1
	# config.json implies the scale: refused before any work (tests/cli/hostile-config.sh)
	run "$T" nosc nosc-out
	check "a weight without the scale config.json implies: exit 2, nothing written" \
		eval '[ $rc -eq 2 ] && [ "$err" = "ckpt-fp8-to-bf16: nosc: tensor \"model.layers.1.mlp.experts.2.up_proj.weight_scale_inv\" is missing (config.json implies F32 [1, 2] for the F8_E4M3 weight)" ] && [ ! -e nosc-out ]'
	# without a config.json nothing says there should be one: upstream's warning
	rm nosc/config.json
	run "$T" nosc nosc-out
	check "a weight without a scale, no config.json: warning, copied unchanged, exit 0" \
		eval '[ $rc -eq 0 ] && printf "%s\n" "$err" | grep -q "warning: .*model.layers.1.mlp.experts.2.up_proj.weight\" has no scale model.layers.1.mlp.experts.2.up_proj.weight_scale_inv; copied unchanged"'
	run "$T" --strict nosc nosc-strict
	check "--strict with a missing scale: exit 2, nothing written" \
		eval '[ $rc -eq 2 ] && printf "%s\n" "$err" | grep -q "^ckpt-fp8-to-bf16: --strict: .* has no scale" && [ ! -e nosc-strict ]'
	# every edge-case spec end to end: converts, no FP8 and no scale left, same bytes for any -j
	# (values: tests/unit/test_fp8cast.c and test_fp8ref.c)
	for spec in partial scales-bf16 scales-e8m0 ue8m0 block64 block-128x64 e5m2 nan scale-other-shard; do
		"$CKPT_BUILD/dev/ckpt-synth" -q "$CKPT_ROOT/fixtures/specs/$spec.json" "syn-$spec" >/dev/null 2>&1
		"$T" -j 1 "syn-$spec" "syn-$spec.j1" 2>/dev/null && "$T" -j 3 "syn-$spec" "syn-$spec.j3" 2>/dev/null || { nok "$spec converts"; continue; }
		left=0
		for s in "syn-$spec.j1"/*.safetensors; do
			head -c $((8 + $(hlen "$s"))) "$s" | grep -q '"F8_\|_scale_inv"' && left=1
		done
		check "synthetic $spec: converted, no FP8 or scale left, -j 1 and -j 3 identical" \
			eval '[ $left -eq 0 ] && same_tree syn-$spec.j1 syn-$spec.j3'
	done

	# signals in the middle of a shard (264 MB of output: long enough to be caught at work)
	"$CKPT_BUILD/dev/ckpt-synth" -q --set n_routed_experts=3 --set n_group=1 --set topk_group=1 \
		"$CKPT_ROOT/fixtures/specs/bench-experts.json" mid >/dev/null 2>&1
	shard=model-00001-of-00001.safetensors
	# start a conversion and wait until it is writing its shard; 1 if it finished first
	start_mid() {
		rm -rf "$1"
		"$T" -j 2 mid "$1" 2>/dev/null &
		pid=$!
		for _ in $(seq 1 500); do
			[ -e "$1/.$shard.ckpt-tmp" ] && return 0
			kill -0 $pid 2>/dev/null || return 1
			sleep 0.01
		done
		return 1
	}
	if start_mid sig; then
		kill -TERM $pid
		wait $pid
		rc=$?
		left=$(ls -A sig | tr '\n' ' ')
		check "SIGTERM while writing: dies of the signal (143), temporary removed, nothing under a final name (status $rc, left: $left)" \
			eval '[ $rc -eq 143 ] && [ "$left" = ".ckpt-run.json " ]'
	else
		wait $pid
		skip "SIGTERM while writing" "the conversion ended before the signal"
	fi
	"$T" mid clean 2>/dev/null
	if start_mid k9; then
		kill -9 $pid
		wait $pid 2>/dev/null
		ls -A k9 >k9.before
		"$T" mid k9 2>/dev/null
		check "kill -9 while writing: only the run record and a temporary are left; a re-run completes it, equal to a clean run" \
			eval '[ "$(cat k9.before | tr "\n" " ")" = ".ckpt-run.json .$shard.ckpt-tmp " ] && same_tree k9 clean'
	else
		wait $pid
		skip "kill -9 while writing" "the conversion ended before the signal"
	fi
	rm -rf mid sig k9 clean
else
	skip "missing scale: warning and --strict" "no ckpt-synth yet"
fi
exit 0
