#!/usr/bin/env python3
"""Checks ckpt-fp8-to-bf16's output on a DeepSeek-V4 checkpoint value by value, with
arithmetic of its own (no numpy, nothing of ckpt's): tests/cli/v4-bf16.sh.

  v4-bf16.py check IN OUT TABLE   TABLE deepseek (FP4 code 8 = +0) or transformers (-0)
  v4-bf16.py ref OUT JSON KEY     every tensor JSON (fixtures/ref/v4/dequant.json) names has
                                  the sha256 JSON gives under KEY ("deepseek", "transformers")
  v4-bf16.py f4 IN OUT            IN's FP4 experts as safetensors F4 ([out, in], the same
                                  bytes) rather than I8 [out, in/2], into OUT (a copy)

check: every weight of IN with a ".scale" is in OUT as BF16 of its logical shape, each value
bf16_rne(decode(code) * 2^(scale - 127)), NaN as 0x7FFF; every other tensor of IN (no
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


def expected(wdt, wshape, w, s, sshape, table):
    """The BF16 values of a weight with its scale, row-major, and what code 8 became."""
    R = wshape[0]
    packed = wdt in ("I8", "U8", "F4")
    C = wshape[1] * (2 if wdt in ("I8", "U8") else 1)
    sr, sc = sshape
    bm, bn = -(-R // sr), -(-C // sc)
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
            want, c8 = expected(wdt, wshape, w, s, sshape, table)
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


if __name__ == "__main__":
    {"check": check, "ref": ref, "f4": f4}[sys.argv[1]](*sys.argv[2:])
