#!/usr/bin/env bash
# ckpt-inspect on the bundled tiny-v3: the summary's numbers, table rows, --json, --match,
# --stats (against values computed independently), -j, --raw, --header, and the errors.
. "$CKPT_ROOT/tests/cli/lib.sh"

# ---- the default report ----
run "$tool" "$tiny"
expect_rc "default: exit 0" 0
check "default: nothing on stderr" test ! -s err
expect_line "summary: tensors" "tensors       239"
expect_line "summary: parameters" "parameters    7678676 (7.68 M)"
expect_line "summary: tensor bytes" "tensor bytes  8345936 (7.96 MiB)"
expect_line "summary: total_size equals the tensor bytes" "total_size    8345936, equal to the tensor bytes"
expect_line "summary: shard files" "shards        3 files, 8373064 bytes (7.99 MiB)"
expect_line "summary: dtype header" "dtypes        DTYPE    TENSORS  PARAMETERS    BYTES"
expect_line "summary: F8_E4M3 row" "              F8_E4M3      104     7012352  7012352  6.69 MiB"
expect_line "summary: BF16 row" "              BF16          28      665856  1331712  1.27 MiB"
expect_line "summary: F32 row" "              F32          107         468     1872  1.83 KiB"
expect_line "summary: FP8 weights with and without scales" "FP8 weights   104 with scales, 0 without"
expect_line "summary: layers" "layers        3: 0-2"
expect_line "summary: MTP layers" "MTP layers    1: 3"
expect_line "summary: config value" "              num_nextn_predict_layers  1"
expect_line "summary: quantization_config" \
	'              quantization_config       {"activation_scheme":"dynamic","fmt":"e4m3","quant_method":"fp8","weight_block_size":[128,128]}'
expect_line "table: header" \
	"NAME                                                          DTYPE    SHAPE        BYTES  SHARD"
expect_line "table: lm_head row" \
	"lm_head.weight                                                BF16     [512, 256]  262144  model-00003-of-00003.safetensors"
expect_line "table: a scale in another shard than its weight" \
	"model.layers.1.mlp.experts.0.down_proj.weight_scale_inv       F32      [2, 2]          16  model-00002-of-00003.safetensors"
expect_eq "table: one row per tensor" "$(sed -n '/^NAME /,$p' out | tail -n +2 | wc -l)" 239
check "no trailing blanks" bash -c '! grep -q " $" out'

# ---- --match ----
run "$tool" --match '*.e_score_correction_bias' --match 'model.norm.*' "$tiny"
expect_line "match: count line" "4 of 239 tensors match"
expect_eq "match: only matching rows" "$(sed -n '/^NAME /,$p' out | tail -n +2 | awk '{print $1}' | tr '\n' ' ')" \
	"model.layers.1.mlp.gate.e_score_correction_bias model.layers.2.mlp.gate.e_score_correction_bias model.layers.3.mlp.gate.e_score_correction_bias model.norm.weight "
run "$tool" --match 'nothing*' "$tiny"
expect_rc "match nothing: exit 0" 0
expect_line "match nothing: says so" "0 of 239 tensors match"

# ---- --json ----
run "$tool" --json "$tiny"
cp out all.json
check "json: valid (strict reader)" "$jsonq" <all.json
q() { "$jsonq" "$1" <all.json; }
expect_eq "json: version" "$(q version)" 1
expect_eq "json: one checkpoint" "$(q checkpoints.#)" 1
expect_eq "json: tensor_count" "$(q checkpoints.0.tensor_count)" 239
expect_eq "json: parameters" "$(q checkpoints.0.parameters)" 7678676
expect_eq "json: tensor_bytes and index_total_size" "$(q checkpoints.0.tensor_bytes) $(q checkpoints.0.index_total_size) $(q checkpoints.0.total_size_matches)" "8345936 8345936 true"
expect_eq "json: dtypes" "$(q checkpoints.0.dtypes)" \
	'[{"dtype":"F8_E4M3","tensors":104,"parameters":7012352,"bytes":7012352},{"dtype":"BF16","tensors":28,"parameters":665856,"bytes":1331712},{"dtype":"F32","tensors":107,"parameters":468,"bytes":1872}]'
expect_eq "json: fp8 weights" "$(q checkpoints.0.fp8_weights)" '{"with_scales":104,"without_scales":0,"unscaled":[]}'
expect_eq "json: layers and MTP layers" "$(q checkpoints.0.layers) $(q checkpoints.0.mtp_layers)" "[0,1,2] [3]"
expect_eq "json: files" "$(q checkpoints.0.files.1)" '{"name":"model-00002-of-00003.safetensors","bytes":2900600,"tensors":84}'
expect_eq "json: config key" "$(q checkpoints.0.config.quantization_config.weight_block_size)" "[128,128]"
expect_eq "json: every tensor listed" "$(q checkpoints.0.tensors.#)" 239
expect_eq "json: a tensor entry" "$(q checkpoints.0.tensors.0)" \
	'{"name":"lm_head.weight","dtype":"BF16","shape":[512,256],"parameters":131072,"bytes":262144,"shard":"model-00003-of-00003.safetensors","data_offsets":[560,262704]}'
check "json: indented 2, ends with a newline" bash -c 'sed -n 2p all.json | grep -qx "  \"version\": 1," && [ "$(tail -c 1 all.json | od -A n -t x1)" = " 0a" ]'
one=$CKPT_ROOT/fixtures/tiny-v3/model-00002-of-00003.safetensors
run "$tool" --json "$tiny" "$one"
cp out two.json
expect_eq "json: two paths, one document" "$("$jsonq" checkpoints.# <two.json) $("$jsonq" checkpoints.1.tensor_count <two.json) $("$jsonq" checkpoints.1.index <two.json)" "2 84 null"
run "$tool" --json "$tiny/model-00001-of-00003.safetensors"
expect_eq "json: a single file has an FP8 weight whose scale is elsewhere" "$("$jsonq" checkpoints.0.fp8_weights <out)" \
	'{"with_scales":34,"without_scales":2,"unscaled":["model.layers.1.mlp.experts.0.down_proj.weight","model.layers.1.mlp.experts.7.up_proj.weight"]}'

# ---- --stats ----
# Expected values computed separately (a Python script over the raw bytes: BF16 widened;
# FP8 e4m3 code x float32 block scale, rounded to float32), then printed with %.6g.
run "$tool" --stats "$tiny"
cp out stats1.txt
expect_rc "stats: exit 0" 0
# VALUES MIN MAX MEAN STD ABSMAX NAN INF of one tensor (counted from the end: shapes hold blanks)
row() { awk -v n="$1" '$1 == n {print $(NF-8), $(NF-7), $(NF-6), $(NF-5), $(NF-4), $(NF-3), $(NF-2), $(NF-1)}' "$2"; }
expect_eq "stats: BF16 model.norm.weight" "$(row model.norm.weight stats1.txt)" "stored 0.789062 1.27344 0.999039 0.0909094 1.27344 0 0"
expect_eq "stats: FP8 weight dequantized with its scales" "$(row model.layers.0.mlp.down_proj.weight stats1.txt)" \
	"scaled -0.84315 0.191791 -0.000191282 0.0441751 0.84315 0 0"
# an F32 tensor read straight from the file with od, its statistics computed by awk
t=model.layers.1.mlp.gate.e_score_correction_bias
"$tool" --json --match "$t" "$tiny" >bias.json
shard=$("$jsonq" checkpoints.0.tensors.0.shard <bias.json)
b=$("$jsonq" checkpoints.0.tensors.0.data_offsets.0 <bias.json)
e=$("$jsonq" checkpoints.0.tensors.0.data_offsets.1 <bias.json)
hl=$("$tool" --json --header "$tiny/$shard" | "$jsonq" header_length)
want=$(od -A n -v -t f4 -j $((8 + hl + b)) -N $((e - b)) "$tiny/$shard" | awk '
	{ for (i = 1; i <= NF; i++) x[n++] = $i }
	END {
		mn = x[0]; mx = x[0]; s = 0
		for (i = 0; i < n; i++) { s += x[i]; if (x[i] < mn) mn = x[i]; if (x[i] > mx) mx = x[i] }
		m = s / n; v = 0
		for (i = 0; i < n; i++) v += (x[i] - m) ^ 2
		printf "stored %.6g %.6g %.6g %.6g %.6g 0 0\n", mn, mx, m, sqrt(v / n), (-mn > mx ? -mn : mx)
	}')
expect_eq "stats: F32 tensor against od + awk" "$(row "$t" stats1.txt)" "$want"
run "$tool" --stats -j 1 "$tiny"
expect_same "stats: -j 1 and the default give the same output" out stats1.txt
run "$tool" --stats -j 2 --json "$tiny"
cp out j2.json
run "$tool" --stats -j 1 --json "$tiny"
expect_same "stats: -j 1 and -j 2 give the same JSON" out j2.json
expect_eq "stats: JSON numbers unrounded" "$("$jsonq" checkpoints.0.tensors.0.stats <j2.json | grep -c '"values":"stored","count":131072')" 1
run "$tool" --stats --raw --match model.layers.0.mlp.down_proj.weight "$tiny"
cp out raw.txt
expect_eq "stats --raw: the stored e4m3 values" "$(row model.layers.0.mlp.down_proj.weight raw.txt)" \
	"stored -448 448 -0.578849 96.2756 448 0 0"
check "stats --raw differs from dequantized" bash -c '! cmp -s <(grep "^model.layers.0.mlp.down_proj.weight " raw.txt) <(grep "^model.layers.0.mlp.down_proj.weight " stats1.txt)'

# ---- --header ----
run "$tool" --header "$one"
expect_rc "header: exit 0" 0
expect_eq "header: length first" "$(head -n 1 out)" "header length: 9568"
tail -n +2 out >hdr.json
check "header: the rest is valid JSON" "$jsonq" <hdr.json
expect_eq "header: metadata kept" "$("$jsonq" __metadata__.format <hdr.json)" pt
expect_eq "header: a tensor entry" "$("$jsonq" -d / model.layers.1.mlp.experts.0.down_proj.weight_scale_inv <hdr.json)" \
	'{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}'
expect_eq "header: members in file order" "$(sed -n 2p hdr.json)" '  "__metadata__": {'
printf 'abcd' >short.safetensors
run "$tool" --header short.safetensors
expect_rc "header: bad file exits 2" 2
expect_err "header: the reader's message" "ckpt-inspect: short.safetensors: file is 4 bytes, too short for the 8-byte header length"
check "header: bad file prints nothing on stdout" test ! -s out

# ---- other layouts ----
mkdir noindex
cp "$tiny"/*.safetensors "$tiny"/config.json noindex/
run "$tool" noindex
expect_rc "no index: exit 0" 0
expect_line "no index: said so" "index         none"
expect_line "no index: same tensors" "tensors       239"
run "$tool" "$one"
expect_line "single file: one shard" "shards        1 file, 2900600 bytes (2.77 MiB)"
run "$tool" "$tiny" noindex
expect_eq "two paths: two reports" "$(grep -c '^checkpoint ' out)" 2

# ---- errors: one line "ckpt-inspect: <message>", exit 2 ----
run "$tool" nope
expect_rc "missing path: exit 2" 2
expect_err "missing path: message" "ckpt-inspect: nope: No such file or directory"
check "missing path: nothing on stdout" test ! -s out
mkdir broken
cp "$tiny"/* broken/
head -c 1000 "$tiny/model-00002-of-00003.safetensors" >broken/model-00002-of-00003.safetensors
run "$tool" broken
expect_rc "truncated shard: exit 2" 2
expect_err "truncated shard: the reader's message" \
	"ckpt-inspect: broken/model-00002-of-00003.safetensors: header length 9568 runs past the end of the file (1000 bytes)"
run "$tool" --bogus "$tiny"
expect_rc "unknown option: exit 2" 2
expect_err "unknown option: message and hint" "ckpt-inspect: unknown option '--bogus' (see ckpt-inspect --help)"
run "$tool" -x "$tiny"
expect_err "unknown short option" "ckpt-inspect: unknown option '-x' (see ckpt-inspect --help)"
run "$tool"
expect_rc "no PATH: exit 2" 2
expect_err "no PATH: message" "ckpt-inspect: no PATH given (see ckpt-inspect --help)"
run "$tool" -j 0 --stats "$tiny"
expect_rc "-j 0: exit 2" 2
expect_err "-j 0: message" "ckpt-inspect: -j wants a number of threads from 1 to 4096, not '0' (see ckpt-inspect --help)"
run "$tool" --match
expect_err "option without its argument" "ckpt-inspect: option '--match' needs an argument (see ckpt-inspect --help)"
run "$tool" --raw "$tiny"
expect_err "--raw without --stats" "ckpt-inspect: --raw only applies with --stats (see ckpt-inspect --help)"
run "$tool" --header "$one" "$tiny"
expect_rc "--header with a PATH: exit 2" 2
run "$tool" "$tiny" nope
expect_rc "second path missing: exit 2" 2
expect_err "second path missing: one line" "ckpt-inspect: nope: No such file or directory"

# ---- help, version, man page ----
run "$tool" --help
expect_rc "--help: exit 0" 0
expect_line "--help: usage" "Usage: ckpt-inspect [OPTION]... PATH..."
run "$tool" --version
expect_eq "--version" "$(cat out)" "ckpt-inspect $(sed -n 's/^VERSION *:= *//p' "$CKPT_ROOT/Makefile")"
if command -v man >/dev/null && command -v groff >/dev/null; then
	run env MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$CKPT_ROOT/man/ckpt-inspect.1"
	expect_rc "man page renders" 0
	check "man page: no warnings" test ! -s err
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
		expect_line "man page: section $s" "$s"
	done
fi
