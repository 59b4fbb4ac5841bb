#!/usr/bin/env bash
# DeepSeek-V3.1, V3.2 and Kimi-K2 against the upstream tools (fixtures/ref/{v31,v32,kimi}):
# the tiny inputs are made again here (scripts/ref/v3x-inputs.sh: ckpt-synth, deterministic)
# and must be the bytes the upstream tools were run on; then
#  - ckpt-fp8-to-bf16: byte-identical to V3's fp8_cast_bf16.py on each (once fp8_cast_bf16's
#    missing __metadata__ is accounted for), the V3.2 indexer's wq_b and wk dequantized,
#    weights_proj and the F32 norms untouched, config.json keeping the index keys;
#  - ckpt-hf-to-sharded: byte-identical to convert.py, V3.2-Exp's for V3.2 (its indexer
#    copied whole to every rank, chosen from config.json), V3's for the others, mp 1 and 2,
#    FP8 and BF16 input; the model-parallel directory read back by inspect and verify;
#  - ckpt-verify --forward on V3.2: transformers' DeepseekV3ForCausalLM (float64) on the same
#    weights without the indexer, within the tolerance of the V3 references; the same logits
#    as V3 on those weights; past index_topk, its indexer runs (tests/cli/forward-v32-sparse.sh),
#    here refused: this input's index_head_dim (32) is narrower than the 64 dimensions it rotates.
# Where fixtures/ref/NAME has no SHA256SUMS yet (the GPU machine was not reached), the
# comparisons with upstream are skipped and said to be.
. "$CKPT_ROOT/tests/cli/lib.sh"
ref=$CKPT_ROOT/fixtures/ref
sum_of() { awk -v f="$2" '$2 == f {print $1}' "$ref/$1/SHA256SUMS"; }
sha() { sha256sum "$1" | awk '{print $1}'; }
have_ref() { [ -f "$ref/$1/SHA256SUMS" ]; }
# tensors "NAME..." FILE...: per NAME, "DTYPE [SHAPE] SHA256" of the tensor's bytes from
# whichever FILE holds it, or "absent"
tensors() {
	python3 - "$@" <<'PY'
import hashlib, json, struct, sys
heads = []
for p in sys.argv[2:]:
    f = open(p, "rb")
    n = struct.unpack("<Q", f.read(8))[0]
    heads.append((f, n, json.loads(f.read(n))))
for name in sys.argv[1].split():
    for f, n, h in heads:
        if name in h:
            a, b = h[name]["data_offsets"]
            f.seek(8 + n + a)
            print(h[name]["dtype"], h[name]["shape"], hashlib.sha256(f.read(b - a)).hexdigest())
            break
    else:
        print("absent")
PY
}

"$CKPT_ROOT/scripts/ref/v3x-inputs.sh" "$synth" in || { not_ok "the reference inputs are made" "$(ls in)"; exit 1; }

# ---- the inputs are the upstream tools' ----
for n in v31 v32 kimi; do
	if ! have_ref $n; then
		skip "$n: upstream reference data" "no $ref/$n/SHA256SUMS (made on the GPU machine: scripts/ref/device-run4.sh)"
		continue
	fi
	bad=$(cd in/$n && for f in *; do [ "$(sha "$f")" = "$(sum_of $n "input/$f")" ] || echo "$f"; done)
	expect_eq "$n: the generated input is, byte for byte, what the upstream tools were run on" "$bad" ""
done

# ---- ckpt-fp8-to-bf16 ----
for n in v31 v32 kimi; do
	run "$fp8" -q in/$n bf-$n
	expect_rc "$n: fp8-to-bf16 converts it" 0
	have_ref $n || continue
	got= want=
	for f in in/$n/model-*.safetensors; do
		f=${f##*/}
		got="$got $(strip_meta bf-$n/$f | sha256sum | awk '{print $1}')"
		want="$want $(sum_of $n fp8_cast_bf16/$f)"
	done
	expect_eq "$n: every shard byte-identical to fp8_cast_bf16.py's (its missing __metadata__ aside)" "$got" "$want"
	sed '2,4c\  "metadata": {},' bf-$n/model.safetensors.index.json >index.want
	expect_eq "$n: the index as fp8_cast_bf16.py's, but for total_size" "$(sha index.want)" \
		"$(sum_of $n fp8_cast_bf16/model.safetensors.index.json)"
done
# independent of the GPU run: the exact formula (scripts/ref/fp8cases.py: exact product, one
# rounding to F32, RNE to BF16), which fp8_cast_bf16.py matched bit for bit on every finite
# value of fixtures/ref/fp8cases, on the V3.1 o_proj with the scale that is not a power of
# two and on the V3.2 indexer's weights (MTP layer's too)
exact() {
	python3 - "$CKPT_ROOT/scripts/ref" "$@" <<'PY'
import glob, json, struct, sys
sys.path.insert(0, sys.argv[1])
import fp8cases
def load(d):
    t = {}
    for p in sorted(glob.glob(d + "/*.safetensors")):
        with open(p, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            h = json.loads(f.read(n))
            data = f.read()
        for k, v in h.items():
            if k != "__metadata__":
                a, b = v["data_offsets"]
                t[k] = (v["dtype"], v["shape"], data[a:b])
    return t
src, dst = load(sys.argv[2]), load(sys.argv[3])
bad = 0
for w in sys.argv[4:]:
    dt, sh, wd = src[w]
    sdt, ssh, sd = src[w + "_scale_inv"]
    ex = fp8cases.exact_dequant(dt, sh, wd, sdt, ssh, sd, 128, 128)
    odt, osh, od = dst[w]
    got = struct.unpack("<%dH" % (len(od) // 2), od)
    bad += odt != "BF16" or osh != sh or any(a is not None and a != b for a, b in zip(ex, got))
print(bad)
PY
}
expect_eq "V3.1: the o_proj whose scale is not a power of two, as the exact formula, bit for bit" \
	"$(exact in/v31 bf-v31 model.layers.1.self_attn.o_proj.weight model.layers.2.self_attn.o_proj.weight)" 0
expect_eq "V3.2: the indexer's wq_b and wk, as the exact formula, bit for bit" \
	"$(exact in/v32 bf-v32 model.layers.0.self_attn.indexer.wq_b.weight model.layers.0.self_attn.indexer.wk.weight model.layers.3.self_attn.indexer.wq_b.weight)" 0
shards=$(echo in/v32/model-*.safetensors)
out_shards=$(echo bf-v32/model-*.safetensors)
idx=model.layers.1.self_attn.indexer
expect_eq "V3.2: the indexer's wq_b and wk dequantized to BF16, their scales gone" \
	"$(tensors "$idx.wq_b.weight $idx.wk.weight $idx.wq_b.weight_scale_inv $idx.wk.weight_scale_inv" $out_shards |
		sed 's/ [0-9a-f]*$//' | tr '\n' ';')" "BF16 [128, 192];BF16 [32, 256];absent;absent;"
kept="self_attn.indexer.weights_proj.weight self_attn.indexer.k_norm.weight self_attn.indexer.k_norm.bias
	input_layernorm.weight self_attn.kv_a_layernorm.weight self_attn.q_a_layernorm.weight"
kept=$(for t in $kept; do echo model.layers.2.$t; done)
expect_eq "V3.2: weights_proj (BF16) and the norms (F32, k_norm's bias too) copied byte for byte" \
	"$(tensors "$kept" $out_shards)" "$(tensors "$kept" $shards)"
expect_eq "V3.2: config.json keeps the index keys, loses quantization_config, and nothing else" \
	"$(python3 -c 'import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2])); a.pop("quantization_config")
print(a == b, [k for k in b if k.startswith("index_")])' in/v32/config.json bf-v32/config.json)" \
	"True ['index_n_heads', 'index_head_dim', 'index_topk']"

# ---- ckpt-hf-to-sharded ----
for n in v31 v32 kimi; do
	for mp in 1 2; do
		run "$sharded" -q --model-parallel $mp in/$n mp$mp-$n
		expect_rc "$n: hf-to-sharded --model-parallel $mp, the cut chosen from config.json" 0
		run "$sharded" -q --model-parallel $mp bf-$n bmp$mp-$n
		expect_rc "$n: the same from BF16" 0
		have_ref $n || continue
		if ! grep -q " convert_fp8_mp$mp/" "$ref/$n/SHA256SUMS"; then
			skip "$n: mp $mp as convert.py's" "the GPU run made no convert.py output for it (device time ran out)"
			continue
		fi
		ranks=$(for r in $(seq 0 $((mp - 1))); do echo model$r-mp$mp.safetensors; done)
		expect_eq "$n: FP8 mp $mp byte-identical to convert.py's (rank files and the files it copies)" \
			"$(cd mp$mp-$n && for f in $ranks $(ls | grep token); do echo "$f $(sha "$f")"; done)" \
			"$(for f in $ranks $(ls mp$mp-$n | grep token); do echo "$f $(sum_of $n convert_fp8_mp$mp/$f)"; done)"
		expect_eq "$n: convert.py copied the same side files" \
			"$(ls mp$mp-$n | grep token | tr '\n' ' ')" \
			"$(awk '{print $2}' "$ref/$n/SHA256SUMS" | sed -n "s#^convert_fp8_mp$mp/##p" | grep token | sort | tr '\n' ' ')"
		expect_eq "$n: BF16 mp $mp (ckpt-fp8-to-bf16's output) byte-identical to convert.py's on fp8_cast_bf16.py's" \
			"$(for f in $ranks; do sha bmp$mp-$n/$f; done)" "$(for f in $ranks; do sum_of $n convert_bf16_mp$mp/$f; done)"
	done
done
cut="indexer.wq_b.weight indexer.wq_b.scale indexer.wk.weight indexer.wk.scale indexer.k_norm.weight
	indexer.k_norm.bias indexer.weights_proj.weight wq_b.weight wq_b.scale"
cut=$(for t in $cut; do echo layers.1.attn.$t; done)
r0=$(tensors "$cut" mp2-v32/model0-mp2.safetensors) r1=$(tensors "$cut" mp2-v32/model1-mp2.safetensors)
expect_eq "V3.2 mp 2: the indexer whole on each rank, the MLA query's q_b_proj (also wq_b) cut in two" \
	"$(echo "$r1" | sed 's/ [0-9a-f]*$//' | tr '\n' ';')" \
	"F8_E4M3 [128, 192];F32 [1, 2];F8_E4M3 [32, 256];F32 [1, 2];F32 [32];F32 [32];BF16 [4, 256];F8_E4M3 [256, 192];F32 [2, 2];"
expect_eq "... the same indexer bytes on both ranks, different halves of q_b_proj" \
	"$(paste -d' ' <(echo "$r0" | awk '{print $NF}') <(echo "$r1" | awk '{print $NF}') | awk '{print ($1 == $2)}' | tr -d '\n')" \
	"111111100"
run "$CKPT_BIN/ckpt-inspect" mp2-v32
expect_line "V3.2 mp 2: inspect puts it together under the HF names, V3.2's model" \
	"model           DeepSeek-V3.2 (family deepseek-v3.2)"
expect_has "... the indexer under its HF name" "model.layers.1.self_attn.indexer.wq_b.weight "
run "$verify" --against in/v32 mp2-v32
expect_rc "V3.2 mp 2: verify (model check and --against the HF source) passes" 0
expect_line "... the model check knows the indexer" \
	"model       passed   DeepSeek-V3.2: 184 tensors (78 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
expect_has "... every tensor bit-identical to the source" "against     passed   106 tensors compared with in/v32 (layout hf, tolerance): 106 bit-identical"
mkdir up-v32 && cp mp2-v32/model*-mp2.safetensors mp2-v32/tokenizer*.json up-v32/
run "$verify" --against in/v32 up-v32
expect_has "V3.2 mp 2 as convert.py leaves it (no config.json): read by V3.2's cut, the same tensors" \
	"against     passed   106 tensors compared with in/v32 (layout hf, tolerance): 106 bit-identical"
mkdir as-v3 && cp in/v32/* as-v3/ && python3 - as-v3/config.json <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["model_type"] = "deepseek_v3"; c["architectures"] = ["DeepseekV3ForCausalLM"]
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
run "$sharded" --model-parallel 2 as-v3 mp-as-v3
expect_rc "a V3.2 checkpoint whose config.json says DeepSeek-V3: refused (exit 2)" 2
expect_eq "... nothing written" "$(ls mp-as-v3 2>/dev/null | wc -l)" 0

# ---- the forward pass on V3.2 ----
# (V3's forward on the same weights without the indexer: what V3.2's dense attention is)
mkdir dense && cp in/v32/*.json in/v32/tokenizer* dense/ && python3 - in/v32 dense <<'PY'
import json, os, struct, sys
src, dst = sys.argv[1:]
for fn in sorted(os.listdir(src)):
    if not fn.endswith(".safetensors"):
        continue
    with open(os.path.join(src, fn), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    out, parts, off = {}, [], 0
    if "__metadata__" in h:
        out["__metadata__"] = h.pop("__metadata__")
    for k, v in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if ".indexer." in k:
            continue
        a, b = v["data_offsets"]
        out[k] = dict(v, data_offsets=[off, off + b - a])
        parts.append(data[a:b])
        off += b - a
    hb = json.dumps(out, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(os.path.join(dst, fn), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(parts))
idx = json.load(open(os.path.join(src, "model.safetensors.index.json")))
idx["weight_map"] = {k: v for k, v in idx["weight_map"].items() if ".indexer." not in k}
idx["metadata"].pop("total_size", None)
json.dump(idx, open(os.path.join(dst, "model.safetensors.index.json"), "w"), indent=2)
c = json.load(open(os.path.join(src, "config.json")))
for k in ("index_n_heads", "index_head_dim", "index_topk"):
    c.pop(k)
c["model_type"] = "deepseek_v3"
c["architectures"] = ["DeepseekV3ForCausalLM"]
json.dump(c, open(os.path.join(dst, "config.json"), "w"), indent=2)
PY
run "$verify" -q dense
expect_rc "(V3.2's weights without the indexer: a DeepSeek-V3 checkpoint, but for V3.2's F32 norms)" 1
run "$verify" --forward --positions 8 --against dense in/v32
expect_rc "V3.2 over index_topk (8) positions: the logits of V3's dense pass on its weights" 0
expect_has "... identical" "forward     passed"
if have_ref v32; then
	for r in hf own; do
		run "$verify" --forward --reference "$ref/v32/forward/${r}_logits.safetensors" in/v32
		expect_rc "V3.2: --forward against $r logits (transformers' DeepseekV3ForCausalLM float64 / our float64 reference) within 1e-4" 0
	done
	for n in v31 kimi; do
		run "$verify" --forward --reference "$ref/$n/forward/hf_logits.safetensors" in/$n
		expect_rc "$n: --forward against transformers' float64 logits within 1e-4" 0
	done
fi
run "$verify" --forward --tokens 1,2,3,4,5,6,7,8,9 in/v32
expect_rc "V3.2 past index_topk: the indexer cannot run with index_head_dim 32 < qk_rope_head_dim 64 (exit 1, the forward check failed)" 1
expect_eq "... in one line that says why" "$(grep -A1 '^forward' out | tail -n 1)" \
	"  in/v32: layer 0: index_head_dim 32 is smaller than qk_rope_head_dim 64, the dimensions its indexer rotates"
run "$verify" --checks structure --forward --tokens 1,2,3,4,5,6,7,8,9 dense
expect_rc "... the same tokens on the V3 copy: computed" 0
exit $rc
