#!/usr/bin/env python3
"""fixtures/ref/{v31,v32,kimi}: what the upstream tools make of tiny DeepSeek-V3.1, V3.2 and
Kimi-K2 checkpoints (made by scripts/ref/v3x-inputs.sh, with ckpt-synth, on the machine that
runs the tests; carried here).

Runs on the GPU machine (torch with float8, safetensors, transformers, triton). Upstream files,
never committed: $UPSTREAM (DeepSeek-V3 inference/ at 9b4e978: fp8_cast_bf16.py, kernel.py,
convert.py) and $UPSTREAM32 (DeepSeek-V3.2-Exp inference/convert.py).

  [V3X_STEPS=main|convert] v3xref.py OUT INPUTS NAME...

For each NAME (INPUTS/NAME is its FP8 checkpoint), under OUT/NAME:
  input/            the checkpoint as given
  fp8_cast_bf16/    V3's fp8_cast_bf16.py
  convert_{fp8,bf16}_mp{1,2}/   convert.py (V3.2-Exp's for deepseek_v32, else V3's) on the
                    FP8 input and on fp8_cast_bf16's output; its hard-coded MTP layer name
                    "model.layers.61" is replaced by this model's, as for fixtures/ref/partial
  forward/hf_logits.safetensors   transformers DeepseekV3ForCausalLM, float64 on the CPU, on
                    fp8_cast_bf16's output without the indexer tensors (config.json as
                    DeepSeek-V3's: model_type deepseek_v3, no index_* keys, no auto_map):
                    input_ids [2,S] (seed 1234; S = index_topk for V3.2, else 8), logits and
                    hidden states, stored as F32
  forward/own_logits.safetensors  scripts/ref/dsv3ref.py (float64) on the same weights
  SHA256SUMS        every file made; tensors.json: sha256 of every tensor's bytes of every
                    safetensors file made (to find which tensor differs); report.json
"""
import json
import os
import shutil
import sys
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dsv3ref  # noqa: E402
from modelref import hidden_diffs, load_dir, maxabs, run_cmd, save_forward, sha256  # noqa: E402

UP = os.path.abspath(os.environ.get("UPSTREAM", ".dev/up"))
UP32 = os.path.abspath(os.environ.get("UPSTREAM32", ".dev/up32"))
INDEX_KEYS = ("index_n_heads", "index_head_dim", "index_topk")


def is_indexer(name):
    return ".self_attn.indexer." in name


def hf_dir_as_v3(bf16_dir, cfg, tmp):
    """A copy of an HF BF16 directory that transformers' DeepSeek-V3 loads: the indexer tensors
    left out (shards and index), metadata {"format": "pt"}, config.json as V3's."""
    from safetensors.torch import load_file, save_file
    os.makedirs(tmp, exist_ok=True)
    dropped = []
    for f in sorted(os.listdir(bf16_dir)):
        if f.endswith(".safetensors"):
            t = load_file(os.path.join(bf16_dir, f))
            dropped += [k for k in t if is_indexer(k)]
            save_file({k: v for k, v in t.items() if not is_indexer(k)}, os.path.join(tmp, f), metadata={"format": "pt"})
    idx = json.load(open(os.path.join(bf16_dir, "model.safetensors.index.json")))
    idx["weight_map"] = {k: v for k, v in idx["weight_map"].items() if not is_indexer(k)}
    json.dump(idx, open(os.path.join(tmp, "model.safetensors.index.json"), "w"))
    c = {k: v for k, v in cfg.items() if k not in INDEX_KEYS + ("quantization_config", "auto_map")}
    c["model_type"] = "deepseek_v3"
    c["architectures"] = ["DeepseekV3ForCausalLM"]
    json.dump(c, open(os.path.join(tmp, "config.json"), "w"))
    return sorted(dropped)


def hf_forward(d, ids, dtype):
    from transformers import AutoModelForCausalLM
    try:
        model = AutoModelForCausalLM.from_pretrained(d, dtype=dtype, experts_implementation="eager")
    except Exception:  # noqa: a transformers without that switch
        model = AutoModelForCausalLM.from_pretrained(d, dtype=dtype)
    model.eval()
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    return out.logits.float(), [h.float() for h in out.hidden_states], type(model).__name__


def tensor_sums(path, headers):
    """sha256 of each tensor's bytes, from the header (no torch: any dtype); the header's text
    goes into headers."""
    import hashlib
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        raw = f.read(n)
        headers[path] = raw.decode()
        h = json.loads(raw)
        base = 8 + n
        out = {}
        for k, v in h.items():
            if k == "__metadata__":
                continue
            a, b = v["data_offsets"]
            f.seek(base + a)
            out[k] = [v["dtype"], v["shape"], hashlib.sha256(f.read(b - a)).hexdigest()]
    return out


def finish(out, root, name, r):
    sums, tens, heads = [], {}, {}
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for fn in sorted(fns):
            p = os.path.join(dp, fn)
            rel = os.path.relpath(p, root)
            sums.append(f"{sha256(p)}  {rel}")
            if fn.endswith(".safetensors") and not rel.startswith("forward/"):
                tens[rel] = tensor_sums(p, heads)
    with open(os.path.join(root, "SHA256SUMS"), "w") as f:
        f.write("\n".join(sums) + "\n")
    with open(os.path.join(root, "tensors.json"), "w") as f:
        json.dump(tens, f, indent=0, sort_keys=True)
        f.write("\n")
    with open(os.path.join(out, name + "-headers.json"), "w") as f:
        json.dump({os.path.relpath(k, root): v for k, v in heads.items()}, f, indent=0)
    with open(os.path.join(root, "report.json"), "w") as f:
        json.dump(r, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in r.items() if k != "hf_dropped_tensors"}, indent=1)[-6000:], flush=True)


def convert(out, root, name, cfg, r):
    d = os.path.join(root, "input")
    bf = os.path.join(root, "fp8_cast_bf16")
    L = cfg["num_hidden_layers"]
    v32 = cfg.get("model_type") == "deepseek_v32"
    src_conv = os.path.join(UP32 if v32 else UP, "convert.py")
    conv = open(src_conv).read()
    assert '"model.layers.61"' in conv
    r["convert_py_sha256"] = sha256(src_conv)
    cdir = os.path.join(out, "_convert_" + name)
    os.makedirs(cdir, exist_ok=True)
    open(os.path.join(cdir, "convert.py"), "w").write(conv.replace('"model.layers.61"', f'"model.layers.{L}"'))
    for mp in (1, 2):
        for src, tag in ((d, "fp8"), (bf, "bf16")):
            dst = os.path.join(root, f"convert_{tag}_mp{mp}")
            r[f"convert_{tag}_mp{mp}"] = run_cmd([sys.executable, os.path.join(cdir, "convert.py"), "--hf-ckpt-path", src,
                                                  "--save-path", dst, "--n-experts", str(cfg["n_routed_experts"]),
                                                  "--model-parallel", str(mp)])
            print(name, tag, mp, "convert rc", r[f"convert_{tag}_mp{mp}"]["rc"], flush=True)


def fixture(out, inputs, name, steps):
    """steps: "all", or "main" (no convert.py for V3.1 and Kimi-K2, which the issue does not
    ask for: done last, as "convert", on the same directory, while device time lasts)."""
    root = os.path.join(out, name)
    d = os.path.join(root, "input")
    bf = os.path.join(root, "fp8_cast_bf16")
    if steps == "convert":
        r = json.load(open(os.path.join(root, "report.json")))
        cfg = json.load(open(os.path.join(d, "config.json")))
        convert(out, root, name, cfg, r)
        finish(out, root, name, r)
        return
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(os.path.join(inputs, name), d)
    cfg = json.load(open(os.path.join(d, "config.json")))
    r = {"name": name, "model_type": cfg.get("model_type")}
    r["fp8_cast_bf16"] = run_cmd([sys.executable, "fp8_cast_bf16.py", "--input-fp8-hf-path", d,
                                  "--output-bf16-hf-path", bf], cwd=UP)
    print(name, "fp8_cast_bf16 rc", r["fp8_cast_bf16"]["rc"], flush=True)
    v32 = cfg.get("model_type") == "deepseek_v32"
    if v32 or steps == "all":
        convert(out, root, name, cfg, r)
    S = cfg["index_topk"] if v32 else 8
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, cfg["vocab_size"], (2, S), generator=g)
    fw = os.path.join(root, "forward")
    os.makedirs(fw)
    cmp = r.setdefault("compare", {})
    try:
        W = {k: v for k, v in load_dir(bf).items() if not is_indexer(k)}
        own, own_h, _ = dsv3ref.forward(W, cfg, ids)
        save_forward(os.path.join(fw, "own_logits.safetensors"), ids, own, own_h,
                     {"source": "scripts/ref/dsv3ref.py float64 on the CPU from fp8_cast_bf16 output, indexer unused"})
        r["logits_absmax"] = float(own.abs().max())
    except Exception:  # noqa
        r["own_error"] = traceback.format_exc()[-3000:]
        own = None
    tmp = os.path.join(out, "_hf_" + name)
    try:
        r["hf_dropped_tensors"] = hf_dir_as_v3(bf, cfg, tmp)
        lg, hs, cls = hf_forward(tmp, ids, torch.float64)
        r["hf_class"] = cls
        save_forward(os.path.join(fw, "hf_logits.safetensors"), ids, lg, hs,
                     {"source": "transformers DeepseekV3ForCausalLM float64 on the CPU from fp8_cast_bf16 output without the indexer"})
        if own is not None:
            cmp["own_vs_hf64_logits"] = maxabs(own, lg)
            cmp["own_vs_hf64_hidden"] = hidden_diffs(own_h, hs)
        try:
            lg32, _, _ = hf_forward(tmp, ids, torch.float32)
            cmp["hf32_vs_hf64_logits"] = maxabs(lg32, lg)
        except Exception:  # noqa
            r["hf32_error"] = traceback.format_exc()[-2000:]
    except Exception:  # noqa
        r["hf_error"] = traceback.format_exc()[-3000:]
    if v32:  # transformers' own V3.2 model, where it has one (information only)
        try:
            import transformers
            r["transformers_has_deepseek_v32"] = hasattr(transformers, "DeepseekV32ForCausalLM")
        except Exception:  # noqa
            r["transformers_has_deepseek_v32"] = repr(sys.exc_info()[1])
    finish(out, root, name, r)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    out, inputs = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    vers = {"torch": torch.__version__}
    try:
        import safetensors
        import transformers
        import triton
        vers.update(transformers=transformers.__version__, safetensors=safetensors.__version__,
                    triton=triton.__version__, gpu=torch.cuda.get_device_name(0))
    except Exception as e:  # noqa
        vers["import_error"] = repr(e)
    print(vers, flush=True)
    for n in sys.argv[3:]:
        try:
            fixture(out, inputs, n, os.environ.get("V3X_STEPS", "all"))
        except Exception:  # noqa
            vers[n] = traceback.format_exc()[-3000:]
            print(vers[n], flush=True)
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump(vers, f, indent=1)
        f.write("\n")
