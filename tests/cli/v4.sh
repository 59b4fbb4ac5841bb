#!/usr/bin/env bash
# DeepSeek-V4 (formats/family_deepseek_v4.c, formats/hf_v4.h): ckpt-inspect and ckpt-verify on
# a tiny generated checkpoint (fixtures/specs/tiny-v4.json: compress ratios 0, 4, 128, hash and
# scored routing, MTP, FP8 with F8_E8M0 128x128 scales, FP4 experts with 1x32 E8M0 scales,
# extreme and NaN scale bytes) and on the full-size V4-Flash and V4-Pro inventories as headers
# whose data is a hole: 69,187 and 145,116 tensors, written here from the spec's formulas
# (../shared/spec/deepseek-v4.md a.3) by an independent Python listing.
. "$CKPT_ROOT/tests/cli/lib.sh"
spec=$CKPT_ROOT/fixtures/specs/tiny-v4.json
shard=model-00001-of-00001.safetensors

# ---- a tiny V4: inspect ----
"$synth" -q "$spec" tiny
run "$inspect" tiny
expect_rc "inspect: exit 0" 0
expect_line "... names the family" "model         DeepSeek-V4 (family deepseek-v4)"
expect_line "... counts the FP4 weights apart" "FP4 weights   60 with scales (4-bit codes, two a byte)"
expect_line "... and the FP8 ones" "FP8 weights   44 with scales, 0 without"
expect_line "... finds the layers by V4's names" "layers        4: 0-3"
expect_line "... and the MTP block after them" "MTP layers    1: 4"
expect_line "... FP4 codes: I8 with the codes' shape and count" \
	"              I8            60      245760  122880   120 KiB"
expect_line "... E8M0 scales" "              F8_E8M0      104        7724    7724  7.54 KiB"
expect_line "... an FP4 expert: [out, in] codes, 2048 bytes" \
	"layers.0.ffn.experts.0.w1.weight               I8       [64, 64]    2048  $shard"
expect_line "... its scale, one a group of 32" \
	"layers.0.ffn.experts.0.w1.scale                F8_E8M0  [64, 2]      128  $shard"
expect_line "... tid2eid stays I64 on a hash layer" \
	"layers.1.ffn.gate.tid2eid                      I64      [256, 2]    4096  $shard"
expect_line "... the compressor at ratio 128" \
	"layers.2.attn.compressor.ape                   F32      [128, 32]  16384  $shard"
expect_line "... overlapping at ratio 4, with the indexer's" \
	"layers.3.attn.indexer.compressor.ape           F32      [4, 32]      512  $shard"
"$inspect" --json tiny >tiny.json
expect_eq "--json: the family, the model, the FP4 weights, the MTP layer" \
	"$("$jsonq" checkpoints.0.model.family <tiny.json) $("$jsonq" checkpoints.0.model.name <tiny.json) $("$jsonq" checkpoints.0.fp4_weights.with_scales <tiny.json) $("$jsonq" checkpoints.0.mtp_layers.0 <tiny.json)" \
	"deepseek-v4 DeepSeek-V4 60 4"

run "$inspect" --stats tiny
expect_line "--stats: an FP4 expert dequantized, scales 2^-127 to 2^125 (6 x 2^125 = 2.55212e+38)" \
	"layers.0.ffn.experts.0.w1.weight               I8       [64, 64]    2048  scaled  -2.55212e+38  2.55212e+38  -1.71346e+35  1.12825e+37  2.55212e+38    0    0  $shard"
expect_line "--stats: its E8M0 scale as values" \
	"layers.0.ffn.experts.0.w1.scale                F8_E8M0  [64, 2]      128  stored   5.87747e-39  4.25353e+37   3.32307e+35  3.74491e+36  4.25353e+37    0    0  $shard"

# ---- verify ----
run "$verify" tiny
expect_rc "verify: exit 0" 0
expect_line "... knows every tensor" \
	"model       passed   DeepSeek-V4: 307 tensors (44 FP8 and 60 FP4 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
run "$verify" --scan tiny
expect_rc "--scan: exit 0" 0
expect_line "... dequantizes FP8 and FP4" \
	"scan        passed   203 tensors, 512888 values read (44 FP8 and 60 FP4 dequantized): no NaN or infinity"
"$synth" -q --set nan_scale=true "$spec" nan
run "$verify" --scan nan
expect_rc "--scan, a NaN scale byte: exit 1" 1
expect_line "... the group of 32 it scales is NaN, by name, and the NaN scale counted" \
	"  nan/$shard: tensor \"layers.0.ffn.experts.0.w1.weight\": 32 NaN and 0 infinite of 4096 values (dequantized; 1 NaN block scale)"
"$synth" -q --set 'nan_scale=["mtp.0.ffn.experts.3.w2.weight", "layers.2.ffn.experts.1.w3.weight"]' "$spec" nan2
run "$verify" --scan nan2
expect_line "... named weights" "scan        FAILED   203 tensors, 512888 values read (44 FP8 and 60 FP4 dequantized): 2 with NaN or infinity"
expect_line "... each with its NaN scale byte" \
	"  nan2/$shard: tensor \"mtp.0.ffn.experts.3.w2.weight\": 32 NaN and 0 infinite of 4096 values (dequantized; 1 NaN block scale)"
run "$synth" --set 'nan_scale="layers.0.attn.wq_a.weight"' "$spec" nan3
expect_rc "nan_scale on an FP8 weight: refused" 2
expect_err "... said so" \
	"ckpt-synth: $spec: \"nan_scale\" names \"layers.0.attn.wq_a.weight\", which is not an FP4 weight of this config"

# (the forward pass itself: forward-v4.sh; here the extreme FP4 scale 2^125 overflows it)
run "$verify" --forward tiny
expect_rc "--forward: exit 1" 1
expect_line "... says where the extreme FP4 scale makes non-finite values" \
	"  non-finite values first appear in layer 0 (routed expert 0 output)"

# ---- not yet: the converters refuse V4, writing nothing (ckpt-fp8-to-bf16: v4-bf16.sh) ----
run "$CKPT_BIN/ckpt-hf-to-sharded" --model-parallel 1 tiny mp
expect_rc "ckpt-hf-to-sharded refuses V4 (not yet): exit 2" 2
check "... and writes nothing" test ! -e mp
run "$CKPT_BIN/ckpt-hf-to-sharded" --layout mindspore-train tiny ms
expect_rc "MindSpore's training layout: refused, exit 2" 2
expect_err "... V4 has no names there" \
	"ckpt-hf-to-sharded: tiny: DeepSeek-V4 has no names in MindSpore Transformers' training layout: not converted"

# ---- config.json: V4's keys, bounded and consistent ----
# v4cfg DIR PYTHON: a copy of tiny with config.json edited by PYTHON (on dict c)
v4cfg() {
	rm -rf "$1"
	cp -r tiny "$1"
	python3 -c 'import json,sys
c=json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"), indent=2)' "$1/config.json" "$2"
}
bad_cfg() { # NAME PYTHON LINE: the model check fails with LINE
	v4cfg b "$2"
	run "$verify" b
	expect_line "$1" "$3"
}
bad_cfg "compress_ratios one short" 'c["compress_ratios"] = c["compress_ratios"][:4]' \
	"  b/config.json: compress_ratios has 4 entries, num_hidden_layers + num_nextn_predict_layers is 5"
bad_cfg "num_hash_layers past the layers" 'c["num_hash_layers"] = 9' \
	"  b/config.json: num_hash_layers 9 is more than num_hidden_layers 4"
bad_cfg "a ratio-4 layer without index_n_heads" 'del c["index_n_heads"]' \
	"  b/config.json: missing \"index_n_heads\" (compress_ratios[1] is 4: that layer has an indexer)"
bad_cfg "o_groups not dividing the heads" 'c["o_groups"] = 3' \
	"  b/config.json: num_attention_heads * head_dim 128 is not a multiple of o_groups 3"
bad_cfg "no hc_mult" 'del c["hc_mult"]' "  b/config.json: missing \"hc_mult\""
bad_cfg "an odd hidden_size with FP4 experts" 'c["hidden_size"] = 63' \
	"  b/config.json: hidden_size 63 is odd: the FP4 experts hold two codes a byte"
bad_cfg "a ratio below 0" 'c["compress_ratios"][1] = -4' \
	"  b/config.json: compress_ratios[1] is not a non-negative integer"
bad_cfg "a ratio over the limit" 'c["compress_ratios"][1] = 70000' \
	"  b/config.json: compress_ratios[1] 70000 is over the limit 65535"
bad_cfg "compress_ratios not an array" 'c["compress_ratios"] = "x"' "  b/config.json: \"compress_ratios\" is not an array"
bad_cfg "40000 experts against 4: one problem, no list of millions" 'c["n_routed_experts"] = 40000' \
	"  b/config.json: n_routed_experts is 40000 but the checkpoint has experts 0..3"
bad_cfg "sqrtsoftplus is V4's only" 'c["model_type"] = "deepseek_v3"' \
	"  b/config.json: \"scoring_func\" is \"sqrtsoftplus\", not \"sigmoid\" or \"softmax\""

# ---- the full-size inventories, as headers over a hole ----
cat >gen.py <<'PY'
import json, sys, os
FLASH = dict(vocab_size=129280, hidden_size=4096, moe_intermediate_size=2048, num_hidden_layers=43,
             num_attention_heads=64, q_lora_rank=1024, o_groups=8, n_routed_experts=256,
             compress_ratios=[0, 0] + [4, 128] * 20 + [4, 0])
PRO = dict(vocab_size=129280, hidden_size=7168, moe_intermediate_size=3072, num_hidden_layers=61,
           num_attention_heads=128, q_lora_rank=1536, o_groups=16, n_routed_experts=384,
           compress_ratios=[128, 128] + [4, 128] * 29 + [4, 0])
COMMON = dict(architectures=["DeepseekV4ForCausalLM"], model_type="deepseek_v4", head_dim=512, o_lora_rank=1024,
              index_n_heads=64, index_head_dim=128, num_experts_per_tok=6, n_shared_experts=1, hc_mult=4,
              num_hash_layers=3, num_nextn_predict_layers=1, qk_rope_head_dim=64, scoring_func="sqrtsoftplus",
              quantization_config={"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                   "scale_fmt": "ue8m0", "weight_block_size": [128, 128]})
SIZE = {'BF16': 2, 'F32': 4, 'I32': 4, 'I64': 8, 'I8': 1, 'F8_E4M3': 1, 'F8_E8M0': 1}

def inventory(c):
    D, H, hd, qr = c['hidden_size'], c['num_attention_heads'], c['head_dim'], c['q_lora_rank']
    G, R, E, I, V = c['o_groups'], c['o_lora_rank'], c['n_routed_experts'], c['moe_intermediate_size'], c['vocab_size']
    k, hc, IH, ID = c['num_experts_per_tok'], c['hc_mult'], c['index_n_heads'], c['index_head_dim']
    nl, nh, cr, m = c['num_hidden_layers'], c['num_hash_layers'], c['compress_ratios'], (2 + hc) * hc
    t = []
    a = lambda n, dt, sh: t.append((n, dt, sh))
    def q(n, sh):
        a(n + '.weight', 'F8_E4M3', sh)
        a(n + '.scale', 'F8_E8M0', [-(-sh[0] // 128), -(-sh[1] // 128)])
    def hchead(p):
        a(p + 'hc_head_fn', 'F32', [hc, hc * D]); a(p + 'hc_head_base', 'F32', [hc]); a(p + 'hc_head_scale', 'F32', [1])
    def comp(p, r, d):
        w = 2 * d if r == 4 else d
        a(p + 'compressor.ape', 'F32', [r, w]); a(p + 'compressor.wkv.weight', 'BF16', [w, D])
        a(p + 'compressor.wgate.weight', 'BF16', [w, D]); a(p + 'compressor.norm.weight', 'BF16', [d])
    a('embed.weight', 'BF16', [V, D]); a('head.weight', 'BF16', [V, D]); a('norm.weight', 'BF16', [D]); hchead('')
    for L in range(nl + c['num_nextn_predict_layers']):
        p, r = ('layers.%d.' % L if L < nl else 'mtp.%d.' % (L - nl)), cr[L]
        if L >= nl:
            q(p + 'e_proj', [D, D]); q(p + 'h_proj', [D, D])
            for x in ('enorm', 'hnorm', 'norm'):
                a(p + x + '.weight', 'BF16', [D])
            hchead(p)
        a(p + 'attn_norm.weight', 'BF16', [D]); a(p + 'ffn_norm.weight', 'BF16', [D])
        for w in ('attn', 'ffn'):
            a(p + 'hc_%s_fn' % w, 'F32', [m, hc * D]); a(p + 'hc_%s_base' % w, 'F32', [m]); a(p + 'hc_%s_scale' % w, 'F32', [3])
        a(p + 'attn.attn_sink', 'F32', [H])
        q(p + 'attn.wq_a', [qr, D]); a(p + 'attn.q_norm.weight', 'BF16', [qr]); q(p + 'attn.wq_b', [H * hd, qr])
        q(p + 'attn.wkv', [hd, D]); a(p + 'attn.kv_norm.weight', 'BF16', [hd])
        q(p + 'attn.wo_a', [G * R, H * hd // G]); q(p + 'attn.wo_b', [D, G * R])
        if r:
            comp(p + 'attn.', r, hd)
        if r == 4:
            q(p + 'attn.indexer.wq_b', [IH * ID, qr]); a(p + 'attn.indexer.weights_proj.weight', 'BF16', [IH, D])
            comp(p + 'attn.indexer.', 4, ID)
        a(p + 'ffn.gate.weight', 'BF16', [E, D])
        if L < nh:
            a(p + 'ffn.gate.tid2eid', 'I64', [V, k])
        else:
            a(p + 'ffn.gate.bias', 'F32', [E])
        for w, sh in (('w1', [I, D]), ('w2', [D, I]), ('w3', [I, D])):
            q(p + 'ffn.shared_experts.' + w, sh)
        for e in range(E):
            for w, (o, i) in (('w1', (I, D)), ('w2', (D, I)), ('w3', (I, D))):
                a(p + 'ffn.experts.%d.%s.weight' % (e, w), 'I8', [o, i // 2])
                a(p + 'ffn.experts.%d.%s.scale' % (e, w), 'F8_E8M0', [o, i // 32])
    return t

# gen.py flash|pro DIR [drop NAME | dtype NAME DT | f4 NAME | extra NAME]...: config.json and
# one shard of headers whose data is a hole (a sparse file)
which, out, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
cfg = dict(COMMON, **(FLASH if which == 'flash' else PRO))
t = inventory(cfg)
while edits:
    op = edits.pop(0)
    if op == 'drop':
        n = edits.pop(0); t = [x for x in t if x[0] != n]
    elif op == 'dtype':
        n, dt = edits.pop(0), edits.pop(0); t = [(x[0], dt if x[0] == n else x[1], x[2]) for x in t]
    elif op == 'f4':
        n = edits.pop(0); t = [(x[0], 'F4', x[2][:-1] + [2 * x[2][-1]]) if x[0] == n else x for x in t]
    elif op == 'extra':
        t.append((edits.pop(0), 'BF16', [4]))
os.makedirs(out, exist_ok=True)
json.dump(cfg, open(os.path.join(out, 'config.json'), 'w'), indent=2)
hdr, off = {}, 0
for n, dt, sh in t:
    nb = 1
    for d in sh:
        nb *= d
    nb = nb // 2 if dt == 'F4' else nb * SIZE[dt]
    hdr[n] = {'dtype': dt, 'shape': sh, 'data_offsets': [off, off + nb]}
    off += nb
h = json.dumps(hdr, separators=(',', ':')).encode()
h += b' ' * (-len(h) % 8)
with open(os.path.join(out, 'model.safetensors'), 'wb') as f:
    f.write(len(h).to_bytes(8, 'little')); f.write(h); f.truncate(8 + len(h) + off)
PY
python3 gen.py flash flash
run "$verify" flash
expect_rc "V4-Flash, full size: exit 0" 0
expect_line "... all 69,187 tensors, named by its shapes" \
	"model       passed   DeepSeek-V4-Flash: 69187 tensors (375 FP8 and 33792 FP4 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
run "$inspect" flash
expect_line "... inspect names it" "model         DeepSeek-V4-Flash (family deepseek-v4)"
expect_line "... its 158.07 B stored elements are 283.5 B FP4 codes" \
	"              I8         33792  283467841536  141733920768   132 GiB"
expect_line "... and its layers" "layers        43: 0-42"
python3 gen.py pro pro
run "$verify" pro
expect_rc "V4-Pro, full size: exit 0" 0
expect_line "... all 145,116 tensors" \
	"model       passed   DeepSeek-V4-Pro: 145116 tensors (528 FP8 and 71424 FP4 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"

# every kind of difference, by name; an expert stored F4 (safetensors' float4_e2m1fn_x2) is one
python3 gen.py flash bad drop layers.2.attn.indexer.compressor.ape dtype layers.0.ffn.gate.tid2eid I32 \
	extra layers.3.attn.indexer.k_norm.weight drop layers.7.ffn.experts.100.w2.weight \
	f4 layers.8.ffn.experts.5.w1.weight dtype mtp.0.e_proj.weight BF16
run "$verify" bad
expect_rc "V4-Flash with differences: exit 1" 1
expect_line "... counted" "model       FAILED   69187 tensors expected from config.json: 2 missing, 1 extra, 2 of a wrong dtype"
expect_line "... I64 expected" "  bad/model.safetensors: tensor \"layers.0.ffn.gate.tid2eid\": dtype I32, config.json implies I64"
expect_line "... a V3.2 indexer name is no V4 tensor" \
	"  bad/model.safetensors: tensor \"layers.3.attn.indexer.k_norm.weight\": not a tensor of the model config.json describes"
expect_line "... FP8 expected" "  bad/model.safetensors: tensor \"mtp.0.e_proj.weight\": dtype BF16, config.json implies F8_E4M3"
expect_line "... a compressor tensor missing" \
	"  tensor \"layers.2.attn.indexer.compressor.ape\": missing (config.json implies F32 [4, 256])"
expect_line "... an FP4 expert missing, with both stored forms" \
	"  tensor \"layers.7.ffn.experts.100.w2.weight\": missing (config.json implies FP4 codes [4096, 2048]: I8 [4096, 1024] or F4)"
if grep -q "layers.8.ffn.experts.5.w1" out; then not_ok "... the F4 expert is accepted" "$(grep layers.8 out)"
else ok "... the F4 expert is accepted"; fi
