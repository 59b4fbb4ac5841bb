#!/usr/bin/env python3
"""fixtures/ref/v4: what V4-Flash's official convert.py and transformers' dequantization make
of a small DeepSeek-V4 checkpoint (fixtures/specs/ref-v4.json, written by ckpt-synth on the
machine that runs the tests and carried here: the same bytes everywhere).

Runs on the GPU machine (torch with float8_e8m0fnu and float4_e2m1fn_x2, safetensors,
transformers). Upstream file, never committed: $UPSTREAM4/convert.py, inference/convert.py of
Mockingjay1316/deepseek-v4-flash-spark at 0825add (V4-Flash's, byte-identical to the hub's).

  v4ref.py OUT INPUT

Under OUT/v4:
  convert_mp{1,2,4,8}_{fp4,fp8}/  convert.py --n-experts E --model-parallel N [--expert-dtype fp8]
  dequant.json       for every FP8 and FP4 weight of INPUT, the sha256 of its BF16 values
                     (row-major, the logical shape) by DeepSeek's formula (FP4 code 8 = +0),
                     by transformers' Fp8Dequantize (code 8 = -0) where this transformers has
                     it, and the number of elements where the two differ
  SHA256SUMS         every file made; tensors.json: sha256 of every tensor's bytes;
  report.json        versions, what ran, what failed
"""
import hashlib
import inspect
import json
import os
import subprocess
import sys
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from v3xref import tensor_sums  # noqa: E402
from modelref import sha256  # noqa: E402

UP4 = os.path.abspath(os.environ.get("UPSTREAM4", ".dev/up4"))

FP4_DEEPSEEK = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                             0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0], dtype=torch.float32)


def bytes_sha(t):
    return hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


def deepseek_bf16(w, s):
    """DeepSeek's table (+0 at code 8); block shape from the scale grid."""
    sf = s.float()
    if w.dtype in (torch.int8, torch.uint8):
        u = w.view(torch.uint8)
        lo, hi = (u & 15).long(), (u >> 4).long()
        q = torch.stack([FP4_DEEPSEEK[lo], FP4_DEEPSEEK[hi]], dim=-1).reshape(u.shape[0], -1)
    else:
        q = w.float()
    R, C = q.shape
    bm, bn = R // sf.shape[0], C // sf.shape[1]
    return (q.reshape(sf.shape[0], bm, sf.shape[1], bn) * sf[:, None, :, None]).reshape(R, C).to(torch.bfloat16)


def transformers_deq():
    """transformers' per-tensor dequantizer, if this version has one: (callable, source)."""
    try:
        from transformers.integrations import finegrained_fp8 as m
    except Exception as e:  # noqa
        return None, f"no finegrained_fp8: {e}"
    cls = getattr(m, "Fp8Dequantize", None)
    if cls is None:
        return None, "no Fp8Dequantize in " + ", ".join(n for n in dir(m) if "equant" in n)
    fn = getattr(cls, "_dequantize_one", None)
    src = ""
    try:
        src = inspect.getsource(cls)
    except Exception:  # noqa
        pass
    if fn is None:
        return None, "Fp8Dequantize has no _dequantize_one\n" + src
    sig = inspect.signature(fn)
    params = list(sig.parameters)

    def call(w, s):
        if params and params[0] == "self":
            try:
                obj = cls.__new__(cls)
            except Exception:  # noqa
                obj = None
            return fn(obj, w, s)
        return fn(w, s)
    return call, f"signature {sig}\n" + src


def dequant_refs(inp, r):
    from safetensors import safe_open
    call, src = transformers_deq()
    r["transformers_dequant"] = src[:20000]
    out = {}
    for fn in sorted(os.listdir(inp)):
        if not fn.endswith(".safetensors"):
            continue
        with safe_open(os.path.join(inp, fn), framework="pt", device="cpu") as f:
            keys = set(f.keys())
            for k in sorted(keys):
                if not k.endswith(".weight") or k[:-len(".weight")] + ".scale" not in keys:
                    continue
                w = f.get_tensor(k)
                s = f.get_tensor(k[:-len(".weight")] + ".scale")
                e = {"dtype": str(w.dtype), "scale_dtype": str(s.dtype)}
                d = deepseek_bf16(w, s)
                e["shape"] = list(d.shape)
                e["deepseek"] = bytes_sha(d)
                if call is not None:
                    try:
                        t = call(w, s)
                        e["transformers_dtype"] = str(t.dtype)
                        t = t.to(torch.bfloat16).reshape(d.shape)
                        e["transformers"] = bytes_sha(t)
                        e["differ"] = int((t.view(torch.int16) != d.view(torch.int16)).sum())
                        e["differ_not_zero_sign"] = int(((t.view(torch.int16) != d.view(torch.int16)) &
                                                         ~((t == 0) & (d == 0))).sum())
                    except Exception as x:  # noqa
                        e["transformers_error"] = repr(x)[:400]
                out[k] = e
    return out


def probe_transformers(r):
    try:
        import transformers
        r["transformers"] = transformers.__version__
        from transformers import CONFIG_MAPPING
        r["has_deepseek_v4"] = "deepseek_v4" in CONFIG_MAPPING
        r["has_deepseek_v32"] = "deepseek_v32" in CONFIG_MAPPING
    except Exception as e:  # noqa
        r["transformers_error"] = repr(e)


def main():
    out, inp = sys.argv[1], os.path.abspath(sys.argv[2])
    root = os.path.join(out, "v4")
    os.makedirs(root, exist_ok=True)
    cfg = json.load(open(os.path.join(inp, "config.json")))
    r = {"torch": torch.__version__, "convert_py_sha256": sha256(os.path.join(UP4, "convert.py")),
         "input": {f: sha256(os.path.join(inp, f)) for f in sorted(os.listdir(inp))}, "runs": {}}
    probe_transformers(r)
    E = cfg["n_routed_experts"]
    for mp in (1, 2, 4, 8):
        for dt in ("fp4", "fp8"):
            name = f"convert_mp{mp}_{dt}"
            cmd = [sys.executable, os.path.join(UP4, "convert.py"), "--hf-ckpt-path", inp,
                   "--save-path", os.path.join(root, name), "--n-experts", str(E),
                   "--model-parallel", str(mp)] + (["--expert-dtype", "fp8"] if dt == "fp8" else [])
            p = subprocess.run(cmd, capture_output=True, text=True)
            r["runs"][name] = {"rc": p.returncode, "stderr_tail": p.stderr[-1500:]}
            print(name, p.returncode, flush=True)
    try:
        d = dequant_refs(inp, r)
        json.dump(d, open(os.path.join(root, "dequant.json"), "w"), indent=0, sort_keys=True)
        r["dequant_tensors"] = len(d)
        r["dequant_differ_total"] = sum(e.get("differ", 0) for e in d.values())
        r["dequant_differ_not_zero_sign"] = sum(e.get("differ_not_zero_sign", 0) for e in d.values())
    except Exception:  # noqa
        r["dequant_error"] = traceback.format_exc()[-3000:]
    sums, tens, heads = [], {}, {}
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for fn in sorted(fns):
            p = os.path.join(dp, fn)
            rel = os.path.relpath(p, root)
            sums.append(f"{sha256(p)}  {rel}")
            if fn.endswith(".safetensors"):
                tens[rel] = tensor_sums(p, heads)
    open(os.path.join(root, "SHA256SUMS"), "w").write("\n".join(sums) + "\n")
    json.dump(tens, open(os.path.join(root, "tensors.json"), "w"), indent=0, sort_keys=True)
    json.dump({os.path.relpath(k, root): v for k, v in heads.items()},
              open(os.path.join(out, "v4-headers.json"), "w"), indent=0)
    json.dump(r, open(os.path.join(root, "report.json"), "w"), indent=1)
    print(json.dumps({k: v for k, v in r.items() if k != "transformers_dequant"}, indent=1)[-5000:])
    print(r.get("transformers_dequant", "")[:3000])


if __name__ == "__main__":
    main()
