# Is transformers' float64 CPU forward bit-reproducible? Same machine twice, thread counts, vs committed data.
import json, os, shutil, sys, torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import refgen
from safetensors.torch import load_file
res = {"threads": torch.get_num_threads()}
def cmp(a, b):
    return {"maxabs": float((a.double() - b.double()).abs().max()), "unequal_f32": int((a != b).sum()), "n": a.numel()}
for tag, bf, cfgp, ref in (("tiny-v3", ".dev/golden/bf16", ".dev/golden/config.json", ".dev/golden/tiny-v3.hf-logits.safetensors"),
                           ("partial", ".dev/r2/partial", ".dev/r2/config.json", ".dev/r2/hf_logits.safetensors")):
    cfg = json.load(open(cfgp)); R = load_file(ref); ids = R["input_ids"]
    runs = []
    for nt in (torch.get_num_threads(), torch.get_num_threads(), 1):
        torch.set_num_threads(nt)
        lg, hs = refgen.hf_forward(os.path.abspath(bf), cfg, ids, torch.float64)
        shutil.rmtree(os.path.abspath(bf) + ".hf", ignore_errors=True)
        runs.append((nt, lg, hs))
    torch.set_num_threads(res["threads"])
    res[tag] = {f"run{i} threads={nt} vs committed logits": cmp(lg, R["logits"]) for i, (nt, lg, hs) in enumerate(runs)}
    res[tag].update({f"run{i} threads={nt} vs committed hidden.{j}": cmp(h, R[f"hidden.{j}"]) for i, (nt, lg, hs) in enumerate(runs) for j, h in enumerate(hs)})
    res[tag]["run0 vs run1"] = cmp(runs[0][1], runs[1][1]); res[tag]["run0 vs run2 (1 thread)"] = cmp(runs[0][1], runs[2][1])
print(json.dumps(res, indent=1))
json.dump(res, open(os.path.join(os.environ["OUT"], "hfrepro.json"), "w"), indent=1)
