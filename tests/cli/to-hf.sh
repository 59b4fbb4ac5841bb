#!/usr/bin/env bash
# ckpt-to-hf (issue 17, section 1): any layout back to HF.  HF -> model-parallel
# (ckpt-hf-to-sharded, byte-identical to convert.py; and convert.py's own output in the
# golden data) -> ckpt-to-hf --like the original gives back every file of the original byte
# for byte, FP8 and BF16, mp 1, 2 and 4; what convert.py drops (the MTP layer) is filled from
# --like or reported missing (exit 1, the index and config.json saying what is there);
# replicated copies that disagree, a missing rank; --shard-size; MindSpore inputs.
. "$CKPT_ROOT/tests/cli/lib.sh"
stedit=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/st-edit

# same_files REF OUT: every file of REF is in OUT with the same bytes
same_files() {
	local f
	for f in "$1"/*; do cmp -s "$f" "$2/${f##*/}" || return 1; done
}
# names_of INDEX: the tensor names an index lists, sorted
names_of() { grep -o '"[^"]*": "model-[^"]*"' "$1" | sed 's/": .*//; s/"//' | LC_ALL=C sort; }

# --- FP8, mp 1 and 2: every file back, byte for byte (the shards' {"format":"pt"} too) ---
for mp in 1 2; do
	"$sharded" -q --model-parallel $mp "$tiny" mp$mp || not_ok "setup: mp $mp"
	run "$tool" --like "$tiny" --fill-from-like mp$mp back$mp
	expect_rc "FP8 mp $mp: exit 0" 0
	check "FP8 mp $mp -> HF --like: every file of the original, byte for byte" same_files "$tiny" back$mp
	check "FP8 mp $mp: the line says what was filled" grep -q \
		"; 239 tensors of a DeepSeek model-parallel checkpoint, 76 of them from $tiny\$" out
done
# FP8 at mp 4 needs weights whose cuts fall on 128-blocks (tiny-v3's 256-wide o_proj does
# not: convert.py's own assert fails on its scale): a wider model
"$synth" -q --set hidden_size=512 --set num_attention_heads=8 --set num_key_value_heads=8 \
	--set moe_intermediate_size=512 --set shards=4 "$CKPT_ROOT/fixtures/specs/tiny-v3.json" wide ||
	not_ok "setup: a wider FP8 model"
"$sharded" -q --model-parallel 4 wide wmp4 || not_ok "setup: wide, mp 4"
run "$tool" -q --like wide --fill-from-like wmp4 wback
check "FP8 mp 4 -> HF --like: every file back, byte for byte" eval '[ $rc -eq 0 ] && same_files wide wback'

# --- BF16 (ckpt-fp8-to-bf16's output), mp 1, 2 and 4 ---
"$fp8" -q "$tiny" bf16 || not_ok "setup: BF16"
for mp in 1 2 4; do
	"$sharded" -q --model-parallel $mp bf16 bmp$mp || not_ok "setup: BF16 mp $mp"
	run "$tool" -q --like bf16 --fill-from-like bmp$mp bback$mp
	check "BF16 mp $mp -> HF --like: every file back, byte for byte" eval '[ $rc -eq 0 ] && same_files bf16 bback'$mp
done
# --like an index alone: the same split and names
run "$tool" -q --like bf16/model.safetensors.index.json bmp2 bidx
check "--like INDEX: the shards as --like DIR writes them (the MTP layer missing: exit 1)" eval \
	'[ $rc -eq 1 ] && cmp -s bidx/model-00001-of-00003.safetensors bf16/model-00001-of-00003.safetensors'

# --- the MTP layer, without --fill-from-like: reported, the output a model without it ---
run "$tool" --like "$tiny" mp2 nomtp
expect_rc "MTP missing: exit 1 (written, not the whole model)" 1
check "MTP missing: the line names the layer and the way out" grep -q "; 163 tensors of a DeepSeek model-parallel \
checkpoint; 76 tensors missing: the MTP layer 3 (model.layers.3.\*), which the input does not hold whole \
(--fill-from-like takes them from --like's files, --drop-mtp leaves the MTP layers out)\$" out
expect_eq "MTP missing: the index names the 163 tensors written" "$(names_of nomtp/model.safetensors.index.json | wc -l)" 163
check "MTP missing: no model.layers.3 in the index" eval '! grep -q "model.layers.3\." nomtp/model.safetensors.index.json'
check "MTP missing: config.json says num_nextn_predict_layers 0" grep -q '"num_nextn_predict_layers": 0,' nomtp/config.json
check "MTP missing: the shard without MTP tensors is the original's" \
	cmp -s nomtp/model-00001-of-00003.safetensors "$tiny/model-00001-of-00003.safetensors"
run "$verify" nomtp
expect_rc "MTP missing: the output is a whole model of what its config says (ckpt-verify passes)" 0
run "$tool" --json --like "$tiny" mp2 nomtp
check "MTP missing, --json: complete false, 76 named, layer 3, exit 1 again (resumed: nothing to do)" eval \
	'[ $rc -eq 1 ] && [ "$("$jsonq" complete <out)" = false ] && [ "$("$jsonq" missing.# <out)" = 76 ] &&
	 [ "$("$jsonq" mtp_layers_left_out.0 <out)" = 3 ] && [ "$("$jsonq" files_written <out)" = 0 ]'
run "$tool" --drop-mtp mp2 dropped
check "--drop-mtp: exit 0, said" eval '[ $rc -eq 0 ] && grep -q "; MTP layer left out (--drop-mtp)$" out'
run "$verify" dropped
expect_rc "--drop-mtp: ckpt-verify passes on the output" 0
run "$tool" --drop-mtp --like "$tiny" --fill-from-like mp2 dropped2
check "--drop-mtp wins over --fill-from-like" eval '[ $rc -eq 0 ] && ! grep -q "model.layers.3\." dropped2/model.safetensors.index.json'

# --- without --like: the family's order, HF's shard names, --shard-size ---
run "$tool" --drop-mtp mp1 one
check "default shard size: one shard model-00001-of-00001.safetensors and the index" eval \
	'[ $rc -eq 0 ] && [ -f one/model-00001-of-00001.safetensors ] && [ -f one/model.safetensors.index.json ]'
check "default: tokenizer files and config copied" eval 'cmp -s one/tokenizer.json "$tiny/tokenizer.json" && [ -f one/config.json ]'
run "$verify" --against nomtp one
check "default: every tensor as --like writes it (the original's bytes)" grep -q "^against  *passed   91 tensors compared with nomtp (layout hf, tolerance): 91 bit-identical" out
for size in 1MB 1500000 2MiB; do
	run "$tool" -q --drop-mtp --shard-size $size mp2 s$size
	n=$(ls s$size/model-*.safetensors | wc -l)
	case $size in 1MB) bytes=1000000 ;; 2MiB) bytes=2097152 ;; *) bytes=$size ;; esac
	ok_sizes=1
	for f in s$size/model-*.safetensors; do
		data=$(( $(stat -c %s "$f") - 8 - $(hlen "$f") ))
		k=$(grep -c "\"${f##*/}\"" s$size/model.safetensors.index.json)
		if [ "$data" -gt "$bytes" ] && [ "$k" -ne 1 ]; then ok_sizes=0; fi
		case "${f##*/}" in model-0000?-of-$(printf %05d "$n").safetensors) ;; *) ok_sizes=0 ;; esac
	done
	check "--shard-size $size: $n shards, each at most $bytes data bytes unless one tensor, named K-of-$n" \
		eval '[ $rc -eq 0 ] && [ $n -gt 1 ] && [ $ok_sizes = 1 ]'
	expect_eq "--shard-size $size: the same tensors" "$(names_of s$size/model.safetensors.index.json)" \
		"$(names_of one/model.safetensors.index.json)"
done
expect_eq "--shard-size 1MB: the tensors split as HF cuts them (6 shards)" "$(ls s1MB/model-*.safetensors | wc -l)" 6
run "$verify" s1MB
expect_rc "--shard-size: ckpt-verify passes" 0

# --- replicated copies that disagree; a missing rank ---
cp -r bmp4 bad4 && chmod -R u+w bad4
for r in 1 3; do
	"$stedit" bad4/model$r-mp4.safetensors x.st --set layers.0.attn_norm.weight=5=1.5 && mv x.st bad4/model$r-mp4.safetensors
done
run "$tool" bad4 o
expect_err "replicas differ (two ranks): exit 2, the tensor and the ranks named" \
	'ckpt-to-hf: bad4: tensor "model.layers.0.input_layernorm.weight" is replicated, but the copies of ranks 1, 3 differ from rank 0'"'"'s (model0-mp4.safetensors, model1-mp4.safetensors, model3-mp4.safetensors), first at byte 10'
check "replicas differ: nothing written" eval '[ $rc -eq 2 ] && [ ! -e o ]'
cp -r mp2 bad2 && chmod -R u+w bad2
"$stedit" bad2/model1-mp2.safetensors x.st --set layers.1.ffn.gate.weight=7=3 && mv x.st bad2/model1-mp2.safetensors
run "$tool" bad2 o
expect_err "replicas differ (the router): exit 2" \
	'ckpt-to-hf: bad2: tensor "model.layers.1.mlp.gate.weight" is replicated, but the copy of rank 1 differs from rank 0'"'"'s (model0-mp2.safetensors, model1-mp2.safetensors), first at byte 14'
rm bad2/model1-mp2.safetensors
run "$tool" bad2 o
expect_err "a missing rank: exit 2, named" "ckpt-to-hf: bad2: rank 1 of 2 is missing (model1-mp2.safetensors): a model-parallel checkpoint is converted whole"

# --- MindSpore inputs ---
"$sharded" -q --layout mindspore-train "$tiny" ms || not_ok "setup: MindSpore training layout"
run "$tool" ms msout
check "MindSpore training: its MTP embed_tokens and shared_head are not stored: exit 1, 44 missing" eval \
	'[ $rc -eq 1 ] && grep -q "; 91 tensors of a MindSpore Transformers training checkpoint; 44 tensors missing: the MTP layer 3" out'
run "$tool" -q --like "$tiny" --fill-from-like ms msfull
run "$verify" --against "$tiny" msfull
check "MindSpore training --like --fill-from-like: 135 tensors, every value the original's" grep -q \
	"^against  *passed   135 tensors compared with $tiny (layout hf, tolerance): 135 bit-identical" out
expect_eq "MindSpore: HF names, the original's split" "$(names_of msfull/model.safetensors.index.json | grep -v _scale_inv)" \
	"$(names_of "$tiny/model.safetensors.index.json" | grep -v _scale_inv)"
"$t2i" -q ms msinf || not_ok "setup: MindSpore inference layout"
run "$tool" -q --drop-mtp msinf msinfhf
run "$verify" --against nomtp msinfhf
check "MindSpore inference -> HF: every tensor the original's value" grep -q "^against  *passed   91 tensors compared with nomtp (layout hf, tolerance): 91 bit-identical" out

# --- usage and input errors ---
run "$tool" --fill-from-like mp2 o
expect_err "--fill-from-like without --like: usage" \
	"ckpt-to-hf: --fill-from-like takes tensors from the checkpoint --like names: give --like (see ckpt-to-hf --help)"
run "$tool" --like "$tiny" --shard-size 1GB mp2 o
expect_err "--shard-size with --like: usage" \
	"ckpt-to-hf: --like takes the shard split of its checkpoint: --shard-size has no say (see ckpt-to-hf --help)"
for bad in 0 5XB -1 GB 99999999999999999999; do
	run "$tool" --shard-size "$bad" mp2 o
	expect_err "--shard-size $bad: usage" \
		"ckpt-to-hf: --shard-size wants a size in bytes (5GB, 500MB, 4GiB, 1000000), not '$bad' (see ckpt-to-hf --help)"
done
mkdir noconf && cp mp2/model*-mp2.safetensors noconf/
run "$tool" noconf o
expect_err "no config.json: said, with the ways to give one" \
	"ckpt-to-hf: noconf: no config.json (convert.py does not copy it beside the ranks): give the model's with --config FILE, or --like an HF checkpoint that has one"
run "$tool" -q --drop-mtp --config "$tiny/config.json" noconf withconf
check "--config FILE: taken, copied" eval '[ $rc -eq 0 ] && cmp -s withconf/config.json one/config.json'
run "$tool" --like "$tiny/tokenizer.json" mp2 o
expect_err "--like a file that is no index" "ckpt-to-hf: $tiny/tokenizer.json: no \"weight_map\""
run "$tool" --like "$tiny/model-00001-of-00003.safetensors" mp2 o
expect_err "--like a shard" \
	"ckpt-to-hf: $tiny/model-00001-of-00003.safetensors: --like takes an HF checkpoint directory or its model.safetensors.index.json"
mkdir extra && cp mp2/* extra/ && chmod u+w extra/*
for r in 0 1; do
	"$stedit" mp2/model$r-mp2.safetensors extra/model$r-mp2.safetensors --copy layers.0.attn_norm.weight=layers.0.attn_norm.extra
done
run "$tool" --like "$tiny" extra o
expect_err "--like: a tensor the index does not name has no place: exit 2" \
	"ckpt-to-hf: tensor \"model.layers.0.input_layernorm.extra\": $tiny/model.safetensors.index.json does not name it, so --like has no file to put it in"
"$tool" -q --drop-mtp mp2 - >t.tar && mkdir tx && tar -xf t.tar -C tx
check "OUTPUT_DIR -: the same files as a tar stream" cmp -s tx/model-00001-of-00001.safetensors one/model-00001-of-00001.safetensors

# --- upstream's own files: convert.py's mp 2 output and fp8_cast_bf16.py's shards ---
need_golden "golden: convert.py's output back to HF"
g=$CKPT_GOLDEN
run "$tool" --like "$g/tiny-v3" --fill-from-like "$g/tiny-v3.convert-mp2" gback
check "golden convert.py mp 2 -> HF --like: every file of tiny-v3 byte for byte" eval '[ $rc -eq 0 ] && same_files "$g/tiny-v3" gback'
"$sharded" -q --config "$tiny/config.json" --model-parallel 2 "$g/tiny-v3.fp8_cast_bf16" gbmp2 || not_ok "setup: golden BF16 mp 2"
run "$tool" -q --like "$g/tiny-v3.fp8_cast_bf16" --fill-from-like gbmp2 gbback
for f in "$g"/tiny-v3.fp8_cast_bf16/model-*.safetensors; do
	expect_same "golden BF16 (no __metadata__, as fp8_cast_bf16.py writes) back: ${f##*/}" "$f" "gbback/${f##*/}"
done
check "golden BF16: the index is HF's (total_size given; upstream's metadata is {})" eval \
	'[ "$(names_of gbback/model.safetensors.index.json)" = "$(names_of "$g/tiny-v3.fp8_cast_bf16/model.safetensors.index.json")" ] &&
	 grep -q "\"total_size\": " gbback/model.safetensors.index.json'
