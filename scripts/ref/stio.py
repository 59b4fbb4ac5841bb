"""Minimal safetensors reader/writer in pure Python (no torch), for the reference scripts.

Writes the layout the safetensors library writes (tensors sorted by element size, widest
first, then by name; compact JSON header padded with spaces to a multiple of 8 bytes;
__metadata__ first) so the inputs we make look like real checkpoint shards.
"""
import json
import struct

ITEMSIZE = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "BF16": 2, "F16": 2,
            "I16": 2, "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "U8": 1, "I8": 1,
            "BOOL": 1}


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def write(path, tensors, metadata=None):
    """tensors: list of (name, dtype, shape, data bytes)."""
    order = sorted(tensors, key=lambda t: (-ITEMSIZE[t[1]], t[0]))
    hdr = {}
    if metadata is not None:
        hdr["__metadata__"] = metadata
    off = 0
    for name, dt, shape, data in order:
        assert len(data) == numel(shape) * ITEMSIZE[dt], (name, dt, shape, len(data))
        hdr[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, data in order:
            f.write(data)


def read(path):
    """Returns (metadata, {name: (dtype, shape, bytes)})."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    meta = hdr.pop("__metadata__", None)
    base = 8 + n
    out = {}
    for name, t in hdr.items():
        a, b = t["data_offsets"]
        out[name] = (t["dtype"], tuple(t["shape"]), raw[base + a:base + b])
    return meta, out


def u16s(data):
    return struct.unpack("<%dH" % (len(data) // 2), data)


def u32s(data):
    return struct.unpack("<%dI" % (len(data) // 4), data)
