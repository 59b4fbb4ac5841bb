#!/usr/bin/env python3
"""Do the checkpoints ckpt writes load in transformers, and compute what they should?

  loadpair.py OUT.json same NAME DIR REF_LOGITS   float64 on the CPU; logits against a
                                                   committed reference (its input_ids)
  loadpair.py OUT.json pair NAME DIR BASE_DIR     both loaded as their config says (an FP8
                                                   quantization_config: transformers' FP8
                                                   path on the GPU), the same input_ids; the
                                                   logits of DIR against those of BASE_DIR
Several checks may follow one another on one command line; each writes its entry into
OUT.json (load report, class, max abs difference), and an error is recorded, not raised.
"""
import json
import sys
import traceback

import torch


def load(d, dtype, device):
    from transformers import AutoModelForCausalLM
    kw = {"dtype": dtype}
    if device != "cpu":
        kw["device_map"] = device
    try:
        m = AutoModelForCausalLM.from_pretrained(d, experts_implementation="eager", **kw)
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(d, **kw)
    return m.eval()


def logits(m, ids):
    with torch.no_grad():
        return m(input_ids=ids.to(m.device)).logits.double().cpu()


def main():
    out, args, res = sys.argv[1], sys.argv[2:], {}
    while args:
        kind, name, d, ref = args[:4]
        args = args[4:]
        r = res.setdefault(name, {"dir": d, "kind": kind})
        try:
            if kind == "same":
                from safetensors.torch import load_file
                t = load_file(ref)
                m = load(d, torch.float64, "cpu")
                r["class"] = type(m).__name__
                r["max_abs_vs_reference"] = float((logits(m, t["input_ids"]) - t["logits"].double()).abs().max())
            else:
                ids = torch.randint(0, 256, (2, 8), generator=torch.Generator().manual_seed(1234))
                m = load(d, torch.bfloat16, "cuda")
                r["class"] = type(m).__name__
                r["quantization"] = str(getattr(m.config, "quantization_config", None))[:300]
                a = logits(m, ids)
                b = logits(load(ref, torch.bfloat16, "cuda"), ids)
                r["max_abs_vs_base"] = float((a - b).abs().max())
                r["logits_absmax"] = float(b.abs().max())
        except Exception:  # noqa
            r["error"] = traceback.format_exc()[-3000:]
        print(name, json.dumps(r, indent=1)[-2500:], flush=True)
    json.dump(res, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
