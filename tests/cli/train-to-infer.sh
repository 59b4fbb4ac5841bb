#!/usr/bin/env bash
# ckpt-train-to-infer: upstream's output byte for byte on the golden training checkpoint,
# the same bytes for any -j, options from config.json or the command line checked against
# the shapes (exact refusals), BF16 input, --transpose-experts, names the layout does not
# know (warning, --strict), resume, usage errors.
. "$CKPT_ROOT/tests/cli/lib.sh"

run "$tool" --help
expect_rc "help: exit 0" 0
expect_has "help: usage line" "Usage: ckpt-train-to-infer [OPTION]... INPUT_DIR OUTPUT_DIR"
run "$tool" --version
expect_line "version" "ckpt-train-to-infer 0.1.0"
run "$tool" onlyone
expect_rc "one argument: exit 2" 2
expect_err "one argument: message" "ckpt-train-to-infer: INPUT_DIR and OUTPUT_DIR are needed (see ckpt-train-to-infer --help)"
run "$tool" --num-heads x a b
expect_err "bad number: message" "ckpt-train-to-infer: --num-heads wants a number from 1 to 1000000, not 'x' (see ckpt-train-to-infer --help)"
run "$tool" --bogus a b
expect_rc "unknown option: exit 2" 2
run "$tool" nowhere out
expect_rc "missing input: exit 2" 2
expect_err "missing input: message" "ckpt-train-to-infer: nowhere: No such file or directory"

need_golden "train-to-infer: golden data"
g=$CKPT_GOLDEN/tiny-v3.mstrain
gi=$CKPT_GOLDEN/tiny-v3.mstrain.infer
files="general.safetensors layer_0.safetensors layer_1.safetensors layer_2.safetensors layer_3.safetensors param_name_map.json"

same_as_golden() { # NAME DIR
	local bad=""
	for f in $files; do cmp -s "$gi/$f" "$2/$f" || bad="$bad $f"; done
	if [ -z "$bad" ]; then ok "$1"; else not_ok "$1" "differ:$bad"; fi
}

# ---- upstream's output, byte for byte ----
run "$tool" "$g" out1
expect_rc "golden: exit 0" 0
check "golden: nothing on stderr" test ! -s err
same_as_golden "golden: every file equals upstream's byte for byte" out1
# (beside BF16 weights without quantization_config, issue 14 item 1)
printf %s "$(grep -v '"quantization_config": {' "$g/config.json" | sed '/"activation_scheme"/,/^  },$/d')" >config.want
expect_same "golden: config.json copied beside, without quantization_config" config.want out1/config.json
expect_eq "golden: nothing else written" "$(ls -A out1 | grep -v '^\.ckpt-run' | tr '\n' ' ')" "config.json $files "
run "$tool" -j 1 "$g" outj1
run "$tool" -j 3 "$g" outj3
same_as_golden "-j 1: the same bytes" outj1
same_as_golden "-j 3: the same bytes" outj3

run "$CKPT_BIN/ckpt-inspect" "$g"
expect_line "inspect: the training layout detected" "layout        mindspore-train"
run "$CKPT_BIN/ckpt-inspect" --json out1
expect_eq "inspect: the inference layout detected" "$("$jsonq" checkpoints.0.layout <out)" "mindspore-infer"

# ---- options: config.json, the command line, the shapes ----
mkdir noconfig
# (hard links or copies: a symbolic link leading out of the checkpoint is refused)
for f in "$g"/*.safetensors "$g"/param_name_map.json; do ln "$f" noconfig/ 2>/dev/null || cp "$f" noconfig/; done
run "$tool" noconfig out2
expect_rc "no config.json, upstream's defaults: exit 2" 2
expect_err "no config.json, upstream's defaults: the tensor and the mismatch" \
	"ckpt-train-to-infer: noconfig/model-00001-of-00002.safetensors: tensor \"model.layers.0.attention.l2q_pe_proj.weight\" [256, 192]: 256 rows, not num_heads 128 x qk_rope_head_dim 64 = 8192 (num_heads from default, qk_rope_head_dim from default; the shapes fit num_heads 4)"
check "refused: no output directory made" test ! -e out2
run "$tool" --first-k-dense-replace 1 --num-heads 4 --qk-nope-head-dim 64 --qk-rope-head-dim 64 noconfig out3
expect_rc "no config.json, upstream's options: exit 0" 0
same_as_golden "no config.json, upstream's options: upstream's bytes" out3
check "no config.json: none written" test ! -e out3/config.json
mkdir nomap
for f in "$g"/*.safetensors; do ln "$f" nomap/ 2>/dev/null || cp "$f" nomap/; done
run "$tool" --first-k-dense-replace 1 --num-heads 4 --qk-nope-head-dim 64 --qk-rope-head-dim 64 nomap out5
expect_rc "no param_name_map.json: exit 0" 0
same_as_golden "no param_name_map.json: tensors in name order (the golden map's order too): upstream's bytes" out5
run "$tool" --num-heads 2 "$g" out4
expect_rc "wrong heads: exit 2" 2
expect_err "wrong heads: the tensor and the mismatch" \
	"ckpt-train-to-infer: $g/model-00001-of-00002.safetensors: tensor \"model.layers.0.attention.l2q_pe_proj.weight\" [256, 192]: 256 rows, not num_heads 2 x qk_rope_head_dim 64 = 128 (num_heads from --num-heads, qk_rope_head_dim from config.json; the shapes fit num_heads 4)"
# what upstream reshapes silently: 2 heads of 128 + 128 have the same row counts as 4 of 64 + 64
run "$tool" --num-heads 2 --qk-nope-head-dim 128 --qk-rope-head-dim 128 "$g" out4
expect_err "heads that upstream would reshape silently: refused" \
	"ckpt-train-to-infer: $g/model-00001-of-00002.safetensors: tensor \"model.layers.0.attention.kv2l_k_pe.weight\" [64, 256]: 64 rows, not qk_rope_head_dim 128 (--qk-rope-head-dim; the shapes fit qk_rope_head_dim 64)"
run "$tool" --qk-nope-head-dim 32 "$g" out4
expect_err "wrong nope: the tensor and the mismatch" \
	"ckpt-train-to-infer: $g/model-00001-of-00002.safetensors: tensor \"model.layers.0.attention.l2q_nope_proj.weight\" [256, 192]: 256 rows, not num_heads 4 x qk_nope_head_dim 32 = 128 (num_heads from config.json, qk_nope_head_dim from --qk-nope-head-dim; the shapes fit qk_nope_head_dim 64)"
run "$tool" --first-k-dense-replace 3 "$g" out4
expect_err "experts in a dense layer: refused" \
	"ckpt-train-to-infer: $g/model-00001-of-00002.safetensors: tensor \"model.layers.1.feed_forward.routed_experts.ffn.w1.weight\": layer 1 has routed experts, but first_k_dense_replace is 3 (--first-k-dense-replace), which makes it a dense layer"
run "$tool" --first-k-dense-replace 0 "$g" out4
expect_err "no experts in a MoE layer: refused" \
	"ckpt-train-to-infer: $g/param_name_map.json: layer 0 has no tensor \"model.layers.0.feed_forward.routed_experts.ffn.w1.weight\", but first_k_dense_replace 0 (--first-k-dense-replace) makes it a MoE layer"
expect_rc "refusal: exit 2" 2
check "refusals: nothing written" test ! -e out4

# ---- --transpose-experts ----
run "$tool" --transpose-experts "$g" outt
expect_rc "transpose: exit 0" 0
for f in general.safetensors layer_0.safetensors param_name_map.json; do
	expect_same "transpose: $f as without it" "$gi/$f" "outt/$f"
done
check "transpose: the MoE layers differ" bash -c '! cmp -s "$1/layer_1.safetensors" outt/layer_1.safetensors' - "$gi"
run "$CKPT_BIN/ckpt-inspect" --header outt/layer_1.safetensors
expect_has "transpose: files say so in __metadata__" '"ckpt_experts": "transposed"'

# ---- BF16 training input (the training layout written from the FP8 tiny checkpoint) ----
"$CKPT_BIN/ckpt-hf-to-sharded" -q --layout mindspore-train "$tiny" bf16train 2>err
check "bf16: training checkpoint made" test -s bf16train/param_name_map.json
run "$tool" bf16train bf16infer
expect_rc "bf16: exit 0" 0
run "$CKPT_BIN/ckpt-inspect" bf16infer
expect_line "bf16: half the bytes of the float32 model" "tensor bytes  14852192 (14.2 MiB)"
expect_eq "bf16: BF16 kept, norms, router and bias F32 as upstream stores them" \
	"$(sed -n '/^NAME /,$p' out | awk 'NR > 1 {print $2}' | sort | uniq -c | tr -s " \n" "  ")" " 107 BF16 25 F32 "

# ---- names the layout does not know ----
mkdir optim
for f in "$g"/*.safetensors "$g"/config.json; do ln "$f" optim/ 2>/dev/null || cp "$f" optim/; done
# a safetensors file with "global_step" (I64 [1]) and "adam_m.model.layers.0.attention.wo.weight" (F32 [2])
h='{"global_step":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"adam_m.model.layers.0.attention.wo.weight":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}'
while [ $(( ${#h} % 8 )) -ne 0 ]; do h="$h "; done
n=$(printf '%016x' ${#h})
{
	printf "\\x${n:14:2}\\x${n:12:2}\\x${n:10:2}\\x${n:8:2}\\x${n:6:2}\\x${n:4:2}\\x${n:2:2}\\x${n:0:2}"
	printf '%s' "$h"
	printf '\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80\x3f\x00\x00\x00\x40'
} >optim/optimizer.safetensors
sed '$d' "$g/param_name_map.json" >optim/param_name_map.json
printf ',\n  "global_step": "optimizer.safetensors",\n  "adam_m.model.layers.0.attention.wo.weight": "optimizer.safetensors"\n}' >>optim/param_name_map.json
run "$tool" optim outo
expect_rc "unknown names: exit 0" 0
expect_err "unknown names: one warning listing them" \
	"ckpt-train-to-infer: warning: 2 names the MindSpore training layout does not know (optimizer state?), handled as upstream does: \"global_step\", \"adam_m.model.layers.0.attention.wo.weight\""
expect_eq "unknown names: copied where upstream puts them" \
	"$("$jsonq" global_step <outo/param_name_map.json) $("$jsonq" -d / adam_m.model.layers.0.attention.wo.weight <outo/param_name_map.json)" \
	"general.safetensors layer_0.safetensors"
run "$tool" -q optim outq
check "unknown names, --quiet: no warning" test ! -s err
run "$tool" --strict optim outs
expect_rc "unknown names, --strict: exit 2" 2
check "unknown names, --strict: the error" grep -qxF "ckpt-train-to-infer: optim: 2 names the training layout does not know" err
check "unknown names, --strict: nothing written" test ! -e outs

# ---- resume ----
cp -r out1 resume
rm resume/layer_2.safetensors
touch -d '2001-01-01' resume/layer_1.safetensors
before=$(stat -c %i:%Y resume/layer_1.safetensors)
run "$tool" "$g" resume
expect_rc "resume: exit 0" 0
same_as_golden "resume: the missing file is written again" resume
expect_eq "resume: a complete file is kept" "$(stat -c %i:%Y resume/layer_1.safetensors)" "$before"
printf 'garbage' >resume/layer_3.safetensors
run "$tool" "$g" resume
same_as_golden "resume: a damaged file is rewritten" resume
run "$tool" -f "$g" resume
same_as_golden "--force: everything rewritten, the same bytes" resume
check "--force: layer_1 rewritten" test "$(stat -c %Y resume/layer_1.safetensors)" != "$(date -d 2001-01-01 +%s)"

# ---- the output directory: claimed by a record of the conversion ----
run "$tool" --transpose-experts "$g" out1
expect_rc "another conversion into the same directory: exit 2" 2
expect_err "another conversion into the same directory: refused" \
	"ckpt-train-to-infer: out1: not empty, and not an earlier run of this conversion (its .ckpt-run.json names another); --force writes into it anyway"
mkdir foreign && echo x >foreign/notes.txt
run "$tool" "$g" foreign
expect_err "a foreign non-empty directory: refused" \
	"ckpt-train-to-infer: foreign: not empty, and not an earlier run of this conversion (no .ckpt-run.json); --force writes into it anyway"
mkdir -p inside && for f in "$g"/*; do ln "$f" inside/ 2>/dev/null || cp "$f" inside/; done
run "$tool" inside inside/out
expect_err "output inside the input: refused" \
	"ckpt-train-to-infer: inside/out: is inside the input directory inside; the output must go elsewhere"

# ---- a tar stream ----
run "$tool" "$g" -
expect_rc "tar: exit 0" 0
mkdir untar && tar -xf out -C untar
same_as_golden "tar: the same files" untar

# ---- one file at a time (GNU parallel), then --finalize ----
run "$tool" --list-files "$g"
expect_eq "list-files" "$(tr '\n' ' ' <out)" "general.safetensors layer_0.safetensors layer_1.safetensors layer_2.safetensors layer_3.safetensors "
"$tool" --file layer_0.safetensors "$g" units 2>err
run "$tool" --finalize "$g" units
expect_err "finalize before every file is written: refused" \
	"ckpt-train-to-infer: units/general.safetensors: missing or incomplete: every file must be written before finalizing"
for f in general layer_1 layer_2 layer_3; do "$tool" -q --file $f.safetensors "$g" units & done
wait
check "units: no map before --finalize" test ! -e units/param_name_map.json
run "$tool" --finalize "$g" units
expect_rc "finalize: exit 0" 0
same_as_golden "one file at a time, then --finalize: upstream's bytes" units
run "$tool" --file layer_9.safetensors "$g" units
expect_err "--file of no such file: refused" "ckpt-train-to-infer: layer_9.safetensors: not a file of this conversion"

# ---- progress ----
run "$tool" --progress "$g" prog
check "--progress: a final line on stderr" grep -q '100% 28.3 MiB / 28.3 MiB' err
