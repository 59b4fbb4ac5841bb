#!/usr/bin/env python3
"""Checks ckpt-fp8-to-bf16's output on a DeepSeek-V4 checkpoint value by value, with
arithmetic of its own (no numpy, nothing of ckpt's): tests/cli/v4-bf16.sh.

  v4-bf16.py check IN OUT TABLE   TABLE deepseek (FP4 code 8 = +0) or transformers (-0)
  v4-bf16.py ref OUT JSON KEY     every tensor JSON (fixtures/ref/v4/dequant.json) names has
                                  the sha256 JSON gives under KEY ("deepseek", "transformers")
  v4-bf16.py f4 IN OUT            IN's FP4 experts as safetensors F4 ([out, in], the same
                                  bytes) rather than I8 [out, in/2], into OUT (a copy)
  v4-bf16.py v41 DIR [ENGRAM]     a small DeepSeek-V4.1 (32x32 FP8 blocks), see v41()

check: every weight of IN with a ".scale" is in OUT as BF16 of its logical shape, each value
bf16_rne(decode(code) * 2^(scale - 127)) (blocks: 1x32 for FP4, IN/config.json's
weight_block_size for FP8), NaN as 0x7FFF; every other tensor of IN (no
".scale") has OUT's dtype, shape and bytes unchanged; no ".scale" tensor is left.  Prints
one summary line: what was compared, how many code-8 values and what they became.
"""
import hashlib
import json
import math
import os
import shutil
import struct
import sys

FP4 = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0]


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    hdr = json.loads(data[8:8 + n])
    hdr.pop("__metadata__", None)
    base = 8 + n
    return {k: (v["dtype"], v["shape"], data[base + v["data_offsets"][0]:base + v["data_offsets"][1]])
            for k, v in hdr.items()}


def read_dir(d):
    out = {}
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".safetensors"):
            for k, v in read_st(os.path.join(d, fn)).items():
                out[k] = v + (fn,)
    return out


def e4m3(b):
    s = -1.0 if b & 0x80 else 1.0
    e, m = (b >> 3) & 15, b & 7
    if e == 15 and m == 7:
        return math.nan
    if e == 0:
        return s * m / 8 * 2.0 ** -6
    return s * (1 + m / 8) * 2.0 ** (e - 7)


def bf16(v):
    """bf16_rne of v, which is exact in float32 wherever it is in float32's range."""
    if math.isnan(v):
        return 0x7FFF
    if abs(v) > 3.4028234663852886e38:
        bits = 0x7F800000 | (0x80000000 if v < 0 else 0)
    else:
        (bits,) = struct.unpack("<I", struct.pack("<f", v))
        if struct.unpack("<f", struct.pack("<I", bits))[0] != v:
            sys.exit(f"not exact in float32: {v!r}")
    if (bits & 0x7F800000) == 0x7F800000 and bits & 0x7FFFFF:
        return 0x7FFF
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


def e8m0(b):
    return math.nan if b == 0xFF else 2.0 ** (b - 127)


def expected(wdt, wshape, w, s, sshape, table, block):
    """The BF16 values of a weight with its scale, row-major, and what code 8 became: FP4 in
    1x32 groups, FP8 in config.json's blocks (which the scale grid must fit: where a block is
    partial the grid alone does not say it)."""
    R = wshape[0]
    packed = wdt in ("I8", "U8", "F4")
    C = wshape[1] * (2 if wdt in ("I8", "U8") else 1)
    sr, sc = sshape
    bm, bn = (1, 32) if packed else block
    if -(-R // bm) != sr or -(-C // bn) != sc:
        sys.exit(f"scale grid {sshape} does not fit {R}x{C}")
    out = bytearray(2 * R * C)
    code8 = []
    scales = [e8m0(x) for x in s]
    lut = [e4m3(b) for b in range(256)]
    for r in range(R):
        row = r * C
        for c in range(C):
            if packed:
                byte = w[(row + c) >> 1]
                code = (byte >> (4 * (c & 1))) & 15
                v = table[code]
            else:
                code = -1
                v = lut[w[row + c]]
            x = bf16(v * scales[(r // bm) * sc + c // bn])
            struct.pack_into("<H", out, 2 * (row + c), x)
            if code == 8:
                code8.append(x)
    return bytes(out), code8


def check(inp, outd, table_name):
    table = list(FP4)
    if table_name == "transformers":
        table[8] = -0.0
    a, b = read_dir(inp), read_dir(outd)
    q = json.load(open(os.path.join(inp, "config.json"))).get("quantization_config", {})
    block = q.get("weight_block_size", [128, 128])
    scales = {k for k in a if k.endswith(".scale") and k[:-6] + ".weight" in a}
    bad = [k for k in b if k.endswith(".scale")]
    if bad:
        sys.exit(f"scales left in the output: {bad[:3]}")
    if set(a) - scales != set(b):
        sys.exit(f"names differ: missing {sorted(set(a) - scales - set(b))[:3]}, extra {sorted(set(b) - set(a))[:3]}")
    nfp8 = nfp4 = ncopied = nnan = 0
    code8 = {}
    for k in sorted(b):
        dt, shape, data, _ = b[k]
        sk = k[:-7] + ".scale" if k.endswith(".weight") else None
        if sk in scales:
            wdt, wshape, w, _ = a[k]
            sdt, sshape, s, _ = a[sk]
            want, c8 = expected(wdt, wshape, w, s, sshape, table, block)
            logical = [wshape[0], wshape[1] * (2 if wdt in ("I8", "U8") else 1)]
            if dt != "BF16" or shape != logical:
                sys.exit(f"{k}: {dt} {shape}, wanted BF16 {logical}")
            if data != want:
                i = next(i for i in range(0, len(want), 2) if data[i:i + 2] != want[i:i + 2])
                sys.exit(f"{k}: element {i // 2} is {data[i:i + 2].hex()}, wanted {want[i:i + 2].hex()}")
            if wdt in ("I8", "U8", "F4"):
                nfp4 += 1
            else:
                nfp8 += 1
            for x in c8:
                code8[x] = code8.get(x, 0) + 1
            nnan += sum(1 for i in range(0, len(data), 2) if data[i:i + 2] == b"\xff\x7f")
        else:
            if a[k][:3] != (dt, shape, data):
                sys.exit(f"{k}: not copied unchanged ({a[k][0]} {a[k][1]} -> {dt} {shape})")
            ncopied += 1
    dts = sorted({b[k][0] for k in b if b[k][:3] == a[k][:3]})
    c8 = ", ".join(f"{n} as 0x{x:04X}" for x, n in sorted(code8.items()))
    print(f"{nfp8} FP8 and {nfp4} FP4 weights exact, {nnan} NaN as 0x7FFF; {ncopied} tensors copied "
          f"({', '.join(dts)}); {len(scales)} scales dropped; code 8: {c8}")


def ref(outd, path, key):
    refs = json.load(open(path))
    b = read_dir(outd)
    n = skipped = 0
    for k, e in sorted(refs.items()):
        if key not in e:
            skipped += 1
            continue
        got = hashlib.sha256(b[k][2]).hexdigest() if k in b else "(missing)"
        if got != e[key]:
            sys.exit(f"{k}: sha256 {got}, {key} gives {e[key]}")
        n += 1
    print(f"{n} tensors equal {key}'s, {skipped} without one")


def f4(inp, outd):
    shutil.copytree(inp, outd)
    for fn in os.listdir(outd):
        if not fn.endswith(".safetensors"):
            continue
        p = os.path.join(outd, fn)
        with open(p, "rb") as f:
            data = f.read()
        (n,) = struct.unpack("<Q", data[:8])
        hdr = json.loads(data[8:8 + n])
        for k, v in hdr.items():
            if k != "__metadata__" and v["dtype"] == "I8" and k.endswith(".weight") and ".experts." in k:
                v["dtype"], v["shape"] = "F4", [v["shape"][0], 2 * v["shape"][1]]
        h = json.dumps(hdr, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
        with open(p, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + data[8 + n:])


def write_st(path, tensors):
    hdr, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for k, (dt, shape, data) in tensors.items():
        hdr[k] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        blobs.append(data)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def v41(d, engram="none"):
    """A small DeepSeek-V4.1 as the spec (section e) describes it: keys under text_config,
    FP8 with 32x32 E8M0 blocks (partial ones too), FP4 experts with 1x32 groups, F32, I64,
    BF16 and a vision tensor; engram: none, "fits" (an FP8 table whose scale fits 32x32),
    "u8" (rows of bytes, no scale) or "rows" (a scale a row of 256, [rows, 8])."""
    import random
    rnd = random.Random(41)
    os.makedirs(d)

    def raw(n, lo=0, hi=255):
        return bytes(rnd.randint(lo, hi) for _ in range(n))

    def fp8(r, c):  # e4m3 codes without NaN
        return bytes(b if (b & 0x7F) != 0x7F else 0x7E for b in raw(r * c))

    def q8(name, r, c):
        return {name + ".weight": ("F8_E4M3", [r, c], fp8(r, c)),
                name + ".scale": ("F8_E8M0", [-(-r // 32), -(-c // 32)], raw(-(-r // 32) * -(-c // 32), 110, 135))}

    def q4(name, r, c):
        return {name + ".weight": ("I8", [r, c // 2], raw(r * c // 2)),
                name + ".scale": ("F8_E8M0", [r, c // 32], raw(r * c // 32, 100, 140))}
    a = {"embed.weight": ("BF16", [32, 64], raw(32 * 64 * 2, 0, 0x7F)),
         "layers.0.attn.attn_sink": ("F32", [4], struct.pack("<4f", 1.5, -2.25, 0.1, 3e-30)),
         "layers.0.hc_attn_fn": ("F32", [24, 16], raw(24 * 16 * 4, 0, 0x3F)),
         "layers.0.ffn.gate.tid2eid": ("I64", [32, 2], b"".join(struct.pack("<q", rnd.randint(0, 3)) for _ in range(64)))}
    a.update(q8("layers.0.attn.wq_a", 48, 64))
    a.update(q8("layers.0.attn.wo_b", 64, 40))
    a.update(q4("layers.0.ffn.experts.0.w1", 32, 64))
    a.update(q4("layers.0.ffn.experts.0.w2", 64, 32))
    b = {"vision.blocks.0.mlp.fc1.weight": ("BF16", [16, 8], raw(16 * 8 * 2, 0, 0x3F))}
    b.update(q8("mtp.0.e_proj", 64, 64))
    b.update(q4("mtp.0.ffn.experts.1.w3", 32, 64))
    if engram == "fits":
        b.update(q8("layers.1.engram.embed", 64, 256))
    elif engram == "u8":
        b["layers.1.engram.embed.weight"] = ("U8", [64, 264], raw(64 * 264))
    elif engram == "rows":
        b["layers.1.engram.embed.weight"] = ("F8_E4M3", [64, 256], fp8(64, 256))
        b["layers.1.engram.embed.scale"] = ("F8_E8M0", [64, 8], raw(64 * 8, 120, 130))
    shards = {"model-00001-of-00002.safetensors": a, "model-00002-of-00002.safetensors": b}
    wm = {}
    for fn, t in shards.items():
        write_st(os.path.join(d, fn), t)
        wm.update({k: fn for k in t})
    json.dump({"metadata": {"total_size": sum(len(v[2]) for t in shards.values() for v in t.values())},
               "weight_map": dict(sorted(wm.items()))}, open(os.path.join(d, "model.safetensors.index.json"), "w"),
              indent=2)
    json.dump({"architectures": ["DeepseekV41ForCausalLM"], "model_type": "deepseek_v41",
               "quantization_config": {"quant_method": "fp8", "activation_scheme": "dynamic",
                                       "weight_block_size": [32, 32], "scale_fmt": "ue8m0", "expert_dtype": "fp4"},
               "text_config": {"model_type": "deepseek_v41_text", "hidden_size": 64, "num_hidden_layers": 2,
                               "num_nextn_predict_layers": 1, "engram_layer_ids": [1]},
               "vision_config": {"hidden_size": 16}, "torch_dtype": "bfloat16"},
              open(os.path.join(d, "config.json"), "w"), indent=2)
    open(os.path.join(d, "tokenizer_config.json"), "w").write("{}\n")


if __name__ == "__main__":
    {"check": check, "ref": ref, "f4": f4, "v41": v41}[sys.argv[1]](*sys.argv[2:])
