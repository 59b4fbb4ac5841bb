#!/usr/bin/env bash
# ckpt-fp8-to-bf16 on DeepSeek-V4 (formats/fp8cast.c through the family's schemes): every FP8
# weight (e4m3, 128x128 E8M0 blocks) and FP4 weight (I8 or F4 codes, 1x32 E8M0 groups) to
# BF16, each value checked by tests/cli/v4-bf16.py's own arithmetic, with either FP4 table
# (--fp4-table: code 8 as +0 or -0); every F32, I64 and BF16 tensor byte for byte; scales,
# quantization_config and expert_dtype gone; ckpt-verify on the output and --against the
# input; a NaN scale byte; --drop-mtp; the reference hashes of fixtures/ref/v4 (DeepSeek's
# formula and transformers' dequantizer, run on a GPU machine); DeepSeek-V4.1.
. "$CKPT_ROOT/tests/cli/lib.sh"
py=$CKPT_ROOT/tests/cli/v4-bf16.py
spec=$CKPT_ROOT/fixtures/specs/tiny-v4.json
shard=model-00001-of-00001.safetensors

"$synth" -q "$spec" tiny
# expert_dtype as some tools add it beside quantization_config
python3 -c 'import json,sys
c=json.load(open(sys.argv[1])); c["expert_dtype"]="fp4"; json.dump(c, open(sys.argv[1], "w"), indent=1)' tiny/config.json
tree_sums tiny >tiny.sums

# ---- the default: DeepSeek's FP4 table ----
run "$fp8" tiny bf16
expect_rc "V4: exit 0" 0
if grep -qE '^wrote 6 files \(1\.15 MiB\) to bf16 in [0-9.]+ s; 44 FP8 and 60 FP4 weights dequantized \(DeepSeek-V4\)$' out
then ok "... one line: the FP8 and FP4 weights counted apart, the family named"
else not_ok "... one line: the FP8 and FP4 weights counted apart, the family named" "$(cat out err)"; fi
run python3 "$py" check tiny bf16 deepseek
expect_line "... every value exact by an independent computation, code 8 as +0, the rest unchanged" \
	"44 FP8 and 60 FP4 weights exact, 0 NaN as 0x7FFF; 99 tensors copied (BF16, F32, I64); 104 scales dropped; code 8: 15406 as 0x0000"
check "... the input untouched" test "$(tree_sums tiny)" = "$(cat tiny.sums)"
check "... the index names no scale" test "$(grep -c '\.scale"' bf16/model.safetensors.index.json)" = 0
expect_eq "... and the 203 tensors, with their total size" \
	"$(grep -c '"layers\.\|"mtp\.\|"embed\|"head\|"norm\|"hc_head' bf16/model.safetensors.index.json) $("$jsonq" metadata.total_size <bf16/model.safetensors.index.json)" \
	"203 1169248"
expect_eq "config.json: no quantization_config, no expert_dtype, torch_dtype bfloat16, the rest as it was" \
	"$(python3 -c 'import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
del a["quantization_config"], a["expert_dtype"]; a["torch_dtype"]="bfloat16"
print(a == b, "quantization_config" in b, "expert_dtype" in b)' tiny/config.json bf16/config.json)" "True False False"
for f in tokenizer.json tokenizer_config.json generation_config.json; do
	expect_same "... $f copied" tiny/$f bf16/$f
done

run "$verify" bf16
expect_rc "ckpt-verify OUT: exit 0" 0
expect_line "... the model check knows a BF16 V4" \
	"model       passed   DeepSeek-V4: 203 tensors (0 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
run "$verify" --scan bf16
expect_line "... no NaN or infinity in it" "scan        passed   203 tensors, 512888 values read (0 FP8 dequantized): no NaN or infinity"
run "$verify" --against tiny bf16
expect_rc "ckpt-verify --against IN OUT: exit 0" 0
expect_line "... every tensor bit-identical to the input dequantized" \
	"against     passed   203 tensors compared with tiny (layout hf, tolerance): 203 bit-identical, 0 within tolerance"

run "$fp8" --json tiny bf16j
expect_eq "--json: dequantized 104, of them FP4 60, copied 99" \
	"$("$jsonq" dequantized <out) $("$jsonq" dequantized_fp4 <out) $("$jsonq" copied <out)" "104 60 99"

# ---- transformers' table: code 8 as -0, nothing else differs ----
run "$fp8" --fp4-table transformers tiny bft
expect_rc "--fp4-table transformers: exit 0" 0
run python3 "$py" check tiny bft transformers
expect_line "... every value exact, code 8 as -0" \
	"44 FP8 and 60 FP4 weights exact, 0 NaN as 0x7FFF; 99 tensors copied (BF16, F32, I64); 104 scales dropped; code 8: 15406 as 0x8000"
run python3 "$py" check tiny bft deepseek
expect_rc "... which DeepSeek's table does not give" 1
run "$fp8" --fp4-table deepseek tiny bfd
expect_same "--fp4-table deepseek: the default's bytes" bf16/$shard bfd/$shard
cmp -l bf16/$shard bft/$shard | awk '{print $2 " " $3}' | sort | uniq -c >diff.txt
expect_eq "the two differ in the high bytes of the code-8 zeros only (octal 0 -> 200: 0x00 -> 0x80)" \
	"$(awk '{print $1, $2, $3}' diff.txt)" "15406 0 200"
for f in model.safetensors.index.json config.json; do
	expect_same "... and not in $f" bf16/$f bft/$f
done
run "$verify" --against tiny bft
expect_line "--against: -0 and +0 are equal values, not equal bits" \
	"against     passed   203 tensors compared with tiny (layout hf, tolerance): 143 bit-identical, 60 within tolerance; max abs error 0"
run "$fp8" --fp4-table transformers tiny bf16
expect_rc "--fp4-table transformers into the default's output: another conversion, refused" 2
expect_err "... said so" \
	"ckpt-fp8-to-bf16: bf16: not empty, and not an earlier run of this conversion (its .ckpt-run.json names another); --force writes into it anyway"
run "$fp8" --fp4-table ieee tiny x
expect_rc "--fp4-table another name: usage error" 2
expect_err "... naming both" \
	"ckpt-fp8-to-bf16: --fp4-table takes deepseek or transformers, not 'ieee' (see ckpt-fp8-to-bf16 --help)"
check "... nothing written" test ! -e x

# ---- FP4 experts stored F4 [out, in] (safetensors >= 0.6) rather than I8 [out, in/2] ----
python3 "$py" f4 tiny tiny-f4
run "$fp8" tiny-f4 bf4
expect_has "F4 experts: 60 FP4 weights" "44 FP8 and 60 FP4 weights dequantized (DeepSeek-V4)"
expect_same "... the same BF16 shard as from I8" bf16/$shard bf4/$shard
run "$fp8" --fp4-table transformers tiny-f4 bf4t
expect_same "... with either table" bft/$shard bf4t/$shard

# ---- several shards (the reference input) ----
"$synth" -q "$CKPT_ROOT/fixtures/specs/ref-v4.json" ref
run "$fp8" -j 3 ref refbf
expect_has "3 shards: 44 FP8 and 120 FP4" "44 FP8 and 120 FP4 weights dequantized (DeepSeek-V4)"
run python3 "$py" check ref refbf deepseek
expect_line "... every value exact" \
	"44 FP8 and 120 FP4 weights exact, 0 NaN as 0x7FFF; 99 tensors copied (BF16, F32, I64); 164 scales dropped; code 8: 244135 as 0x0000"
expect_eq "... each shard under its name" "$(cd refbf && ls *.safetensors | tr '\n' ' ')" "$(cd ref && ls *.safetensors | tr '\n' ' ')"
run "$verify" --against ref refbf
expect_rc "... --against: exit 0" 0

# ---- the reference: DeepSeek's formula and transformers' Fp8Dequantize (5.17.0) on the GPU
# machine, over these same input bytes (fixtures/ref/v4/dequant.json, scripts/ref/v4ref.py) ----
refj=$CKPT_ROOT/fixtures/ref/v4/dequant.json
expect_eq "the reference's input: these bytes (its report.json's sha256)" "$(cd ref && sha256sum model-0000*.safetensors)" "a3ed9d22c9a5f00d055e375957307d07e92d56807a515552054647c813245595  model-00001-of-00003.safetensors
783847a9b7a7fe46c79794ec2c38ccd2e750afff962c9092e8046c7c44d736db  model-00002-of-00003.safetensors
6b23ba486034d7a1e6c049d8b7339eebf370759c393e4049b5f08b092289dfa1  model-00003-of-00003.safetensors"
run python3 "$py" ref refbf "$refj" deepseek
expect_line "every FP8 and FP4 weight: the sha256 of DeepSeek's formula (code 8 +0)" "164 tensors equal deepseek's, 0 without one"
run "$fp8" -q --fp4-table transformers ref refbft
run python3 "$py" ref refbft "$refj" transformers
expect_line "--fp4-table transformers: the sha256 of transformers' own dequantizer" "164 tensors equal transformers's, 0 without one"
run python3 "$py" ref refbft "$refj" deepseek
expect_rc "... which is not DeepSeek's" 1

# ---- a NaN scale byte: its group of 32 is NaN, written as NaN (0x7FFF) as for V3 ----
"$synth" -q --set nan_scale=true "$spec" nan
run "$fp8" nan nanbf
expect_rc "a NaN scale byte: converted, exit 0 (the values are NaN, and so is what is written)" 0
run python3 "$py" check nan nanbf deepseek
expect_line "... its 32 values as 0x7FFF (two code-8 zeros among them), every other value exact" \
	"44 FP8 and 60 FP4 weights exact, 32 NaN as 0x7FFF; 99 tensors copied (BF16, F32, I64); 104 scales dropped; code 8: 15404 as 0x0000, 2 as 0x7FFF"
run "$verify" --scan nanbf
expect_line "... where ckpt-verify --scan finds them" \
	"  nanbf/$shard: tensor \"layers.0.ffn.experts.0.w1.weight\": 32 NaN and 0 infinite of 4096 values"
run "$verify" --against nan nanbf
expect_rc "... and --against the input: NaN where it is NaN" 0

# ---- --drop-mtp: the mtp.0.* tensors out, compress_ratios one a layer ----
run "$fp8" --drop-mtp tiny nomtp
expect_has "--drop-mtp: the MTP block's weights not counted" "34 FP8 and 48 FP4 weights dequantized (DeepSeek-V4)"
check "... no mtp. tensor in the index" test "$(grep -c '"mtp\.' nomtp/model.safetensors.index.json)" = 0
expect_eq "... config.json: num_nextn_predict_layers 0, compress_ratios without the MTP entry" \
	"$("$jsonq" num_nextn_predict_layers <nomtp/config.json) $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["compress_ratios"])' nomtp/config.json)" \
	"0 [0, 4, 128, 4]"
run "$verify" nomtp
expect_line "... which ckpt-verify's model check takes" \
	"model       passed   DeepSeek-V4: 162 tensors (0 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"

# ---- a BF16 V4 (the output) as input: nothing to dequantize, said so ----
run "$fp8" bf16 again
expect_rc "a BF16 V4: copied, exit 0" 0
check "... with a warning naming what it holds" grep -qF "holds no FP8 weight (its tensors are BF16, F32, I64)" err

# ---- DeepSeek-V4.1 (model_type deepseek_v41, spec section e): what the spec is sure of ----
python3 "$py" v41 v41
run "$fp8" v41 v41bf
expect_rc "V4.1: FP8 in 32x32 blocks (partial ones too) and FP4 experts: exit 0" 0
if grep -qE '^wrote 5 files \([0-9.]+ KiB\) to v41bf in [0-9.]+ s; 3 FP8 and 3 FP4 weights dequantized \(DeepSeek-V4\.1, whose tensors ckpt does not know: not checked against a model\)$' out
then ok "... named, and said not checked against a model"
else not_ok "... named, and said not checked against a model" "$(cat out err)"; fi
run python3 "$py" check v41 v41bf deepseek
expect_line "... every value exact in config.json's 32x32 blocks, F32, I64, BF16 and vision tensors unchanged" \
	"3 FP8 and 3 FP4 weights exact, 0 NaN as 0x7FFF; 5 tensors copied (BF16, F32, I64); 6 scales dropped; code 8: 392 as 0x0000"
run "$fp8" --fp4-table transformers v41 v41bft
run python3 "$py" check v41 v41bft transformers
expect_line "... --fp4-table transformers: code 8 as -0" \
	"3 FP8 and 3 FP4 weights exact, 0 NaN as 0x7FFF; 5 tensors copied (BF16, F32, I64); 6 scales dropped; code 8: 392 as 0x8000"
expect_eq "... config.json: quantization_config (and the expert_dtype in it) gone, text_config kept" \
	"$(python3 -c 'import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
del a["quantization_config"]
print(a == b)' v41/config.json v41bf/config.json)" "True"
run "$verify" v41bf
expect_line "ckpt-verify: V4.1's model not checked, said why" \
	"model       not checked  DeepSeek-V4.1's tensors (Engram tables, DSpark MTP layers, a vision tower, keys under text_config) are not known to ckpt with confidence"
expect_line "... the rest passes" "result: passed, except what was not checked: model"
run "$verify" --against v41 v41bf
expect_line "... --against the input: every tensor bit-identical" \
	"against     passed   11 tensors compared with v41 (layout hf, tolerance): 11 bit-identical, 0 within tolerance"
run "$inspect" v41
expect_line "ckpt-inspect names it" "model         DeepSeek-V4.1 (family deepseek-v41)"

# what the spec is unsure of: refused by name, nothing written
for e in fits u8; do
	python3 "$py" v41 v41$e $e
	run "$fp8" v41$e v41$e.out
	expect_rc "V4.1 with an Engram table ($e): refused" 2
	expect_err "... by name" \
		"ckpt-fp8-to-bf16: v41$e/model-00002-of-00002.safetensors: \"layers.1.engram.embed.weight\": DeepSeek-V4.1's Engram tables (FP8 rows with per-row E8M0 scales) are not known to ckpt with confidence: not converted"
	check "... nothing written" test ! -e v41$e.out
done
python3 "$py" v41 v41rows rows
run "$fp8" v41rows v41rows.out
expect_err "an Engram table with a scale a row: its scale does not fit V4.1's 32x32 blocks, refused" \
	"ckpt-fp8-to-bf16: v41rows/model-00002-of-00002.safetensors: \"layers.1.engram.embed.weight\": scale has shape [64, 8], expected [2, 8] for blocks of 32x32"
check "... nothing written" test ! -e v41rows.out
run "$fp8" --drop-mtp v41 v41d
expect_rc "V4.1 --drop-mtp: refused" 2
expect_err "... its MTP layers are not known" \
	"ckpt-fp8-to-bf16: v41: --drop-mtp: DeepSeek-V4.1's tensors (Engram tables, DSpark MTP layers, a vision tower, keys under text_config) are not known to ckpt with confidence: which tensors are its MTP layers is not known"
run "$sharded" --model-parallel 1 v41 v41mp
expect_err "ckpt-hf-to-sharded: V4.1 refused by name" \
	"ckpt-hf-to-sharded: v41/config.json: DeepSeek-V4.1: ckpt knows no model-parallel layout of it"
