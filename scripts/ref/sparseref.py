#!/usr/bin/env python3
"""fixtures/ref/{v32-sparse,v4-forward}: transformers' own DeepSeek-V3.2 and DeepSeek-V4 models,
float64, on sequences past index_topk (V3.2) and past the sliding window and a ratio-128
compression (V4), for the sparse-attention forward pass (issue 19).

Runs on the GPU machine (torch, safetensors, transformers with deepseek_v32 and deepseek_v4).
Inputs, made on the machine that runs the tests (same bytes everywhere): INPUTS/v32 (the BF16
of fixtures/specs/fwd-v32.json by ckpt-fp8-to-bf16) and INPUTS/v4 (fixtures/specs/fwd-v4.json
by ckpt-synth, FP8/FP4: dequantized here by DeepSeek's formula, code 8 = +0, which only the
sign of a zero separates from transformers').

  sparseref.py OUT INPUTS

Under OUT/NAME: forward/hf_logits.safetensors (input_ids, logits, hidden.*, F32), report.json
(load report, module tree, the attention/indexer classes' source for reading, errors), and
for V3.2 forward/topk.safetensors: each indexer's output (the positions it picked) where a hook
can see it.
"""
import inspect
import json
import os
import sys
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from modelref import save_forward  # noqa: E402
from v4ref import deepseek_bf16  # noqa: E402


def classes_source(model, words, limit=60000):
    seen, out = set(), []
    for _, m in model.named_modules():
        c = type(m)
        if c in seen or not any(w in c.__name__.lower() for w in words):
            continue
        seen.add(c)
        try:
            out.append(f"# {c.__module__}.{c.__name__}\n" + inspect.getsource(c))
        except Exception:  # noqa
            pass
    return "\n".join(out)[:limit]


def load(d, dtype):
    from transformers import AutoModelForCausalLM
    try:
        m = AutoModelForCausalLM.from_pretrained(d, dtype=dtype, experts_implementation="eager")
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(d, dtype=dtype)
    return m.eval()


def run(name, d, S, out, r, hooks_on=()):
    root = os.path.join(out, name)
    fw = os.path.join(root, "forward")
    os.makedirs(fw, exist_ok=True)
    cfg = json.load(open(os.path.join(d, "config.json")))
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, cfg["vocab_size"], (2, S), generator=g)
    model = load(d, torch.float64)
    r["class"] = type(model).__name__
    r["modules"] = sorted({type(m).__name__ for _, m in model.named_modules()})
    r["state_dict_sample"] = list(model.state_dict().keys())[:80]
    r["source"] = classes_source(model, ("attention", "indexer", "compressor", "hyper", "mhc", "moe", "router", "gate"))
    picked = {}
    hs = []
    for n, m in model.named_modules():
        if any(w in type(m).__name__.lower() for w in hooks_on):
            def hook(mod, args, res, n=n):
                t = res[0] if isinstance(res, (tuple, list)) else res
                if torch.is_tensor(t):
                    picked[n] = t.detach().cpu()
            hs.append(m.register_forward_hook(hook))
    with torch.no_grad():
        o = model(input_ids=ids, output_hidden_states=True)
    for h in hs:
        h.remove()
    save_forward(os.path.join(fw, "hf_logits.safetensors"), ids, o.logits, list(o.hidden_states or []),
                 {"source": f"transformers {r['class']} float64, seed 1234, S {S}"})
    r["logits_absmax"] = float(o.logits.abs().max())
    r["hidden_states"] = len(o.hidden_states or [])
    if picked:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in picked.items()}, os.path.join(fw, "topk.safetensors"))
        r["hooked"] = {k: [str(v.dtype), list(v.shape)] for k, v in picked.items()}
    try:  # float32 against float64: how far the reference's own precision goes
        m32 = load(d, torch.float32)
        with torch.no_grad():
            o32 = m32(input_ids=ids)
        r["hf32_vs_hf64_logits"] = float((o32.logits.double() - o.logits).abs().max())
    except Exception:  # noqa
        r["hf32_error"] = traceback.format_exc()[-2000:]


def v4_bf16(src, dst):
    """The V4 checkpoint with every FP8/FP4 weight dequantized to BF16 and its scale dropped."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    os.makedirs(dst, exist_ok=True)
    wm = {}
    for fn in sorted(os.listdir(src)):
        p = os.path.join(src, fn)
        if fn.endswith(".safetensors"):
            t = {}
            with safe_open(p, framework="pt", device="cpu") as f:
                keys = set(f.keys())
                for k in sorted(keys):
                    if k.endswith(".scale") and k[:-6] + ".weight" in keys:
                        continue
                    v = f.get_tensor(k)
                    if k.endswith(".weight") and k[:-7] + ".scale" in keys:
                        v = deepseek_bf16(v, f.get_tensor(k[:-7] + ".scale"))
                    t[k] = v
            save_file(t, os.path.join(dst, fn), metadata={"format": "pt"})
            wm.update({k: fn for k in t})
        elif fn == "config.json":
            c = json.load(open(p))
            c.pop("quantization_config", None)
            c.pop("expert_dtype", None)
            c["torch_dtype"] = "bfloat16"
            json.dump(c, open(os.path.join(dst, fn), "w"), indent=1)
        elif fn != "model.safetensors.index.json" and os.path.isfile(p):
            open(os.path.join(dst, fn), "wb").write(open(p, "rb").read())
    json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(dst, "model.safetensors.index.json"), "w"))


def main():
    out, inputs = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    import transformers
    rep = {"torch": torch.__version__, "transformers": transformers.__version__}
    for name, fn in (("v32-sparse", lambda r: run("v32-sparse", os.path.join(inputs, "v32"), 24, out, r, ("indexer",))),
                     ("v4-forward", lambda r: (v4_bf16(os.path.join(inputs, "v4"), os.path.join(out, "_v4bf16")),
                                               run("v4-forward", os.path.join(out, "_v4bf16"), 160, out, r,
                                                   ("indexer",))))):
        r = rep.setdefault(name, {})
        try:
            fn(r)
        except Exception:  # noqa
            r["error"] = traceback.format_exc()[-4000:]
        os.makedirs(os.path.join(out, name), exist_ok=True)
        json.dump(r, open(os.path.join(out, name, "report.json"), "w"), indent=1)
        print(name, json.dumps({k: v for k, v in r.items() if k not in ("source", "state_dict_sample")}, indent=1)[-3000:],
              flush=True)


if __name__ == "__main__":
    main()
