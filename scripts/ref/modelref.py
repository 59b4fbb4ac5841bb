#!/usr/bin/env python3
"""Model fixtures: tiny DeepSeek-V3-shaped FP8 checkpoints and what the upstream tools make of them.

Runs on the GPU machine (torch with float8, safetensors, transformers, triton). Uses
shared/tools/refgen.py (directory in $REFGEN_DIR) to build the checkpoint from a spec, then:
  fp8_cast_bf16.py, convert.py (fp8 and bf16 inputs, every mp of the spec; the hard-coded MTP
  layer name model.layers.61 patched to this model's, as refgen does), transformers
  DeepseekV3ForCausalLM in float64 and float32, DeepSeek's model.py in float32 and in float64
  (patched, see dsmodel()), and our own float64 forward pass (dsv3ref.py).
The upstream files are read from $UPSTREAM and never committed.

  modelref.py fixtures OUT SPEC.json...     one fixture per spec under OUT/<name>/
  modelref.py sanity OUT GOLDEN_SUMS GOLDEN_LOGITS SPEC    refgen.py unchanged on tiny-v3, sha256
                                            against the golden SHA256SUMS, and our forward pass
                                            against the golden logits
"""
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.environ.get("REFGEN_DIR", os.path.join(HERE, "..", "..", "..", "shared", "tools")))
import dsv3ref  # noqa: E402

UP = os.path.abspath(os.environ.get("UPSTREAM", ".upstream"))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def run_cmd(cmd, cwd=None):
    t = time.time()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    err = "\n".join(l for l in r.stderr.splitlines() if "it/s]" not in l and "s/it]" not in l and "%|" not in l)
    return {"rc": r.returncode, "seconds": round(time.time() - t, 2), "stdout": r.stdout[-2000:],
            "stderr": err[-2000:]}


def load_dir(d):
    from safetensors.torch import load_file
    W = {}
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".safetensors"):
            W.update(load_file(os.path.join(d, fn)))
    return W


def maxabs(a, b):
    return float((a.double() - b.double()).abs().max())


def dsmodel(mp1_file, cfg, ids, dtype, rotary_factor=None, tag="x"):
    """DeepSeek's model.py on the CPU, all positions, with these source patches (each must apply):
    the router bias for any dim (upstream: only dim 7168), logits at every position (upstream: last
    only), Linear weights in `dtype`; for float64 also the float32 casts removed (rotary tables,
    complex rotation, attention and router softmax); optionally cos/sin scaled by rotary_factor
    (model.py has no mscale/mscale_all_dim rotary factor)."""
    src = open(os.path.join(UP, "model.py")).read()
    dn = {torch.float32: "float32", torch.float64: "float64"}[dtype]
    patches = [("if self.dim == 7168 else None", ""),
               ("h = self.norm(h)[:, -1]", "h = self.norm(h)"),
               ("else torch.bfloat16\n        Linear.scale_fmt", f"else torch.{dn}\n        Linear.scale_fmt")]
    if dtype == torch.float64:
        patches += [("softmax(dim=-1, dtype=torch.float32)", "softmax(dim=-1)"),
                    ("x.float().view(", "x.double().view("),
                    ("dtype=torch.float32)", "dtype=torch.float64)")]
    if rotary_factor is not None:
        patches += [("torch.polar(torch.ones_like(freqs), freqs)",
                     f"torch.polar(torch.ones_like(freqs) * {rotary_factor!r}, freqs)")]
    for a, b in patches:
        if a not in src:
            raise RuntimeError(f"model.py patch does not apply: {a!r}")
        src = src.replace(a, b)
    pdir = os.path.join(os.path.dirname(os.path.abspath(mp1_file)), "_dsmodel")
    os.makedirs(pdir, exist_ok=True)
    path = os.path.join(pdir, f"dsmodel_{tag}.py")
    open(path, "w").write(src)
    sys.path.insert(0, UP)  # kernel.py
    spec = importlib.util.spec_from_file_location(f"dsmodel_{tag}", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    rs = cfg.get("rope_scaling")
    if rs:
        rope = dict(original_seq_len=rs["original_max_position_embeddings"], max_seq_len=4 * rs["original_max_position_embeddings"],
                    rope_factor=rs["factor"], beta_fast=rs["beta_fast"], beta_slow=rs["beta_slow"],
                    mscale=rs.get("mscale_all_dim", rs.get("mscale", 1.0)))
    else:  # YaRN is off in model.py when max_seq_len <= original_seq_len
        rope = dict(original_seq_len=64, max_seq_len=64)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        args = m.ModelArgs(max_batch_size=ids.shape[0], dtype="bf16",
                           vocab_size=cfg["vocab_size"], dim=cfg["hidden_size"], inter_dim=cfg["intermediate_size"],
                           moe_inter_dim=cfg["moe_intermediate_size"], n_layers=cfg["num_hidden_layers"],
                           n_dense_layers=cfg["first_k_dense_replace"], n_heads=cfg["num_attention_heads"],
                           n_routed_experts=cfg["n_routed_experts"], n_shared_experts=cfg["n_shared_experts"],
                           n_activated_experts=cfg["num_experts_per_tok"], n_expert_groups=cfg["n_group"],
                           n_limited_groups=cfg["topk_group"], score_func=cfg["scoring_func"],
                           route_scale=cfg["routed_scaling_factor"], q_lora_rank=cfg["q_lora_rank"] or 0,
                           kv_lora_rank=cfg["kv_lora_rank"], qk_nope_head_dim=cfg["qk_nope_head_dim"],
                           qk_rope_head_dim=cfg["qk_rope_head_dim"], v_head_dim=cfg["v_head_dim"],
                           rope_theta=cfg["rope_theta"], **rope)
        model = m.Transformer(args)
        from safetensors.torch import load_file
        sd = {k: v.to(dtype) if v.dtype == torch.bfloat16 else v for k, v in load_file(mp1_file).items()}
        missing, unexpected = model.load_state_dict(sd, strict=False)
        with torch.no_grad():
            logits = model(ids)
    finally:
        torch.set_default_dtype(old)
        sys.path.remove(UP)
    return logits, sorted(missing), sorted(unexpected)


def cast_vs_exact(src, dst):
    """fp8_cast_bf16 output against the exact formula (fp8cases.exact_dequant), bit for bit."""
    import fp8cases
    import stio
    (br, bc), targets = fp8cases.dequant_targets(src)
    outs = fp8cases.load_case(dst)
    res = {"weights": len(targets), "values": 0, "mismatches": 0, "nan": 0}
    for k, dt, sh, data, sdt, ssh, sdata, _, _ in targets:
        ex = fp8cases.exact_dequant(dt, sh, data, sdt, ssh, sdata, br, bc)
        got = stio.u16s(outs[k][2]) if outs[k][0] == "BF16" else None
        res["values"] += len(ex)
        res["nan"] += sum(1 for v in ex if v is None)
        res["mismatches"] += len(ex) if got is None else sum(1 for a, b in zip(ex, got) if a is not None and a != b)
    return res


def hidden_diffs(a, b):
    return [maxabs(x, y) for x, y in zip(a, b)]


def save_forward(path, ids, logits, hidden, meta):
    from safetensors.torch import save_file
    t = {"input_ids": ids.to(torch.int64).contiguous(), "logits": logits.float().contiguous()}
    for i, h in enumerate(hidden):
        t[f"hidden.{i}"] = h.float().contiguous()
    save_file(t, path, metadata={k: str(v) for k, v in meta.items()})


def fixture(out, spec_path):
    import refgen
    name = os.path.splitext(os.path.basename(spec_path))[0]
    spec = json.load(open(spec_path))
    root = os.path.join(out, name)
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    r = {"spec": spec}
    d, cfg, moved = refgen.make_checkpoint("input", spec, root)
    r["scale_in_other_shard"] = moved
    bf = os.path.join(root, "fp8_cast_bf16")
    r["fp8_cast_bf16"] = run_cmd([sys.executable, "fp8_cast_bf16.py", "--input-fp8-hf-path", os.path.abspath(d),
                                  "--output-bf16-hf-path", os.path.abspath(bf)], cwd=UP)
    try:
        r["fp8_cast_vs_exact"] = cast_vs_exact(d, bf)
    except Exception:  # noqa
        r["fp8_cast_vs_exact_error"] = traceback.format_exc()[-2000:]
    L = cfg["num_hidden_layers"]
    conv = open(os.path.join(UP, "convert.py")).read()
    assert '"model.layers.61"' in conv
    cdir = os.path.join(out, "_convert")
    os.makedirs(cdir, exist_ok=True)
    open(os.path.join(cdir, "convert.py"), "w").write(conv.replace('"model.layers.61"', f'"model.layers.{L}"'))
    for mp in spec["mp"]:
        for src, tag in ((d, "fp8"), (bf, "bf16")):
            dst = os.path.join(root, f"convert_{tag}_mp{mp}")
            r[f"convert_{tag}_mp{mp}"] = run_cmd([sys.executable, os.path.join(cdir, "convert.py"),
                                                  "--hf-ckpt-path", os.path.abspath(src), "--save-path",
                                                  os.path.abspath(dst), "--n-experts", str(cfg["n_routed_experts"]),
                                                  "--model-parallel", str(mp)])
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, cfg["vocab_size"], (2, 24), generator=g)
    fw = os.path.join(root, "forward")
    os.makedirs(fw)
    W = load_dir(bf)
    own, own_h, routes = dsv3ref.forward(W, cfg, ids)
    r["own_routes_layer_expert_counts"] = {str(k): torch.bincount(v.flatten(), minlength=cfg["n_routed_experts"]).tolist()
                                           for k, v in routes.items()}
    save_forward(os.path.join(fw, "own_logits.safetensors"), ids, own, own_h,
                 {"source": "scripts/ref/dsv3ref.py float64 on the CPU from fp8_cast_bf16 output",
                  "dtype": "float64", "scoring_func": cfg["scoring_func"]})
    r["logits_absmax"] = float(own.abs().max())
    cmp = r.setdefault("compare", {})
    hf = {}
    for dt in (torch.float64, torch.float32):
        try:
            hf[dt] = refgen.hf_forward(bf, cfg, ids, dt)
        except Exception:  # noqa
            r[f"hf_{dt}_error"] = traceback.format_exc()[-3000:]
    shutil.rmtree(bf + ".hf", ignore_errors=True)
    if torch.float64 in hf:
        lg, hs = hf[torch.float64]
        save_forward(os.path.join(fw, "hf_logits.safetensors"), ids, lg, hs,
                     {"source": "transformers DeepseekV3ForCausalLM on CPU from fp8_cast_bf16 output",
                      "dtype": "float64"})
        cmp["own_vs_hf64_logits"] = maxabs(own, lg)
        cmp["own_vs_hf64_hidden"] = hidden_diffs(own_h, hs)
        cmp["hf_hidden_count"] = len(hs)
        if torch.float32 in hf:
            cmp["hf32_vs_hf64_logits"] = maxabs(hf[torch.float32][0], lg)
        if cfg["scoring_func"] != "sigmoid":
            own_s, own_sh, _ = dsv3ref.forward(W, cfg, ids, score_func="sigmoid")
            cmp["own_sigmoid_vs_hf64_logits"] = maxabs(own_s, lg)
            cmp["own_sigmoid_vs_hf64_hidden"] = hidden_diffs(own_sh, hs)
    mp1 = os.path.join(root, "convert_bf16_mp1", "model0-mp1.safetensors")
    ds = {}
    variants = [("f32", torch.float32, None), ("f64", torch.float64, None)]
    rs = cfg.get("rope_scaling")
    if rs and rs.get("mscale") and rs.get("mscale_all_dim") and rs["mscale"] != rs["mscale_all_dim"]:
        variants.append(("f64_rotaryfactor", torch.float64, dsv3ref.g(rs["factor"], rs["mscale"]) / dsv3ref.g(rs["factor"], rs["mscale_all_dim"])))
    for tag, dt, rf in variants:
        try:
            lg, miss, unexp = dsmodel(mp1, cfg, ids, dt, rf, tag=f"{os.getpid()}_{tag}")
            ds[tag] = lg
            r[f"dsmodel_{tag}_missing"] = miss
            r[f"dsmodel_{tag}_unexpected"] = unexp[:20]
            cmp[f"dsmodel_{tag}_vs_own_logits"] = maxabs(lg, own)
            if torch.float64 in hf:
                cmp[f"dsmodel_{tag}_vs_hf64_logits"] = maxabs(lg, hf[torch.float64][0])
        except Exception:  # noqa
            r[f"dsmodel_{tag}_error"] = traceback.format_exc()[-3000:]
    shutil.rmtree(os.path.join(root, "convert_bf16_mp1", "_dsmodel"), ignore_errors=True)
    if ds:
        from safetensors.torch import save_file
        save_file({"input_ids": ids.contiguous(), **{f"logits.{k}": v.float().contiguous() for k, v in ds.items()}},
                  os.path.join(fw, "dsmodel_logits.safetensors"),
                  metadata={"source": "DeepSeek inference/model.py on the CPU from convert_bf16_mp1, patched (see modelref.dsmodel)"})
    r["reference"] = ("forward/hf_logits.safetensors" if cfg["scoring_func"] == "sigmoid"
                      else "forward/own_logits.safetensors (transformers ignores scoring_func)")
    sums = []
    for dp, dns, fns in os.walk(root):
        dns.sort()
        for fn in sorted(fns):
            p = os.path.join(dp, fn)
            sums.append(f"{sha256(p)}  {os.path.relpath(p, root)}")
    with open(os.path.join(root, "SHA256SUMS"), "w") as f:
        f.write("\n".join(sums) + "\n")
    with open(os.path.join(root, "report.json"), "w") as f:
        json.dump(r, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in r.items() if k != "spec"}, indent=1), flush=True)
    return r


# Where refgen.py puts what the golden SHA256SUMS names.
GOLDEN_MAP = [("fixtures/tiny-v3/", "tiny-v3/"),
              ("reference/tiny-v3/fp8_cast_bf16/", "tiny-v3.fp8_cast_bf16/"),
              ("reference/tiny-v3/convert_fp8_mp", "tiny-v3.convert-mp"),
              ("reference/tiny-v3/convert_bf16_mp", "tiny-v3.fp8_cast_bf16.convert-mp"),
              ("reference/tiny-v3/forward/hf_logits.safetensors", "tiny-v3.hf-logits.safetensors")]


def sanity(out, golden_sums, golden_logits, spec):
    res = {"refgen": run_cmd([sys.executable, os.path.join(os.environ["REFGEN_DIR"], "refgen.py"), out, spec])}
    print(res["refgen"]["stdout"][-2000:], res["refgen"]["stderr"][-2000:], flush=True)
    gold = {}
    for line in open(golden_sums):
        h, p = line.split()
        gold[p] = h
    got = {}
    for dp, _, fns in os.walk(out):
        for fn in fns:
            rel = os.path.relpath(os.path.join(dp, fn), out)
            for a, b in GOLDEN_MAP:
                if rel.startswith(a):
                    got[b + rel[len(a):]] = sha256(os.path.join(dp, fn))
    res["matched"] = sorted(p for p in gold if got.get(p) == gold[p])
    res["mismatched"] = sorted(p for p in gold if p in got and got[p] != gold[p])
    res["not_made"] = sorted(p for p in gold if p not in got)
    try:
        from safetensors.torch import load_file
        cfg = json.load(open(os.path.join(out, "fixtures", "tiny-v3", "config.json")))
        W = load_dir(os.path.join(out, "reference", "tiny-v3", "fp8_cast_bf16"))
        G = load_file(golden_logits)
        own, own_h, _ = dsv3ref.forward(W, cfg, G["input_ids"])
        res["own_vs_golden_logits"] = maxabs(own, G["logits"])
        res["own_vs_golden_hidden"] = [maxabs(own_h[i], G[f"hidden.{i}"]) for i in range(len(own_h))]
        mp1 = os.path.join(out, "reference", "tiny-v3", "convert_bf16_mp1", "model0-mp1.safetensors")
        for tag, dt in (("f32", torch.float32), ("f64", torch.float64)):
            lg, _, _ = dsmodel(mp1, cfg, G["input_ids"], dt, tag=f"sanity_{tag}")
            res[f"dsmodel_{tag}_vs_golden_logits"] = maxabs(lg, G["logits"])
            res[f"dsmodel_{tag}_vs_own_logits"] = maxabs(lg, own)
    except Exception:  # noqa
        res["forward_error"] = traceback.format_exc()[-3000:]
    print(json.dumps({k: v for k, v in res.items() if k != "matched"}, indent=1), flush=True)
    return res


if __name__ == "__main__":
    if sys.argv[1] == "fixtures":
        rep = {"torch": torch.__version__}
        try:
            import transformers, safetensors, triton
            rep.update(transformers=transformers.__version__, safetensors=safetensors.__version__,
                       triton=triton.__version__, gpu=torch.cuda.get_device_name(0))
        except Exception as e:  # noqa
            rep["import_error"] = repr(e)
        for s in sys.argv[3:]:
            try:
                fixture(sys.argv[2], s)
            except Exception:  # noqa
                rep[s] = traceback.format_exc()[-3000:]
                print(rep[s], flush=True)
        with open(os.path.join(sys.argv[2], "versions.json"), "w") as f:
            json.dump(rep, f, indent=1)
    elif sys.argv[1] == "sanity":
        r = sanity(*sys.argv[2:6])
        with open(os.path.join(sys.argv[2], "sanity.json"), "w") as f:
            json.dump(r, f, indent=1)
    else:
        raise SystemExit(__doc__)
