#!/usr/bin/env bash
# ckpt-hf-to-sharded: byte identity with upstream convert.py (mp 2 files, mp 1 and the BF16
# input by sha256), --rank runs, -j, refusals with their exact messages, MTP layers by
# number, side files and the record, resume, exit codes.
. "$CKPT_ROOT/tests/cli/lib.sh"
sum_of() { awk -v f="$1" '$2 == f {print $1}' "${2:-$sums}"; }
sha() { sha256sum "$1" | awk '{print $1}'; }

# ---- exact: fixtures/ref (convert.py run on the GPU machine; sides not multiples of 128) ----
ref=$CKPT_ROOT/fixtures/ref
for f in partial noqlora-softmax sigmoid-1group; do
	run "$tool" -q --model-parallel 1 "$ref/$f/input" "ref-$f"
	expect_eq "ref $f: FP8 mp 1 as convert.py's (sha256 of the rank file and tokenizer)" \
		"$(sha "ref-$f/model0-mp1.safetensors") $(sha "ref-$f/tokenizer.json")" \
		"$(sum_of convert_fp8_mp1/model0-mp1.safetensors "$ref/$f/SHA256SUMS") $(sum_of convert_fp8_mp1/tokenizer.json "$ref/$f/SHA256SUMS")"
done
run "$tool" -q --model-parallel 1 --config "$ref/partial/input/config.json" "$ref/partial/fp8_cast_bf16" ref-b1
expect_eq "ref partial: BF16 mp 1 as convert.py's" "$(sha ref-b1/model0-mp1.safetensors)" \
	"$(sum_of convert_bf16_mp1/model0-mp1.safetensors "$ref/partial/SHA256SUMS")"
run "$tool" -q --model-parallel 2 --config "$ref/partial/input/config.json" "$ref/partial/fp8_cast_bf16" ref-b2
expect_eq "ref partial: BF16 mp 2 as convert.py's" "$(sha ref-b2/model0-mp2.safetensors) $(sha ref-b2/model1-mp2.safetensors)" \
	"$(sum_of convert_bf16_mp2/model0-mp2.safetensors "$ref/partial/SHA256SUMS") $(sum_of convert_bf16_mp2/model1-mp2.safetensors "$ref/partial/SHA256SUMS")"
run "$tool" --model-parallel 2 "$ref/partial/input" ref-p2
expect_rc "ref partial: FP8 mp 2, which convert.py writes with misaligned scales, is refused" 2
expect_err "ref partial: FP8 mp 2: the message" \
	"ckpt-hf-to-sharded: $ref/partial/input/model-00001-of-00002.safetensors: tensor \"model.layers.0.mlp.down_proj.weight\": cutting dim 1 (392) into 2 slices of 196 does not fall on its 128-wide FP8 scale blocks, so the slices would be paired with the wrong scales; convert it to BF16 first (ckpt-fp8-to-bf16)"
run "$tool" --model-parallel 2 "$ref/noqlora-softmax/input" ref-n2
expect_rc "ref noqlora-softmax: FP8 mp 2, which convert.py fails on, is refused" 2

# ckpt-fp8-to-bf16 then ckpt-hf-to-sharded, against convert.py run on fp8_cast_bf16.py's output
if [ -x "$CKPT_BIN/ckpt-fp8-to-bf16" ]; then
	for f in partial noqlora-softmax sigmoid-1group; do
		run "$CKPT_BIN/ckpt-fp8-to-bf16" -q "$ref/$f/input" "chain-$f"
		run "$tool" -q --model-parallel 1 "chain-$f" "chain-$f-1"
		run "$tool" -q --model-parallel 2 "chain-$f" "chain-$f-2"
		expect_eq "ref $f: ckpt-fp8-to-bf16 then mp 1 and 2, as convert.py on fp8_cast_bf16.py's output" \
			"$(sha "chain-$f-1/model0-mp1.safetensors") $(sha "chain-$f-2/model0-mp2.safetensors") $(sha "chain-$f-2/model1-mp2.safetensors")" \
			"$(for r in mp1/model0-mp1 mp2/model0-mp2 mp2/model1-mp2; do sum_of "convert_bf16_$r.safetensors" "$ref/$f/SHA256SUMS"; done | tr '\n' ' ' | sed 's/ $//')"
	done
else
	echo "ok - ckpt-fp8-to-bf16 then ckpt-hf-to-sharded # SKIP no ckpt-fp8-to-bf16 in $CKPT_BIN"
fi

need_golden "hf-to-sharded: upstream outputs"
golden=$CKPT_GOLDEN
sums=$golden/SHA256SUMS
# a copy of the tiny checkpoint (files hard-linked where possible: a symbolic link leading
# outside the directory is refused) with config.json edited by sed expression $2
variant() {
	mkdir -p "$1"
	for f in "$tiny"/*; do ln "$f" "$1/" 2>/dev/null || cp "$f" "$1/"; done
	rm "$1/config.json"
	sed "$2" "$tiny/config.json" >"$1/config.json"
}

# ---- exact: upstream's outputs ----
run "$tool" -v --model-parallel 2 --n-experts 8 "$tiny" mp2
expect_rc "mp2: exit 0" 0
expect_same "mp2: rank 0 byte-identical to convert.py's" mp2/model0-mp2.safetensors "$golden/tiny-v3.convert-mp2/model0-mp2.safetensors"
expect_same "mp2: rank 1 byte-identical to convert.py's" mp2/model1-mp2.safetensors "$golden/tiny-v3.convert-mp2/model1-mp2.safetensors"
expect_same "mp2: tokenizer.json copied" mp2/tokenizer.json "$golden/tiny-v3.convert-mp2/tokenizer.json"
expect_same "mp2: tokenizer_config.json copied" mp2/tokenizer_config.json "$golden/tiny-v3.convert-mp2/tokenizer_config.json"
expect_same "mp2: config.json copied" mp2/config.json "$tiny/config.json"
expect_eq "mp2: the output directory holds exactly these files" "$(ls -A mp2 | tr '\n' ' ')" \
	".ckpt-run.json .ckpt-run.sha256 ckpt-sharding.json config.json model0-mp2.safetensors model1-mp2.safetensors tokenizer.json tokenizer_config.json "
# (the report is one line since issue 14, item 6; -v lists the files before it)
expect_eq "mp2: report (-v: the files, then one line)" "$(sed 's/ in [0-9.]* s;/ in T s;/' out)" "model0-mp2.safetensors: 115 tensors, 2892416 bytes, written
model1-mp2.safetensors: 115 tensors, 2892416 bytes, written
tokenizer.json: 6675 bytes, written
tokenizer_config.json: 103 bytes, written
config.json: 1400 bytes, written
ckpt-sharding.json: $(stat -c %s mp2/ckpt-sharding.json) bytes, written
wrote 6 files (5.53 MiB) to mp2 in T s; MTP layer 3 left out (76 tensors), as convert.py does"
expect_eq "mp2: the record of the sharding" "$(cat mp2/ckpt-sharding.json)" "{
  \"layout\": \"deepseek-model-parallel\",
  \"tool\": \"ckpt-hf-to-sharded 0.1.0\",
  \"model_parallel\": 2,
  \"n_experts\": 8,
  \"experts_per_rank\": 4,
  \"files\": [
    \"model0-mp2.safetensors\",
    \"model1-mp2.safetensors\"
  ],
  \"num_hidden_layers\": 3,
  \"weight_block_size\": [
    128,
    128
  ],
  \"layers_left_out\": [
    3
  ],
  \"tensors_left_out\": 76,
  \"source\": {
    \"path\": \"$(cd "$tiny" && pwd -P)\",
    \"tensors\": 239,
    \"bytes\": 8345936
  }
}"

run "$tool" -q --model-parallel 1 "$tiny" mp1
expect_rc "mp1: exit 0, n-experts from config.json" 0
expect_eq "mp1: --quiet prints nothing" "$(cat out err)" ""
expect_eq "mp1: sha256 of convert.py's --model-parallel 1 output" "$(sha mp1/model0-mp1.safetensors)" \
	"$(sum_of tiny-v3.convert-mp1/model0-mp1.safetensors)"

bf16=$golden/tiny-v3.fp8_cast_bf16
run "$tool" -q --model-parallel 1 --config "$tiny/config.json" "$bf16" b1
expect_rc "bf16 mp1: exit 0" 0
expect_eq "bf16 mp1: sha256 of convert.py's output on fp8_cast_bf16.py's" "$(sha b1/model0-mp1.safetensors)" \
	"$(sum_of tiny-v3.fp8_cast_bf16.convert-mp1/model0-mp1.safetensors)"
run "$tool" -q -j 1 --model-parallel 2 --config "$tiny/config.json" "$bf16" b2
expect_eq "bf16 mp2: sha256 of rank 0" "$(sha b2/model0-mp2.safetensors)" \
	"$(sum_of tiny-v3.fp8_cast_bf16.convert-mp2/model0-mp2.safetensors)"
expect_eq "bf16 mp2: sha256 of rank 1" "$(sha b2/model1-mp2.safetensors)" \
	"$(sum_of tiny-v3.fp8_cast_bf16.convert-mp2/model1-mp2.safetensors)"
run "$tool" -q -j 4 --model-parallel 2 --config "$tiny/config.json" "$bf16" b2j4
expect_same "bf16 mp2: -j 4 gives -j 1's bytes (rank 0, gathers)" b2j4/model0-mp2.safetensors b2/model0-mp2.safetensors
expect_same "bf16 mp2: -j 4 gives -j 1's bytes (rank 1)" b2j4/model1-mp2.safetensors b2/model1-mp2.safetensors

if [ -x "$CKPT_BIN/ckpt-fp8-to-bf16" ]; then
	run "$CKPT_BIN/ckpt-fp8-to-bf16" -q "$tiny" chain-tiny
	run "$tool" -q --model-parallel 1 chain-tiny chain-tiny-1
	run "$tool" -q --model-parallel 2 chain-tiny chain-tiny-2
	expect_eq "tiny-v3: ckpt-fp8-to-bf16 then mp 1 and 2, as convert.py on fp8_cast_bf16.py's output" \
		"$(sha chain-tiny-1/model0-mp1.safetensors) $(sha chain-tiny-2/model0-mp2.safetensors) $(sha chain-tiny-2/model1-mp2.safetensors)" \
		"$(sum_of tiny-v3.fp8_cast_bf16.convert-mp1/model0-mp1.safetensors) $(sum_of tiny-v3.fp8_cast_bf16.convert-mp2/model0-mp2.safetensors) $(sum_of tiny-v3.fp8_cast_bf16.convert-mp2/model1-mp2.safetensors)"
fi

# ---- the run record: a foreign output directory or one inside the input is refused ----
mkdir -p foreign && echo x >foreign/notes.txt
run "$tool" -q --model-parallel 2 "$tiny" foreign
expect_rc "a non-empty output that is not an earlier run: exit 2" 2
check "... and names the directory" grep -q "^ckpt-hf-to-sharded: foreign: not empty, and not an earlier run of this conversion" err
cp -r "$tiny" inside
run "$tool" -q --model-parallel 2 inside inside/out
expect_rc "an output inside the input: exit 2" 2
check "... and says so" grep -q "is inside the input directory" err
run "$tool" -q --model-parallel 1 "$tiny" mp2
expect_rc "other options into an earlier run's directory: exit 2" 2

# ---- one rank per run, as GNU parallel runs them ----
run "$tool" -q -j 1 --rank 1 --model-parallel 2 "$tiny" ranks
expect_rc "--rank 1: exit 0" 0
expect_eq "--rank 1: writes rank 1 only, no side files (the run record aside)" "$(ls -A ranks | tr '\n' ' ')" ".ckpt-run.json .ckpt-run.sha256 model1-mp2.safetensors "
run "$tool" -q -j 4 --rank 0 --model-parallel 2 "$tiny" ranks
expect_same "--rank 0 equals the one-pass rank 0" ranks/model0-mp2.safetensors mp2/model0-mp2.safetensors
expect_same "--rank 1 equals the one-pass rank 1" ranks/model1-mp2.safetensors mp2/model1-mp2.safetensors
expect_same "--rank 0 writes the side files (the record)" ranks/ckpt-sharding.json mp2/ckpt-sharding.json
expect_same "--rank 0 writes the side files (tokenizer)" ranks/tokenizer.json mp2/tokenizer.json

if command -v parallel >/dev/null; then
	run env CKPT_HF_TO_SHARDED="$tool" "$CKPT_ROOT/scripts/hf-to-sharded-parallel.sh" -P 2 "$tiny" par --model-parallel 2 -j 1
	expect_rc "GNU parallel recipe: exit 0" 0
	expect_eq "GNU parallel recipe: the same files as one run" \
		"$(cd par && ls -A | tr '\n' ' ') $(cd par && cat model0-mp2.safetensors model1-mp2.safetensors ckpt-sharding.json | sha256sum)" \
		"$(cd mp2 && ls -A | tr '\n' ' ') $(cd mp2 && cat model0-mp2.safetensors model1-mp2.safetensors ckpt-sharding.json | sha256sum)"
	run env CKPT_HF_TO_SHARDED="$tool" "$CKPT_ROOT/scripts/hf-to-sharded-parallel.sh" "$tiny" par2
	expect_rc "GNU parallel recipe without --model-parallel: exit 2" 2
fi

# ---- where upstream is fragile ----
fp8shard=$tiny/model-00001-of-00003.safetensors
run "$tool" --model-parallel 4 "$tiny" mp4
expect_rc "fp8 mp4: a cut off the scale blocks is refused with exit 2" 2
expect_err "fp8 mp4: the message names the tensor and the way out" \
	"ckpt-hf-to-sharded: $fp8shard: tensor \"model.layers.0.self_attn.o_proj.weight\": cutting dim 1 (256) into 4 slices of 64 does not fall on its 128-wide FP8 scale blocks, so the slices would be paired with the wrong scales; convert it to BF16 first (ckpt-fp8-to-bf16)"
check "fp8 mp4: nothing written" test ! -e mp4
run "$tool" -q --model-parallel 4 --config "$tiny/config.json" "$bf16" b4
expect_rc "bf16 mp4: the same cut of the BF16 checkpoint is fine" 0
expect_eq "bf16 mp4: four ranks" "$(ls b4 | grep -c '^model[0-3]-mp4.safetensors$')" 4

# a config.json whose layer count is not the checkpoint's: refused before any work (convert.py
# would take the layers past num_hidden_layers for MTP layers and leave them out)
variant layers4 's/"num_hidden_layers": 3/"num_hidden_layers": 4/'
run "$tool" --model-parallel 2 layers4 out4
expect_rc "one layer more in config.json: exit 2" 2
expect_err "one layer more in config.json: the message names both counts" \
	"ckpt-hf-to-sharded: layers4/config.json: num_hidden_layers is 4 but the checkpoint has layers 0..2 and MTP layer 3"
check "one layer more in config.json: nothing written" test ! -e out4
variant layers2 's/"num_hidden_layers": 3/"num_hidden_layers": 2/'
run "$tool" --model-parallel 2 layers2 out2
expect_rc "one layer less in config.json: exit 2" 2
expect_err "one layer less in config.json: the message names both counts" \
	"ckpt-hf-to-sharded: layers2/config.json: num_hidden_layers is 2 but the checkpoint has layers 0..2 and MTP layer 3"
check "one layer less in config.json: nothing written" test ! -e out2

run "$tool" --model-parallel 3 --n-experts 8 "$tiny" mp3
expect_rc "experts not divisible: exit 2" 2
expect_err "experts not divisible: message" "ckpt-hf-to-sharded: 8 experts do not divide into 3 ranks (--model-parallel)"
run "$tool" --model-parallel 2 --n-experts 16 "$tiny" e16
expect_rc "--n-experts unlike config.json: exit 2" 2
expect_err "--n-experts unlike config.json: message" \
	"ckpt-hf-to-sharded: $tiny/config.json: n_routed_experts is 8 but --n-experts is 16 (DeepSeek's model.py places experts by the former)"
run "$tool" --model-parallel 2 "$bf16" nocfg
expect_rc "no config.json: exit 2" 2
expect_err "no config.json: message" \
	"ckpt-hf-to-sharded: $bf16: no config.json: its num_hidden_layers says which layers are MTP layers to leave out (give one with --config FILE)"
mkdir stray && for f in "$tiny"/*; do ln "$f" stray/ 2>/dev/null || cp "$f" stray/; done &&
	{ ln "$fp8shard" stray/extra.safetensors 2>/dev/null || cp "$fp8shard" stray/extra.safetensors; }
run "$tool" --model-parallel 2 stray outs
expect_rc "a shard the index does not name: exit 2" 2
expect_err "a shard the index does not name: message" \
	"ckpt-hf-to-sharded: stray/extra.safetensors: not named by stray/model.safetensors.index.json, yet convert.py would read it (index it or move it away)"
run "$tool" --model-parallel 2 mp2 mp2
expect_rc "output = input: exit 2" 2

# ---- resume ----
cp -r mp2 res
run "$tool" -v --model-parallel 2 "$tiny" res
expect_eq "resume: complete files are kept" "$(head -2 out)" "model0-mp2.safetensors: 115 tensors, 2892416 bytes, kept (already complete)
model1-mp2.safetensors: 115 tensors, 2892416 bytes, kept (already complete)"
truncate -s 1000000 res/model1-mp2.safetensors
run "$tool" -v --model-parallel 2 "$tiny" res
expect_eq "resume: a truncated rank is written again" "$(head -2 out | sed 's/.*, //')" "kept (already complete)
written"
expect_same "resume: and is right" res/model1-mp2.safetensors mp2/model1-mp2.safetensors
run "$tool" --force --json --model-parallel 2 "$tiny" res
check "--force --json: every file written" bash -c '[ "$(grep -c "\"kept\": false" out)" = 6 ]'
check "--json: names the files" grep -q '"name": "model1-mp2.safetensors"' out
expect_eq "no temporary files are left" "$(find . -name '*.ckpt-tmp' | wc -l)" 0

# ---- usage ----
run "$tool"
expect_rc "no arguments: exit 2" 2
run "$tool" --help
expect_rc "--help: exit 0" 0
check "--help: shows the synopsis" grep -q '^Usage: ckpt-hf-to-sharded' out
run "$tool" --version
expect_eq "--version" "$(cat out)" "ckpt-hf-to-sharded 0.1.0"
run "$tool" --model-parallel 2 --rank 2 "$tiny" x
expect_rc "--rank beyond the ranks: exit 2" 2
run "$tool" --model-parallel 0 "$tiny" x
expect_rc "--model-parallel 0: exit 2" 2
expect_err "--model-parallel 0: the range" \
	"ckpt-hf-to-sharded: --model-parallel wants a number from 1 to 65536, not '0' (see ckpt-hf-to-sharded --help)"
run "$tool" --bogus "$tiny" x
expect_rc "unknown option: exit 2" 2
expect_err "unknown option: named" "ckpt-hf-to-sharded: unknown option '--bogus' (see ckpt-hf-to-sharded --help)"
run "$tool" "$tiny" x --model-parallel
expect_err "an option without its value" "ckpt-hf-to-sharded: option '--model-parallel' needs an argument (see ckpt-hf-to-sharded --help)"
run "$tool" --model-parallel 2 nowhere x
expect_rc "missing input: exit 2" 2
expect_err "missing input: message" "ckpt-hf-to-sharded: nowhere: No such file or directory"

# ---- the man page ----
if command -v man >/dev/null && command -v groff >/dev/null; then
	run env MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$CKPT_ROOT/man/ckpt-hf-to-sharded.1"
	expect_rc "man page renders" 0
	check "man page: no warnings" test ! -s err
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
		expect_line "man page: section $s" "$s"
	done
fi

# ---- ckpt-inspect understands the model-parallel directory ----
run "$inspect" mp2
expect_rc "inspect mp2: exit 0" 0
expect_line "inspect mp2: the layout" "layout          dsmp"
expect_line "inspect mp2: tensors under their HF names, block scales included" "tensors         163, under their HF names"
expect_line "inspect mp2: experts from the record" "experts         8, 4 per rank (from ckpt-sharding.json)"
expect_line "inspect mp2: rank 1" "                   1  model1-mp2.safetensors      115  2892416  2.76 MiB"
expect_line "inspect mp2: the record" "                MTP layers left out: 3 (76 tensors)"
check "inspect mp2: o_proj joined from two column blocks" \
	grep -qE '^model\.layers\.0\.self_attn\.o_proj\.weight +F8_E4M3 +\[256, 256\] +65536 +2 column blocks +model0-mp2\.safetensors, model1-mp2\.safetensors$' out
check "inspect mp2: its block scale joined the same way" \
	grep -qE '^model\.layers\.0\.self_attn\.o_proj\.weight_scale_inv +F32 +\[2, 2\] +16 +2 column blocks +model0-mp2\.safetensors, model1-mp2\.safetensors$' out
check "inspect mp2: an expert whole from its rank" \
	grep -qE '^model\.layers\.2\.mlp\.experts\.5\.up_proj\.weight +F8_E4M3 +\[256, 256\] +65536 +whole +model1-mp2\.safetensors$' out
check "inspect mp2: a norm with its copy" \
	grep -qE '^model\.norm\.weight +BF16 +\[256\] +512 +whole, 1 copy +model0-mp2\.safetensors, model1-mp2\.safetensors$' out
run "$inspect" --json --match 'model.embed_tokens.*' mp2
q() { "$jsonq" "$1" <out; }
expect_eq "inspect --json: layout, ranks, experts" "$(q checkpoints.0.layout) $(q checkpoints.0.model_parallel) $(q checkpoints.0.n_experts) $(q checkpoints.0.tensor_count)" "dsmp 2 8 163"
expect_eq "inspect --json: a rank" "$(q checkpoints.0.ranks.1)" '{"rank":1,"file":"model1-mp2.safetensors","tensors":115,"bytes":2892416}'
expect_eq "inspect --json: the record" "$(q checkpoints.0.record.layers_left_out) $(q checkpoints.0.record.tensors_left_out)" "[3] 76"
expect_eq "inspect --json: the embedding's second piece" "$(q checkpoints.0.tensors.0.pieces.1)" \
	'{"file":"model1-mp2.safetensors","tensor":"embed.weight","rows":[256,512],"cols":[0,256],"scale":null}'
run "$inspect" "$golden/tiny-v3.convert-mp2"
expect_line "inspect upstream's mp2: no record, experts from the tensor names" "experts         8, 4 per rank (from tensor names)"
expect_line "inspect upstream's mp2: says there is no record" "record          none (no ckpt-sharding.json)"
run "$inspect" --stats mp2
expect_rc "inspect --stats of a model-parallel directory: exit 0 (tests/cli/inspect-layouts.sh checks its numbers)" 0
run "$inspect" --json "$tiny"
expect_eq "inspect --json of an HF checkpoint: its layout" "$(q checkpoints.0.layout)" "hf"

# ---- --config FILE for a checkpoint without one: its block size pairs the FP8 scales ----
"$synth" -q "$CKPT_ROOT/fixtures/specs/block64.json" b64 >/dev/null
mkdir b64nocfg && for f in b64/*; do [ "${f##*/}" = config.json ] || ln "$f" b64nocfg/; done
run "$tool" -q --model-parallel 1 b64 b64-beside
run "$tool" -q --model-parallel 1 --config b64/config.json b64nocfg b64-given
expect_rc "--config FILE, 64x64 FP8 blocks, no config.json beside: exit 0" 0
expect_eq "--config FILE: the same rank file as with config.json beside" "$(sha b64-given/model0-mp1.safetensors)" \
	"$(sha b64-beside/model0-mp1.safetensors)"
run "$tool" -q --config b64/config.json --layout mindspore-train b64nocfg b64-ms
expect_rc "--config FILE, --layout mindspore-train, no config.json beside: exit 0" 0
run "$tool" -q --model-parallel 1 --config b64/nothing.json b64nocfg b64-none
expect_rc "--config FILE that is not there: exit 2" 2
expect_err "--config FILE that is not there: the file named" "ckpt-hf-to-sharded: b64/nothing.json: No such file or directory"
