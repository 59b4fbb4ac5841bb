#!/usr/bin/env bash
# ckpt-bf16-to-fp8 (issue 17, section 2):
#  - slime's convert_hf_to_fp8.py --strategy block --block-size 128 128 (THUDM/slime at
#    624b824a8, run on the GPU machine: fixtures/ref/slime, scripts/ref/device-run4.sh) on
#    the BF16 tiny-v3 (ckpt-fp8-to-bf16 of fixtures/tiny-v3): every shard byte for byte,
#    config.json and the index as JSON (modules_to_not_convert as a set: slime's comes out
#    of a Python set; total_size: ours the data bytes, slime's the sum of first dimensions);
#  - --scale-fmt ue8m0: power-of-two scales; DeepSeek-V3.1-style checkpoints come back
#    exactly, block for block, wherever the block's largest code is above 224 (fp8-blocks
#    counts and classifies every block);
#  - the round trip with F32 scales (tiny-v3), measured;
#  - what the engine gives every converter (-j, tar, resume, --json), and refusals.
. "$CKPT_ROOT/tests/cli/lib.sh"
ref=$CKPT_ROOT/fixtures/ref/slime
blocks=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/fp8-blocks
sha() { sha256sum "$1" | cut -d' ' -f1; }
sum_of() { awk -v f="$1" '$2 == f {print $1}' "$ref/SHA256SUMS"; }
# semantic JSON equality: config.json with modules_to_not_convert compared as a set, the
# index's weight_map
same_config() {
	python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
ma = a.get("quantization_config", {}).pop("modules_to_not_convert", [])
mb = b.get("quantization_config", {}).pop("modules_to_not_convert", [])
sys.exit(0 if a == b and sorted(ma) == sorted(set(mb)) and len(mb) == len(set(mb)) and set(ma) == set(mb) else 1)
PY
}
same_map() {
	python3 -c 'import json, sys; a, b = (json.load(open(p))["weight_map"] for p in sys.argv[1:]); sys.exit(a != b)' "$1" "$2"
}

"$fp8" -q "$tiny" bf16 || not_ok "setup: the BF16 tiny-v3"

# ---- slime's block strategy, byte for byte ----
run "$tool" bf16 o
check "exit 0, nothing on stderr" eval '[ $rc -eq 0 ] && [ ! -s err ]'
expect_eq "the one-line report" "$(sed -E 's/ in [0-9.]+ s/ in T s/' out)" \
	"wrote 8 files (7.89 MiB) to o in T s; 105 weights quantized to FP8 in 128x128 blocks (DeepSeek-V3)"
for f in model-00001-of-00003.safetensors model-00002-of-00003.safetensors model-00003-of-00003.safetensors \
	generation_config.json tokenizer.json tokenizer_config.json; do
	expect_eq "$f: byte for byte slime's" "$(sha "o/$f")" "$(sum_of "block/$f")"
done
check "config.json: slime's (quantization_config with modules_to_not_convert as a set)" \
	same_config "$ref/block/config.json" o/config.json
check "config.json: modules_to_not_convert sorted" \
	python3 -c 'import json,sys; m=json.load(open("o/config.json"))["quantization_config"]["modules_to_not_convert"]; sys.exit(m != sorted(m))'
expect_eq "config.json: as the reference's sums say" "$(sha "$ref/block/config.json")" "$(sum_of block/config.json)"
check "the index: slime's weight_map" same_map "$ref/block/model.safetensors.index.json" o/model.safetensors.index.json
expect_eq "the index: total_size is the data bytes" "$("$jsonq" metadata.total_size <o/model.safetensors.index.json)" \
	"$(python3 -c 'import json,struct,sys
t=0
for p in sys.argv[1:]:
    f=open(p,"rb"); n=struct.unpack("<Q",f.read(8))[0]; h=json.loads(f.read(n)); h.pop("__metadata__",None)
    t+=sum(v["data_offsets"][1]-v["data_offsets"][0] for v in h.values())
print(t)' o/*.safetensors)"
expect_eq "slime's total_size is the sum of the tensors' first dimensions (len(tensor))" \
	"$("$jsonq" metadata.total_size <"$ref/block/model.safetensors.index.json")" \
	"$(python3 -c 'import json,struct,sys
t=0
for p in sys.argv[1:]:
    f=open(p,"rb"); n=struct.unpack("<Q",f.read(8))[0]; h=json.loads(f.read(n)); h.pop("__metadata__",None)
    t+=sum(v["shape"][0] for v in h.values())
print(t)' o/*.safetensors)"
check "the input's run record is not copied (slime copies it), ours is there" eval \
	'grep -q "\"tool\":\"ckpt-bf16-to-fp8\"" o/.ckpt-run.json'
run "$verify" o
expect_rc "ckpt-verify: slime's rule quantizes the MTP layer's shared_head.head, which the model keeps BF16" 1
check "... and the model check says so" grep -q 'shared_head.head.weight": dtype F8_E4M3, config.json implies BF16' out

# ---- -j, tar, resume, --json ----
run "$tool" -q -j 1 bf16 j1
run "$tool" -q -j 3 bf16 j3
check "-j 1 and -j 3 write the same bytes" eval 'cmp -s j1/model-00002-of-00003.safetensors j3/model-00002-of-00003.safetensors && cmp -s j1/config.json j3/config.json'
"$tool" -q bf16 - >o.tar 2>tar.err
check "OUTPUT_DIR -: the same files as a tar stream" eval \
	'mkdir t && tar xf o.tar -C t && diff -r <(cd o && ls) <(cd t && ls) && cmp -s t/model-00001-of-00003.safetensors o/model-00001-of-00003.safetensors && [ ! -s tar.err ]'
run "$tool" bf16 o
expect_eq "a second run: nothing to do" "$(cat out)" "o: nothing to do: its 8 files are complete (--force writes them again)"
run "$tool" -q --json bf16 js
check "--json: quantized and copied counted" eval \
	'[ "$("$jsonq" quantized <out)" = 105 ] && [ "$("$jsonq" copied <out)" = 30 ] && [ "$("$jsonq" files_written <out)" = 8 ]'
run "$tool" --scale-fmt ue8m0 bf16 o
check "other options than the run that claimed OUTPUT_DIR: refused, exit 2" eval '[ $rc -eq 2 ] && grep -q "^ckpt-bf16-to-fp8: o" err'

# ---- --scale-fmt ue8m0 ----
run "$tool" -q --scale-fmt ue8m0 bf16 ue
check "ue8m0: config.json is slime's --scale-fmt ue8m0 (scale_fmt \"ue8m0\")" same_config "$ref/ue8m0/config.json" ue/config.json
check "ue8m0: slime's shards are its block strategy's (its --scale-fmt writes the config only)" eval \
	'[ "$(sum_of ue8m0/model-00001-of-00003.safetensors)" = "$(sum_of block/model-00001-of-00003.safetensors)" ]'
expect_eq "ue8m0: every scale a power of two" "$(python3 -c 'import json,struct,sys,math
bad=0
for p in sys.argv[1:]:
    f=open(p,"rb"); n=struct.unpack("<Q",f.read(8))[0]; h=json.loads(f.read(n)); d=f.read()
    for k,v in h.items():
        if k.endswith("_scale_inv"):
            a,b=v["data_offsets"]
            for (s,) in struct.iter_unpack("<f", d[a:b]):
                bad += math.frexp(s)[0] != 0.5
print(bad)' ue/*.safetensors)" 0

# ---- the V3.1 round trip: FP8 (ue8m0) -> BF16 -> FP8 --scale-fmt ue8m0 ----
"$synth" -q "$CKPT_ROOT/fixtures/specs/ue8m0.json" v31 || not_ok "setup: ue8m0.json"
"$fp8" -q v31 v31b && "$tool" -q --select model --scale-fmt ue8m0 v31b v31q
run "$blocks" v31 v31q
expect_eq "V3.1 (ue8m0.json, partial blocks): every block back exactly, or its largest code was at most 224" \
	"$(head -n 2 out)" "blocks 126 identical 96 half 30 nonpow2 0 other 0
codes 940992 identical 695809 maxstep 0"
run "$verify" -q --against v31 v31q --exact
check "... and every value is the original's (--against --exact)" eval '[ $rc -eq 0 ]'
"$CKPT_ROOT/scripts/ref/v3x-inputs.sh" "$synth" in v31 >/dev/null || not_ok "setup: scripts/ref/v3x-inputs.sh v31"
"$fp8" -q in/v31 r31b && "$tool" -q --select model --scale-fmt ue8m0 r31b r31q
run "$blocks" in/v31 r31q
expect_eq "V3.1 (ref-v31.json, one o_proj scale made not a power of two): that block alone is explained otherwise" \
	"$(head -n 1 out)" "blocks 444 identical 431 half 12 nonpow2 1 other 0"

# ---- the round trip with F32 scales (tiny-v3) ----
"$tool" -q --select model bf16 rt
run "$blocks" "$tiny" rt
expect_eq "F32 scales: every code comes back, no scale does (BF16 rounding of the largest value moves it)" \
	"$(head -n 2 out)" "blocks 444 identical 0 half 0 nonpow2 444 other 0
codes 7012352 identical 7012352 maxstep 0"
run "$verify" --json --against bf16 rt
check "verify --against the BF16 original: per tensor max abs and max rel error, in JSON" eval \
	'python3 -c "import json,sys; d=json.load(open(\"out\")); a=[c for c in d[\"report\"][\"checks\"] if c[\"name\"]==\"against\"][0]; t=[x for x in a[\"tensors\"] if x[\"dtype\"]==\"F8_E4M3\"]; sys.exit(not (len(t)==104 and all(\"max_abs_error\" in x and \"max_rel_error\" in x for x in t)))"'
run "$verify" -v --against bf16 o
check "... and in the text with -v: slime's quantized shared_head.head, 27% off at worst, yet every value its nearest code (0.97 half-steps)" \
	grep -qE '^ +model.layers.3.shared_head.head.weight +F8_E4M3 +BF16 +BF16 +no +131072 +0 +0.00341797 +0.270142 +0.971795$' out

# ---- --select model, --block-size ----
run "$tool" -q --json --select model bf16 sm
expect_eq "--select model: the 104 weights DeepSeek-V3's release quantizes (not shared_head.head)" "$("$jsonq" quantized <out)" 104
run "$verify" -q sm
expect_rc "--select model: ckpt-verify passes it" 0
run "$tool" -q --select model --block-size 64x32 bf16 b64
check "--block-size 64x32: scales of [ceil(R/64), ceil(C/32)], config.json says so" eval \
	'grep -A3 weight_block_size b64/config.json | tr -d " \n" | grep -q "\[64,32\]" &&
	 python3 -c "import json,struct,sys
f=open(\"b64/model-00001-of-00003.safetensors\",\"rb\"); n=struct.unpack(\"<Q\",f.read(8))[0]; h=json.loads(f.read(n))
sys.exit(h[\"model.layers.0.mlp.down_proj.weight_scale_inv\"][\"shape\"] != [4, 16])"'
run "$verify" -q b64
expect_rc "--block-size 64x32: ckpt-verify checks it against its config.json, and passes it" 0

# ---- refusals ----
run "$tool" "$tiny" x1
expect_err "an FP8 input: refused" \
	"ckpt-bf16-to-fp8: $tiny/model-00001-of-00003.safetensors: \"model.layers.0.mlp.down_proj.weight\" is F8_E4M3: the checkpoint is quantized already (ckpt-fp8-to-bf16 makes BF16 of it)"
check "... exit 2, nothing written" eval '[ $rc -eq 2 ] && [ ! -e x1 ]'
for a in "--scale-fmt e8m0|--scale-fmt knows ue8m0 only, not 'e8m0'" "--select all|--select wants names or model, not 'all'" \
	"--block-size 0|--block-size wants a number from 1 to 65536, not '0'" "--block-size 128x|--block-size wants a number from 1 to 65536, not ''"; do
	IFS='|' read -r opt msg <<<"$a"
	# shellcheck disable=SC2086
	run "$tool" $opt bf16 x2
	expect_err "$opt: a usage error" "ckpt-bf16-to-fp8: $msg (see ckpt-bf16-to-fp8 --help)"
done
run "$tool" --json bf16 -
expect_err "--json with OUTPUT_DIR -: a usage error" \
	"ckpt-bf16-to-fp8: --json reports on standard output, which OUTPUT_DIR - takes for the tar stream (see ckpt-bf16-to-fp8 --help)"
# a NaN in a weight: slime writes NaN codes and scales; refused, nothing under a final name
cp -r bf16 nan && python3 - nan <<'PY'
import json, struct, sys
name = "model.layers.1.mlp.experts.3.up_proj.weight"
p = sys.argv[1] + "/" + json.load(open(sys.argv[1] + "/model.safetensors.index.json"))["weight_map"][name]
f = open(p, "r+b"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n))
t = h[name]
f.seek(8 + n + t["data_offsets"][0] + 2 * (130 * t["shape"][1] + 7)); f.write(b"\xc0\x7f")
PY
shard=$("$jsonq" -d / weight_map/model.layers.1.mlp.experts.3.up_proj.weight <nan/model.safetensors.index.json)
run "$tool" nan xn
expect_err "a NaN in a weight: refused, naming the tensor and the element" \
	"ckpt-bf16-to-fp8: nan/$shard: \"model.layers.1.mlp.experts.3.up_proj.weight\" holds NaN at [130, 7]: FP8 has no code for it"
check "... exit 2, that shard not under its final name" eval '[ $rc -eq 2 ] && [ ! -e "xn/$shard" ]'
rm -f nan/config.json
run "$tool" --select model nan xm
expect_err "--select model without config.json: refused" "ckpt-bf16-to-fp8: nan: --select model needs config.json, and there is none"
