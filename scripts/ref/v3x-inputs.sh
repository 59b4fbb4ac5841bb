#!/usr/bin/env bash
# The inputs of fixtures/ref/{v31,v32,kimi}: tiny DeepSeek-V3.1, V3.2 and Kimi-K2 FP8
# checkpoints, made from fixtures/specs/ref-*.json by ckpt-synth (deterministic: the same
# bytes on every machine, so the tests make them again instead of committing 25 MB), then
#  - v31: the first block scale of model.layers.1.self_attn.o_proj times 3/4 (no longer a
#    power of two, as V3.1-Terminus' o_proj scales are documented not to be);
#  - kimi: Kimi-K2's side files in place of the tokenizer stand-ins: tiktoken.model and
#    tokenization_kimi.py (named by tokenizer_config.json's auto_map), and the Python files
#    config.json's auto_map names.
# fixtures/ref/NAME/SHA256SUMS lists what this made (input/*), and what the upstream tools
# made of it on the GPU machine.
#   v3x-inputs.sh CKPT_SYNTH OUTDIR [NAME...]     (names: v31 v32 kimi; default all three)
set -eu
synth=$1 out=$2
shift 2
specs=$(cd "$(dirname "$0")/../../fixtures/specs" && pwd)
[ $# -gt 0 ] || set -- v31 v32 kimi
mkdir -p "$out"
for name in "$@"; do
	d=$out/$name
	rm -rf "$d"
	"$synth" -q "$specs/ref-$name.json" "$d" >/dev/null
	case $name in
	v31)
		python3 - "$d" <<'PY'
import json, os, struct, sys
d = sys.argv[1]
name = "model.layers.1.self_attn.o_proj.weight_scale_inv"
shard = json.load(open(os.path.join(d, "model.safetensors.index.json")))["weight_map"][name]
with open(os.path.join(d, shard), "r+b") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    t = json.loads(f.read(n))[name]
    assert t["dtype"] == "F32"
    f.seek(8 + n + t["data_offsets"][0])
    s = struct.unpack("<f", f.read(4))[0]
    f.seek(-4, 1)
    f.write(struct.pack("<f", s * 0.75))
PY
		;;
	kimi)
		rm -f "$d/tokenizer.json"
		printf '%s\n' 'IQ== 0' 'Ig== 1' 'Iw== 2' 'JA== 3' >"$d/tiktoken.model"
		printf '%s\n' '# stand-in for Kimi-K2'"'"'s tokenization_kimi.py (TikTokenTokenizer)' >"$d/tokenization_kimi.py"
		printf '%s\n' '# stand-in for Kimi-K2'"'"'s configuration_deepseek.py' >"$d/configuration_deepseek.py"
		printf '%s\n' '# stand-in for Kimi-K2'"'"'s modeling_deepseek.py' >"$d/modeling_deepseek.py"
		printf '%s' '{"auto_map": {"AutoTokenizer": ["tokenization_kimi.TikTokenTokenizer", null]}, "bos_token": "[BOS]", "eos_token": "[EOS]", "tokenizer_class": "TikTokenTokenizer"}' >"$d/tokenizer_config.json"
		;;
	esac
done
