#!/usr/bin/env python3
"""FP8 block-dequantization edge cases and their reference outputs.

  fp8cases.py make DIR            build the input checkpoints (pure Python, no torch; seeded)
  fp8cases.py device CASES UP OUT on the GPU machine: run the references on every case
  fp8cases.py check DIR           local self-test of the exact formula (pure Python)

References made by `device` for each case directory:
  (i)   fp8_cast_bf16/            DeepSeek's inference/fp8_cast_bf16.py run on the case (block 128
                                  hard-coded, Triton kernel on the GPU), or its error
  (ii)  triton_direct.safetensors kernel.py weight_dequant(w, s, block) called directly on the GPU
                                  with the case's block size (square blocks only)
  (iii) torch_cpu.safetensors     (w.to(float32) * s.to(float32) expanded per block).to(bfloat16)
                                  with plain torch on the CPU, the case's block sizes
  (iv)  torch_cuda.safetensors    the same formula with torch on the GPU
and `exact`: the formula evaluated here in pure Python (exact product, one rounding to float32,
then round-to-nearest-even to bfloat16), used to say which path differs where.
The upstream files (kernel.py, fp8_cast_bf16.py) are read from UP and never committed.
"""
import json
import math
import os
import random
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stio  # noqa: E402

NAN = float("nan")
INF = float("inf")


# ---- exact formula, pure Python ---------------------------------------------------------------

def e4m3(c):
    s = -1.0 if c & 0x80 else 1.0
    e, m = (c >> 3) & 15, c & 7
    if e == 15 and m == 7:
        return NAN
    if e == 0:
        return s * m * 2.0 ** -9
    return s * (1 + m / 8) * 2.0 ** (e - 7)


def e5m2(c):
    s = -1.0 if c & 0x80 else 1.0
    e, m = (c >> 2) & 31, c & 3
    if e == 31:
        return s * INF if m == 0 else NAN
    if e == 0:
        return s * m * 2.0 ** -16
    return s * (1 + m / 4) * 2.0 ** (e - 15)


def e8m0(c):
    return NAN if c == 255 else 2.0 ** (c - 127)


def f32_of_bits(u):
    return struct.unpack("<f", struct.pack("<I", u))[0]


def bf16_of_bits(u):
    return f32_of_bits(u << 16)


def f32_bits(x):
    """Round a double to float32 (nearest even, subnormals kept); returns the bits."""
    if x != x:
        return 0x7FC00000
    try:
        return struct.unpack("<I", struct.pack("<f", x))[0]
    except OverflowError:
        return 0xFF800000 if x < 0 else 0x7F800000


def bf16_rne(u):
    """float32 bits -> bfloat16 bits, round to nearest even; None for NaN."""
    if (u & 0x7F800000) == 0x7F800000 and (u & 0x7FFFFF):
        return None
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


WDEC = {"F8_E4M3": e4m3, "F8_E5M2": e5m2, "U8": lambda c: float(c),
        "I8": lambda c: float(c - 256 if c > 127 else c)}


def scale_values(dt, data):
    if dt == "F32":
        return [f32_of_bits(u) for u in stio.u32s(data)]
    if dt == "BF16":
        return [bf16_of_bits(u) for u in stio.u16s(data)]
    if dt == "F8_E8M0":
        return [e8m0(c) for c in data]
    raise ValueError(dt)


def exact_dequant(wdt, shape, wdata, sdt, sshape, sdata, br, bc):
    """List of bf16 bits (None where the result is NaN)."""
    M, N = shape
    dec = WDEC[wdt]
    table = [dec(c) for c in range(256)]
    sv = scale_values(sdt, sdata)
    sn = sshape[1]
    out = []
    for i in range(M):
        srow = (i // br) * sn
        for j in range(N):
            x = table[wdata[i * N + j]] * sv[srow + j // bc]
            out.append(bf16_rne(f32_bits(x)))
    return out


# ---- the input cases ---------------------------------------------------------------------------

E4M3_FINITE = [c for c in range(256) if c not in (0x7F, 0xFF)]
E5M2_FINITE = [c for c in range(256) if (c & 0x7C) != 0x7C]


def bits_f32(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def pack_f32_bits(bits):
    return struct.pack("<%dI" % len(bits), *bits)


def pack_bf16_bits(bits):
    return struct.pack("<%dH" % len(bits), *bits)


def rand_scale_bits(rng, lo=-14, hi=-4):
    return ((rng.randint(lo, hi) + 127) << 23) | rng.getrandbits(23)


class Case:
    def __init__(self, name, seed, block=(128, 128), fmt="e4m3", scale_fmt=None, nshards=1,
                 index=True, note=""):
        self.name, self.block, self.fmt, self.scale_fmt = name, list(block), fmt, scale_fmt
        self.rng = random.Random(seed)
        self.shards = [[] for _ in range(nshards)]
        self.index, self.note = index, note

    def put(self, shard, name, dt, shape, data):
        self.shards[shard].append((name, dt, list(shape), bytes(data)))

    def sshape(self, shape):
        return [-(-shape[0] // self.block[0]), -(-shape[1] // self.block[1])]

    def rand_weight(self, shard, name, shape, dt="F8_E4M3", sshard=None, sdt="F32", codes=None,
                    scales=None):
        """A random 1-byte weight and its scale (finite codes unless codes= is given)."""
        n = stio.numel(shape)
        pool = E4M3_FINITE if dt == "F8_E4M3" else E5M2_FINITE if dt == "F8_E5M2" else list(range(256))
        if codes is None:
            codes = bytes(self.rng.choice(pool) for _ in range(n))
        self.put(shard, name, dt, shape, codes)
        ss = self.sshape(shape)
        ns = stio.numel(ss)
        if scales is None:
            if sdt == "F32":
                scales = pack_f32_bits([rand_scale_bits(self.rng) for _ in range(ns)])
            elif sdt == "BF16":
                scales = pack_bf16_bits([rand_scale_bits(self.rng) >> 16 for _ in range(ns)])
            elif sdt == "F8_E8M0":
                scales = bytes(self.rng.randint(127 - 14, 127 - 4) for _ in range(ns))
        self.put(shard if sshard is None else sshard, name + "_scale_inv", sdt, ss, scales)

    def plain(self, shard, name, dt, shape):
        n = stio.numel(shape)
        if dt == "BF16":
            data = pack_bf16_bits([bits_f32(self.rng.gauss(0, 1)) >> 16 for _ in range(n)])
        elif dt == "F32":
            data = pack_f32_bits([bits_f32(self.rng.gauss(0, 0.01)) for _ in range(n)])
        else:
            data = bytes(self.rng.getrandbits(8) for _ in range(n))
        self.put(shard, name, dt, shape, data)

    def write(self, root):
        d = os.path.join(root, self.name)
        os.makedirs(d, exist_ok=True)
        q = {"activation_scheme": "dynamic", "fmt": self.fmt, "quant_method": "fp8"}
        if self.scale_fmt:
            q["scale_fmt"] = self.scale_fmt
        q["weight_block_size"] = self.block
        cfg = {"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
               "torch_dtype": "bfloat16", "quantization_config": q}
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        n = len(self.shards)
        wm, total = {}, 0
        for k, sh in enumerate(self.shards):
            fn = f"model-{k + 1:05d}-of-{n:05d}.safetensors" if self.index else "model.safetensors"
            stio.write(os.path.join(d, fn), sh, {"format": "pt"})
            for name, dt, shape, data in sh:
                wm[name] = fn
                total += len(data)
        if self.index:
            with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
                json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(wm.items()))}, f, indent=2)
                f.write("\n")
        return d


# Scales that probe the float32 product and the bfloat16 rounding: powers of two at the
# normal/subnormal boundary, subnormal scales, overflow, signed zero, NaN and infinity.
SPECIAL_SCALES = [
    ("1.0", 0x3F800000),
    ("2^-126 (min normal)", 0x00800000),
    ("2^-130 (subnormal)", 0x00080000),
    ("2^-149 (min subnormal)", 0x00000001),
    ("2^-120", 0x03800000),
    ("1/448", bits_f32(1 / 448)),
    ("2^119", 0x7B000000),
    ("2^120 (448*s overflows f32)", 0x7B800000),
    ("7.589e35 (448*s rounds to bf16 inf)", bits_f32(3.4e38 / 448)),
    ("-1.0", 0xBF800000),
    ("+0.0", 0x00000000),
    ("-0.0", 0x80000000),
    ("qNaN 0x7FC00000", 0x7FC00000),
    ("NaN payload 0xFFA00001 (signalling, negative)", 0xFFA00001),
    ("+inf", 0x7F800000),
    ("0.3 (not a power of two)", bits_f32(0.3)),
]

NAMED_E4M3 = [0x00, 0x80, 0x7F, 0xFF, 0x7E, 0xFE, 0x01, 0x81, 0x07, 0x87, 0x08, 0x88, 0x38, 0xB8,
              0x7D, 0x3F]


def build(root):
    os.makedirs(root, exist_ok=True)
    cases = []

    c = Case("partial-blocks", 101, nshards=3,
             note="sides not multiples of 128 (edge blocks are partial); scales in other shards "
                  "than their weights, before and after them")
    c.rand_weight(0, "blk.w300x200.weight", [300, 200])
    c.rand_weight(0, "blk.w129x257.weight", [129, 257], sshard=1)
    c.rand_weight(0, "blk.w1x130.weight", [1, 130])
    c.rand_weight(1, "blk.w257x1.weight", [257, 1])
    c.rand_weight(2, "blk.w128x384.weight", [128, 384], sshard=0)
    c.plain(0, "embed.weight", "BF16", [10, 16])
    c.plain(1, "norm.weight", "BF16", [16])
    c.plain(2, "gate.e_score_correction_bias", "F32", [8])
    cases.append(c)

    c = Case("scale-bf16", 102, nshards=2, note="scale_inv tensors stored as BF16")
    c.rand_weight(0, "blk.w256x384.weight", [256, 384], sdt="BF16")
    c.rand_weight(1, "blk.w100x130.weight", [100, 130], sdt="BF16")
    c.plain(1, "norm.weight", "BF16", [32])
    cases.append(c)

    c = Case("scale-ue8m0", 103, scale_fmt="ue8m0", nshards=2,
             note="scale_inv tensors stored as F8_E8M0 (2^(e-127); 0xFF is NaN), config scale_fmt ue8m0")
    c.rand_weight(0, "blk.w256x256.weight", [256, 256], sdt="F8_E8M0")
    # every code of an 8-bit weight against the e8m0 extremes: 2^-127, 2^-1, 1, 2^127, NaN
    codes = bytes((i * 37 + j) % 256 for i in range(130) for j in range(640))
    c.rand_weight(1, "blk.w130x640.weight", [130, 640], sdt="F8_E8M0", codes=codes,
                  scales=bytes([0, 126, 127, 254, 255, 120, 130, 127, 0, 127]))
    c.plain(1, "norm.weight", "BF16", [32])
    cases.append(c)

    c = Case("block64", 104, block=(64, 64), nshards=1,
             note="weight_block_size [64, 64]: fp8_cast_bf16.py assumes 128 and reads the wrong scales")
    c.rand_weight(0, "blk.w200x130.weight", [200, 130])
    c.rand_weight(0, "blk.w64x64.weight", [64, 64])
    c.rand_weight(0, "blk.w128x256.weight", [128, 256])
    c.plain(0, "norm.weight", "BF16", [32])
    cases.append(c)

    c = Case("block128x64", 105, block=(128, 64), nshards=1,
             note="weight_block_size [128, 64] (rows, cols): non-square; the Triton kernel cannot do it")
    c.rand_weight(0, "blk.w300x200.weight", [300, 200])
    c.rand_weight(0, "blk.w128x130.weight", [128, 130])
    c.plain(0, "norm.weight", "BF16", [32])
    cases.append(c)

    c = Case("e5m2", 106, fmt="e5m2", nshards=1,
             note="F8_E5M2 weights: every code incl. +-inf (0x7C/0xFC) and NaN (0x7D-0x7F, 0xFD-0xFF)")
    codes = bytes((i + j) % 256 for i in range(256) for j in range(256))
    sc = [s for _, s in SPECIAL_SCALES[:4]]
    c.rand_weight(0, "blk.allcodes.weight", [256, 256], dt="F8_E5M2", codes=codes,
                  scales=pack_f32_bits([0x3F800000, sc[1], sc[2], 0x3A800000]))
    c.rand_weight(0, "blk.w64x200.weight", [64, 200], dt="F8_E5M2")
    c.plain(0, "norm.weight", "BF16", [32])
    cases.append(c)

    c = Case("e4m3-special", 107, nshards=1,
             note="every e4m3 code (NaN 0x7F/0xFF, +-0, subnormals, +-448) against scales that "
                  "probe subnormal products, overflow, signed zero, NaN and inf")
    rows = 128 * len(SPECIAL_SCALES) // 2
    codes = bytes((i * 3 + j) % 256 for i in range(rows) for j in range(256))
    c.rand_weight(0, "blk.allcodes.weight", [rows, 256], codes=codes,
                  scales=pack_f32_bits([s for _, s in SPECIAL_SCALES]))
    named = bytes(NAMED_E4M3[(i * 5 + j) % len(NAMED_E4M3)] for i in range(3) for j in range(131))
    c.rand_weight(0, "blk.named3x131.weight", [3, 131], codes=named,
                  scales=pack_f32_bits([0x3F800000, 0x3E99999A]))
    c.plain(0, "norm.weight", "BF16", [32])
    cases.append(c)

    c = Case("noscale", 108, nshards=2,
             note="an FP8 weight with no scale (upstream warns and copies it unchanged), a U8 tensor "
                  "(1-byte, no scale), an I8 weight that has a scale (upstream dequantizes it), and "
                  "an orphan scale beside a BF16 weight")
    c.put(0, "blk.noscale.weight", "F8_E4M3", [64, 64], bytes(c.rng.choice(E4M3_FINITE) for _ in range(4096)))
    c.plain(0, "mask.u8", "U8", [16])
    c.rand_weight(0, "blk.int8.weight", [64, 160], dt="I8", sshard=1)
    c.plain(1, "blk.orphan.weight", "BF16", [8, 8])
    c.put(1, "blk.orphan.weight_scale_inv", "F32", [1, 1], pack_f32_bits([0x3F800000]))
    c.rand_weight(1, "blk.ok.weight", [130, 70])
    cases.append(c)

    c = Case("fp8-1d", 109, nshards=1,
             note="a 1-D FP8 tensor with a scale: upstream weight_dequant asserts 2-D")
    c.put(0, "blk.vec.weight", "F8_E4M3", [200], bytes(c.rng.choice(E4M3_FINITE) for _ in range(200)))
    c.put(0, "blk.vec.weight_scale_inv", "F32", [2], pack_f32_bits([0x3F800000, 0x3E800000]))
    c.rand_weight(0, "blk.ok.weight", [130, 70])
    cases.append(c)

    c = Case("no-index", 110, nshards=1, index=False,
             note="a single model.safetensors and no index: upstream needs the index")
    c.rand_weight(0, "blk.w130x70.weight", [130, 70])
    cases.append(c)

    notes = {}
    for c in cases:
        c.write(root)
        notes[c.name] = {"note": c.note, "weight_block_size": c.block}
    with open(os.path.join(root, "CASES.json"), "w") as f:
        json.dump(notes, f, indent=1)
        f.write("\n")
    return [c.name for c in cases]


# ---- reading a case back -----------------------------------------------------------------------

def load_case(d):
    """{name: (dtype, shape, bytes, file name)} over every shard of a case directory."""
    out = {}
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".safetensors"):
            _, ts = stio.read(os.path.join(d, fn))
            for k, (dt, sh, data) in ts.items():
                out[k] = (dt, sh, data, fn)
    return out


def dequant_targets(d):
    """The weights a converter dequantizes: 2-D, 1-byte, with a <name>_scale_inv."""
    cfg = json.load(open(os.path.join(d, "config.json")))
    br, bc = cfg["quantization_config"]["weight_block_size"]
    ts = load_case(d)
    res = []
    for k, (dt, sh, data, fn) in sorted(ts.items()):
        if stio.ITEMSIZE[dt] == 1 and not k.endswith("_scale_inv") and k + "_scale_inv" in ts and len(sh) == 2:
            sdt, ssh, sdata, _ = ts[k + "_scale_inv"]
            res.append((k, dt, sh, data, sdt, ssh, sdata, fn, ts[k + "_scale_inv"][3]))
    return (br, bc), res


def check(root):
    """Local self-test: the exact formula on known values."""
    assert e4m3(0x7E) == 448 and e4m3(0xFE) == -448 and e4m3(0x01) == 2.0 ** -9
    assert e4m3(0x08) == 2.0 ** -6 and math.isnan(e4m3(0x7F)) and math.isnan(e4m3(0xFF))
    assert e5m2(0x7B) == 57344 and e5m2(0x7C) == INF and math.isnan(e5m2(0x7D)) and e5m2(0x01) == 2.0 ** -16
    assert bf16_rne(0x3F808000) == 0x3F80 and bf16_rne(0x3F818000) == 0x3F82  # ties to even
    assert bf16_rne(0x7F7FFFFF) == 0x7F80 and bf16_rne(0x00000001) == 0x0000
    assert bf16_rne(0x00018000) == 0x0002 and bf16_rne(f32_bits(-0.0)) == 0x8000
    assert f32_bits(448 * f32_of_bits(0x7B800000)) == 0x7F800000
    assert f32_bits(2.0 ** -150) == 0 and f32_bits(2.0 ** -150 * 1.5) == 1
    names = build(root)
    for n in names:
        d = os.path.join(root, n)
        (br, bc), tg = dequant_targets(d)
        tot = nan = sub = 0
        for k, dt, sh, data, sdt, ssh, sdata, _, _ in tg:
            assert list(ssh) == [-(-sh[0] // br), -(-sh[1] // bc)], (n, k, ssh)
            out = exact_dequant(dt, sh, data, sdt, ssh, sdata, br, bc)
            tot += len(out)
            nan += sum(1 for v in out if v is None)
            sub += sum(1 for v in out if v is not None and (v & 0x7F80) == 0 and (v & 0x7F))
        print(f"{n}: {len(tg)} weights, {tot} values, {nan} NaN, {sub} subnormal")


# ---- the device part ---------------------------------------------------------------------------

def hexs(v):
    return "NaN" if v is None else f"0x{v:04X}"


def classify(v):
    if (v & 0x7F80) == 0x7F80:
        return "nan" if v & 0x7F else "inf"
    if (v & 0x7F80) == 0:
        return "zero" if not (v & 0x7F) else "subnormal"
    return "normal"


def vclass(x):
    if x != x:
        return "nan"
    sign = "-" if math.copysign(1.0, x) < 0 else "+"
    if x in (INF, -INF):
        return sign + "inf"
    if x == 0:
        return sign + "0"
    return sign + ("sub" if abs(x) < 2.0 ** -126 else "fin")


def compare(name, exact, paths, wdata, sdata_bits, shape, ssh, br, bc, wdec, svals):
    """paths: {label: list of bf16 bits or None}. Returns a summary dict."""
    M, N = shape

    def why(i):
        a, b = divmod(i, N)
        w = wdata[i]
        si = (a // br) * ssh[1] + b // bc
        sc = vclass(svals[si])
        if sc == "nan":
            sc = f"nan {sdata_bits[si]}"
        wc = vclass(wdec(w))
        return f"w {wc if wc[1:] in ('0', 'fin', 'sub') else f'0x{w:02X} ({wc})'} x s {sc}"
    res = {"shape": list(shape), "n": M * N}
    ex_nan = [i for i, v in enumerate(exact) if v is None]
    res["exact_nan"] = len(ex_nan)
    res["exact_subnormal"] = sum(1 for v in exact if v is not None and classify(v) == "subnormal")
    for lab, p in paths.items():
        if p is None:
            continue
        r = {}
        diff = [i for i in range(M * N) if exact[i] is not None and p[i] != exact[i]]
        r["differs_from_exact_nonnan"] = len(diff)
        nanpat = {}
        for i in ex_nan:
            key = f"{hexs(p[i])} <- {why(i)}"
            nanpat[key] = nanpat.get(key, 0) + 1
        r["where_exact_is_nan"] = nanpat
        r["nan_outputs_where_exact_finite"] = sum(1 for i in diff if classify(p[i]) == "nan")
        r["flushed_subnormals"] = sum(1 for i in diff if classify(exact[i]) == "subnormal" and classify(p[i]) == "zero")
        ex = []
        for i in diff[:6]:
            a, b = divmod(i, N)
            ex.append({"at": [a, b], "w": f"0x{wdata[i]:02X}",
                       "scale": sdata_bits[(a // br) * ssh[1] + b // bc],
                       "exact": hexs(exact[i]), "got": hexs(p[i])})
        r["examples"] = ex
        res[lab] = r
    labs = [k for k, v in paths.items() if v is not None]
    pair = {}
    for x in range(len(labs)):
        for y in range(x + 1, len(labs)):
            a, b = paths[labs[x]], paths[labs[y]]
            pair[f"{labs[x]} vs {labs[y]}"] = sum(1 for i in range(M * N) if a[i] != b[i])
    res["bitwise_differences"] = pair
    return res


def run_cmd(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    err = "\n".join(l for l in r.stderr.splitlines() if "it/s]" not in l and "s/it]" not in l and "%|" not in l)
    return {"rc": r.returncode, "stdout": r.stdout[-3000:], "stderr": err[-3000:]}


def probes(torch):
    """Bit patterns of NaN and subnormal conversions on this machine's CPU and GPU paths."""
    res = {}
    f32 = torch.tensor([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFFA00001, 0x7FFFFFFF, 0x00000001,
                        0x00018000, 0x807FFFFF], dtype=torch.int64).to(torch.int32).view(torch.float32)
    for n in (1, 8, 9, 16, 17, 64, 65):
        x = f32.repeat(-(-n // 8))[:n].contiguous()
        for dev in ("cpu", "cuda"):
            y = x.to(dev).to(torch.bfloat16).cpu().view(torch.int16).to(torch.int32) & 0xFFFF
            res[f"f32->bf16 {dev} n={n}"] = [f"0x{int(v):04X}" for v in y[:8]]
    codes = torch.tensor([0x7F, 0xFF, 0x01, 0x81, 0x7E], dtype=torch.uint8)
    for dt in ("float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu"):
        if not hasattr(torch, dt):
            continue
        c = codes if dt != "float8_e5m2" else torch.tensor([0x7D, 0x7E, 0x7F, 0xFD, 0xFF, 0x7C, 0x01], dtype=torch.uint8)
        if dt == "float8_e8m0fnu":
            c = torch.tensor([0x00, 0xFF, 0x7F, 0xFE], dtype=torch.uint8)
        for dev in ("cpu", "cuda"):
            try:
                y = c.view(getattr(torch, dt)).to(dev).to(torch.float32).cpu().view(torch.int32)
                res[f"{dt}->f32 {dev}"] = [f"0x{int(v) & 0xFFFFFFFF:08X}" for v in y]
            except Exception as e:  # noqa
                res[f"{dt}->f32 {dev}"] = repr(e)[:200]
    return res


def device(cases_root, up, out_root):
    import torch
    from safetensors.torch import load_file, save_file
    sys.path.insert(0, os.path.abspath(up))
    from kernel import weight_dequant

    report = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}
    try:
        import triton, safetensors
        report.update(triton=triton.__version__, safetensors=safetensors.__version__)
    except Exception as e:  # noqa
        report["import_error"] = repr(e)
    report["probes"] = probes(torch)
    for case in sorted(os.listdir(cases_root)):
        d = os.path.join(cases_root, case)
        if not os.path.isdir(d):
            continue
        print("case", case, flush=True)
        try:
            device_case(report, case, d, out_root, torch, load_file, save_file, weight_dequant, up)
        except Exception:  # noqa
            import traceback
            report.setdefault(case, {})["device_error"] = traceback.format_exc()[-3000:]
            print(report[case]["device_error"], flush=True)
    with open(os.path.join(out_root, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")


def device_case(report, case, d, out_root, torch, load_file, save_file, weight_dequant, up):
    o = os.path.join(out_root, case)
    os.makedirs(o, exist_ok=True)
    rc = report.setdefault(case, {})
    # (i) the upstream script
    rc["fp8_cast_bf16"] = run_cmd([sys.executable, "fp8_cast_bf16.py", "--input-fp8-hf-path",
                                  os.path.abspath(d), "--output-bf16-hf-path",
                                  os.path.abspath(os.path.join(o, "fp8_cast_bf16"))], cwd=up)
    up_out = {}
    ud = os.path.join(o, "fp8_cast_bf16")
    if rc["fp8_cast_bf16"]["rc"] == 0:
        for fn in sorted(os.listdir(ud)):
            if fn.endswith(".safetensors"):
                meta, ts = stio.read(os.path.join(ud, fn))
                for k, v in ts.items():
                    up_out[k] = v
        rc["fp8_cast_bf16_outputs"] = {k: [v[0], list(v[1])] for k, v in sorted(up_out.items())}
    (br, bc), targets = dequant_targets(d)
    ii, iii, iv = {}, {}, {}
    errs = {}
    for k, dt, sh, data, sdt, ssh, sdata, wfile, sfile in targets:
        try:
            w = load_file(os.path.join(d, wfile))[k]
            s = load_file(os.path.join(d, sfile))[k + "_scale_inv"]
        except Exception as e:  # noqa
            errs[f"load {k}"] = repr(e)[:300]
            continue
        M, N = w.shape
        # (iii) plain torch formula on the CPU, (iv) the same on the GPU
        for dev, dst in (("cpu", iii), ("cuda", iv)):
            try:
                sf = s.to(dev).to(torch.float32)
                se = sf.repeat_interleave(br, 0)[:M].repeat_interleave(bc, 1)[:, :N]
                dst[k] = (w.to(dev).to(torch.float32) * se).to(torch.bfloat16).cpu().contiguous()
            except Exception as e:  # noqa
                errs[f"{dev} {k}"] = repr(e)[:300]
        # (ii) the Triton kernel called directly with the case's block (square only)
        if br == bc:
            try:
                torch.set_default_dtype(torch.bfloat16)
                ii[k] = weight_dequant(w.cuda().contiguous(), s.cuda().contiguous(), br).cpu().contiguous()
                torch.cuda.synchronize()
            except Exception as e:  # noqa
                errs[f"triton {k}"] = repr(e)[-600:]
            finally:
                torch.set_default_dtype(torch.float32)
    rc["errors"] = errs
    for lab, dct in (("triton_direct", ii), ("torch_cpu", iii), ("torch_cuda", iv)):
        if dct:
            save_file(dct, os.path.join(o, lab + ".safetensors"))
    # bitwise comparison against the exact formula
    cmp = {}
    got = {lab: (stio.read(os.path.join(o, lab + ".safetensors"))[1] if dct else {})
           for lab, dct in (("triton_direct", ii), ("torch_cpu", iii), ("torch_cuda", iv))}
    for k, dt, sh, data, sdt, ssh, sdata, _, _ in targets:
        exact = exact_dequant(dt, sh, data, sdt, ssh, sdata, br, bc)
        paths = {"fp8_cast_bf16": None, "triton_direct": None, "torch_cpu": None, "torch_cuda": None}
        if k in up_out:
            paths["fp8_cast_bf16"] = list(stio.u16s(up_out[k][2])) if up_out[k][0] == "BF16" else None
            if up_out[k][0] != "BF16":
                rc.setdefault("not_bf16_in_upstream_output", {})[k] = up_out[k][0]
        for lab in ("triton_direct", "torch_cpu", "torch_cuda"):
            if k in got[lab]:
                paths[lab] = list(stio.u16s(got[lab][k][2]))
        sbits = ([f"0x{u:08X}" for u in stio.u32s(sdata)] if sdt == "F32" else
                 [f"0x{u:04X}" for u in stio.u16s(sdata)] if sdt == "BF16" else [f"0x{u:02X}" for u in sdata])
        cmp[k] = compare(k, exact, paths, data, sbits, sh, ssh, br, bc, WDEC[dt], scale_values(sdt, sdata))
    rc["compare"] = cmp
    print(json.dumps({k: v for k, v in rc.items() if k != "compare"}, indent=1)[:4000], flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        print(build(sys.argv[2]))
    elif sys.argv[1] == "check":
        check(sys.argv[2])
    elif sys.argv[1] == "device":
        device(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        raise SystemExit(__doc__)
