# Do the files ckpt writes load in the Python libraries?  safetensors for every shard,
# transformers (float64, CPU) for the BF16 conversions, compared with the references.
import glob, json, os, sys, torch
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
import transformers, safetensors
R = {"torch": torch.__version__, "transformers": transformers.__version__, "safetensors": safetensors.__version__}
root = sys.argv[1]
files = sorted(glob.glob(os.path.join(root, "**", "*.safetensors"), recursive=True))
R["safetensors_loaded"] = {}
for f in files:
    t = load_file(f)
    with safe_open(f, framework="pt") as h:
        meta = h.metadata()
    R["safetensors_loaded"][os.path.relpath(f, root)] = {"tensors": len(t), "metadata": meta}
def fwd(model_dir, ref_file):
    ref = load_file(ref_file)
    m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64, experts_implementation="eager")
    m.eval()
    with torch.no_grad():
        out = m(input_ids=ref["input_ids"], output_hidden_states=True)
    r = {"logits_maxabs": float((out.logits.float() - ref["logits"]).abs().max())}
    for i, h in enumerate(out.hidden_states):
        if f"hidden.{i}" in ref:
            r[f"hidden.{i}_maxabs"] = float((h.float() - ref[f"hidden.{i}"]).abs().max())
    return r
R["tiny-v3 bf16 (ckpt-fp8-to-bf16) in transformers"] = fwd(os.path.join(root, "bf16"), os.path.join(root, "tiny-v3.hf-logits.safetensors"))
R["partial bf16 (ckpt-fp8-to-bf16) in transformers"] = fwd(os.path.join(root, "partial-bf16"), sys.argv[2])
print(json.dumps(R, indent=1))
