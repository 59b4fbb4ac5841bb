#!/usr/bin/env bash
# Kimi-K2 (model_type kimi_k2, DeepseekV3ForCausalLM) and DeepSeek-R1: the DeepSeek-V3
# family under other names, with every tool.  A Kimi-K2 directory loads only with its
# tokenizer (tiktoken.model, tokenizer_config.json) and the Python files auto_map names
# (tokenization_kimi.py from tokenizer_config.json; configuration_deepseek.py and
# modeling_deepseek.py from config.json): the converters copy them beside the weights
# (formats/sidefiles.h, the family's side_files).  ckpt-fp8-to-bf16 copies every file that
# is not a shard, the index or config.json; ckpt-hf-to-sharded copies what convert.py copies
# (*token*) and what the family's loader needs besides, and nothing else (no README, no
# docs/); a module of another repository or of a package, or a name leading elsewhere,
# names no file.  DeepSeek-R1 ships V3's config.json (same model_type, architecture and
# keys): it is DeepSeek-V3 to every tool.
. "$CKPT_ROOT/tests/cli/lib.sh"

# files DIR: every file under DIR (hidden ones too), sorted, on one line
files() { (cd "$1" && find . -type f | sed 's#^\./##' | LC_ALL=C sort | tr '\n' ' '); }
# same_files A B NAME...: each NAME has the same bytes in A and B
same_files() {
	local a=$1 b=$2 f
	shift 2
	for f in "$@"; do cmp -s "$a/$f" "$b/$f" || { echo "$f differs"; return 1; }; done
}
# edit_json FILE PYTHON: FILE's JSON edited by PYTHON (on dict c)
edit_json() {
	python3 -c 'import json,sys
c=json.load(open(sys.argv[1]))
exec(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"), indent=2)' "$1" "$2"
}

# ---- a tiny Kimi-K2 as Moonshot ships it: shards model-K-of-N, tiktoken, auto_map code ----
cat >kimi.json <<J
{"extends": "$CKPT_ROOT/fixtures/specs/tiny-v3.json", "model_type": "kimi_k2",
 "architectures": ["DeepseekV3ForCausalLM"], "n_group": 1, "topk_group": 1,
 "num_nextn_predict_layers": 0, "rope_theta": 50000.0,
 "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV3Config",
              "AutoModel": "modeling_deepseek.DeepseekV3Model",
              "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"},
 "shards": 2, "seed": 5}
J
"$synth" -q kimi.json kimi >/dev/null 2>synth.err || cat synth.err
(
	cd kimi || exit 1
	rm tokenizer.json
	for i in 1 2; do mv "model-0000$i-of-00002.safetensors" "model-$i-of-2.safetensors"; done
	sed -i 's/model-0000\([12]\)-of-00002/model-\1-of-2/' model.safetensors.index.json
	printf 'IQ== 0\nIg== 1\nIw== 2\n' >tiktoken.model
	printf 'class TikTokenTokenizer:\n    vocab_files_names = {"vocab_file": "tiktoken.model"}\n' >tokenization_kimi.py
	printf 'class DeepseekV3Config:\n    model_type = "kimi_k2"\n' >configuration_deepseek.py
	printf 'from .configuration_deepseek import DeepseekV3Config\n' >modeling_deepseek.py
	printf '{"auto_map": {"AutoTokenizer": ["tokenization_kimi.TikTokenTokenizer", null]}, "tokenizer_class": "TikTokenTokenizer", "bos_token": "[BOS]"}\n' >tokenizer_config.json
	printf '{%% for m in messages %%}{{ m.content }}{%% endfor %%}\n' >chat_template.jinja
	printf '# Kimi-K2\n' >README.md
	printf 'license\n' >LICENSE
	mkdir docs figures
	printf 'deploy\n' >docs/deploy_guidance.md
	printf 'PNG' >figures/kimi-logo.png
)
loader="chat_template.jinja configuration_deepseek.py modeling_deepseek.py tiktoken.model tokenization_kimi.py tokenizer_config.json"

# ---- recognised by name ----
run "$inspect" kimi
expect_rc "Kimi-K2: inspect exit 0" 0
expect_line "... the model row names it" "model         Kimi-K2 (family deepseek-v3)"
run "$inspect" --json kimi
expect_eq "... --json: model.name" "$("$jsonq" checkpoints.0.model.name <out)" Kimi-K2
expect_eq "... --json: model.family" "$("$jsonq" checkpoints.0.model.family <out)" deepseek-v3
run "$verify" --scan kimi
expect_rc "verify --scan: exit 0" 0
expect_line "... checked as Kimi-K2" \
	"model       passed   Kimi-K2: 163 tensors (72 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
expect_has "... shards named model-K-of-N" "structure   passed   2 shards, 163 tensors"
run "$verify" --forward --tokens 1,2,3 kimi
expect_rc "verify --forward: exit 0" 0

# ---- ckpt-fp8-to-bf16: every other file copied as it is ----
run "$fp8" kimi bf16
expect_rc "fp8-to-bf16: exit 0" 0
expect_has "... its line names Kimi-K2" "; 72 FP8 weights dequantized (Kimi-K2)"
expect_eq "... the files: shards under their names, the index, config.json and every other file" \
	"$(files bf16)" \
	".ckpt-run.json .ckpt-run.sha256 LICENSE README.md chat_template.jinja config.json configuration_deepseek.py docs/deploy_guidance.md figures/kimi-logo.png generation_config.json model-1-of-2.safetensors model-2-of-2.safetensors model.safetensors.index.json modeling_deepseek.py tiktoken.model tokenization_kimi.py tokenizer_config.json "
check "... the tokenizer and the auto_map code byte for byte" same_files kimi bf16 $loader LICENSE README.md docs/deploy_guidance.md figures/kimi-logo.png
expect_eq "... config.json: auto_map kept, quantization_config gone" \
	"$(python3 -c 'import json; c=json.load(open("bf16/config.json")); print(c["model_type"], sorted(c["auto_map"]), "quantization_config" in c)')" \
	"kimi_k2 ['AutoConfig', 'AutoModel', 'AutoModelForCausalLM'] False"
run "$verify" bf16
expect_has "... the output is Kimi-K2 in BF16" "model       passed   Kimi-K2: 91 tensors (0 FP8 weights with their scales)"

# ---- ckpt-hf-to-sharded: convert.py's *token* and what the loader needs, nothing else ----
run "$sharded" --model-parallel 2 kimi mp2
expect_rc "hf-to-sharded mp 2: exit 0" 0
expect_eq "... the files: ranks, tokenizer, chat template, auto_map code, config.json, record" "$(files mp2)" \
	".ckpt-run.json .ckpt-run.sha256 chat_template.jinja ckpt-sharding.json config.json configuration_deepseek.py model0-mp2.safetensors model1-mp2.safetensors modeling_deepseek.py tiktoken.model tokenization_kimi.py tokenizer_config.json "
check "... copied byte for byte" same_files kimi mp2 $loader config.json
# the same weights as DeepSeek-V3: the same rank files (the cut does not depend on the name)
cp -r kimi asv3
edit_json asv3/config.json 'c["model_type"] = "deepseek_v3"'
"$sharded" -q --model-parallel 2 asv3 asv3-mp2 >/dev/null 2>&1
check "... rank files identical to the same checkpoint as deepseek_v3" same_files mp2 asv3-mp2 model0-mp2.safetensors model1-mp2.safetensors
run "$verify" mp2
expect_has "... the output verifies as Kimi-K2" "model       passed   Kimi-K2:"
run "$sharded" --model-parallel 2 --rank 1 kimi rank1
expect_rc "--rank 1: exit 0" 0
expect_eq "... writes its rank alone, no side files" "$(files rank1 | tr ' ' '\n' | grep -vc '^\.ckpt-run\|^$\|mp2.safetensors$')" 0
run "$sharded" --model-parallel 2 --rank 0 kimi rank0
expect_eq "--rank 0: the side files too" "$(files rank0)" \
	".ckpt-run.json .ckpt-run.sha256 chat_template.jinja ckpt-sharding.json config.json configuration_deepseek.py model0-mp2.safetensors modeling_deepseek.py tiktoken.model tokenization_kimi.py tokenizer_config.json "

# ---- the MindSpore layouts (no HF loader: weights, map and config.json only) ----
run "$sharded" --layout mindspore-train kimi ms
expect_rc "hf-to-sharded --layout mindspore-train: exit 0" 0
run "$t2i" ms ms-inf
expect_rc "train-to-infer on it: exit 0" 0
run "$verify" --against kimi ms-inf
expect_rc "... verify --against the HF original: exit 0" 0
expect_has "... as Kimi-K2" "model       passed   Kimi-K2: 91 tensors"

# ---- which names auto_map makes files: plain modules of this directory only ----
cp -r kimi odd
rm odd/configuration_deepseek.py
printf 'x\n' >odd/modeling_remote.py
printf 'x\n' >odd/helper.py
mkdir odd/pkg
printf 'x\n' >odd/pkg/mod.py
edit_json odd/config.json 'c["auto_map"] = {"AutoConfig": "configuration_deepseek.DeepseekV3Config",
	"AutoModel": "org/repo--modeling_remote.M", "A": "pkg.mod.C", "B": "../../etc/passwd.X", "C": 7,
	"D": ["modeling_deepseek.M", null, 3], "E": "nodot", "F": ".hidden"}'
run "$sharded" --model-parallel 2 odd odd-mp2
expect_rc "odd auto_map values: exit 0" 0
expect_eq "... only the plain modules present are copied (one absent, another repository's, a package's, a path: none)" \
	"$(files odd-mp2)" \
	".ckpt-run.json .ckpt-run.sha256 chat_template.jinja ckpt-sharding.json config.json model0-mp2.safetensors model1-mp2.safetensors modeling_deepseek.py tiktoken.model tokenization_kimi.py tokenizer_config.json "
cp -r kimi badtok
printf '{"auto_map": ' >badtok/tokenizer_config.json
edit_json badtok/config.json 'c.pop("auto_map")'
run "$sharded" --model-parallel 2 badtok badtok-mp2
expect_rc "tokenizer_config.json not JSON, no auto_map in config.json: exit 0" 0
expect_eq "... convert.py's *token* files and the chat template copied, no module" "$(files badtok-mp2)" \
	".ckpt-run.json .ckpt-run.sha256 chat_template.jinja ckpt-sharding.json config.json model0-mp2.safetensors model1-mp2.safetensors tiktoken.model tokenization_kimi.py tokenizer_config.json "
check "... the broken tokenizer_config.json as it was" same_files badtok badtok-mp2 tokenizer_config.json

# ---- DeepSeek-V3 / R1 (config.json with auto_map, as DeepSeek ships both) ----
mkdir r1
cp "$tiny"/* r1/
printf 'class DeepseekV3Config: pass\n' >r1/configuration_deepseek.py
printf 'class DeepseekV3ForCausalLM: pass\n' >r1/modeling_deepseek.py
printf 'x\n' >r1/helper.py
edit_json r1/config.json 'c["auto_map"] = {"AutoConfig": "configuration_deepseek.DeepseekV3Config",
	"AutoModel": "modeling_deepseek.DeepseekV3Model", "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"}'
run "$inspect" r1
expect_line "R1 (V3's config.json): DeepSeek-V3 to every tool" "model         DeepSeek-V3 (family deepseek-v3)"
run "$sharded" --model-parallel 2 r1 r1-mp2
expect_rc "... hf-to-sharded: exit 0" 0
expect_eq "... the model code auto_map names copied too, not helper.py" "$(files r1-mp2)" \
	".ckpt-run.json .ckpt-run.sha256 ckpt-sharding.json config.json configuration_deepseek.py model0-mp2.safetensors model1-mp2.safetensors modeling_deepseek.py tokenizer.json tokenizer_config.json "
check "... byte for byte" same_files r1 r1-mp2 configuration_deepseek.py modeling_deepseek.py tokenizer.json tokenizer_config.json
run "$fp8" -q r1 r1-bf16
check "... fp8-to-bf16 copies them (and helper.py: every other file)" same_files r1 r1-bf16 configuration_deepseek.py modeling_deepseek.py helper.py tokenizer.json
exit 0
