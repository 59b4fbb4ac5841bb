#!/usr/bin/env bash
# ckpt-verify: structure and model checks, manifests (bit flips, truncation, swapped, renamed
# and missing files, JSON maps, sha256sum -c), the malformed-input corpus, --scan,
# --against, archives, --json, exit codes, usage errors and the man page.
. "$CKPT_ROOT/tests/cli/lib.sh"
edit=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/st-edit
S1=model-00001-of-00003.safetensors
S2=model-00002-of-00003.safetensors
S3=model-00003-of-00003.safetensors

# a problem line of the text report
expect_problem() { expect_line "$1" "  $2"; }

cp -r "$tiny" t
chmod -R u+w t

# ---- the default checks on a sound checkpoint ----
run "$tool" t
expect_rc "sound: exit 0" 0
check "sound: nothing on stderr" test ! -s err
expect_line "sound: checkpoint line" "checkpoint  t (layout hf)"
expect_line "sound: structure" "structure   passed   3 shards, 239 tensors; index: 239 entries, total_size 8345936 = tensor bytes"
expect_line "sound: model" "model       passed   DeepSeek-V3: 239 tensors (104 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
expect_line "sound: result" "result: passed"
run "$tool" --quiet t
expect_rc "quiet: exit 0" 0
check "quiet: prints nothing when all passed" test ! -s out
run "$tool" t/model.safetensors.index.json
expect_rc "an index file as PATH: exit 0" 0
run "$tool" "t/$S3"
expect_rc "one shard as PATH: exit 0" 0
expect_line "one shard as PATH: structure passes" "structure   passed   1 shard, 74 tensors; no index"
expect_line "one shard as PATH: the model is the directory's to check" "model       skipped  $S3 is one shard of the checkpoint in t (check the directory for the whole model)"
mkdir single
cp "t/$S3" t/config.json single/
run "$tool" "single/$S3"
expect_rc "one file without an index: the model check runs: exit 1" 1
expect_problem "one file without an index: what it lacks is missing" 'tensor "model.embed_tokens.weight": missing (config.json implies BF16 [512, 256])'

# ---- --json ----
run "$tool" --json t
expect_rc "json: exit 0" 0
cp out sound.json
check "json: valid (strict reader)" "$jsonq" <sound.json
q() { "$jsonq" "$1" <"$2"; }
expect_eq "json: version, path, layout, passed" "$(q version sound.json) $(q report.path sound.json) $(q report.layout sound.json) $(q report.passed sound.json)" "1 t hf true"
expect_eq "json: checks" "$(q report.checks.0.name sound.json) $(q report.checks.0.status sound.json) $(q report.checks.1.name sound.json) $(q report.checks.1.status sound.json)" "structure passed model passed"
expect_eq "json: no problems" "$(q report.problems sound.json) $(q report.checks.0.problems sound.json)" "0 []"

# ---- manifests: written, sha256sum -c, checked ----
run "$tool" --write-manifest m.sha t
expect_rc "write-manifest: exit 0" 0
expect_line "write-manifest: reported" "manifest-write  passed   m.sha: 8 files, 8.01 MiB hashed"
expect_eq "write-manifest: sha256sum's lines, sorted" "$(cd t && sha256sum $(ls | LC_ALL=C sort))" "$(cat m.sha)"
check "write-manifest: sha256sum -c reads it" bash -c 'cd t && sha256sum --quiet -c ../m.sha'
run "$tool" --write-manifest m1.sha -j 1 t
expect_same "write-manifest: -j 1 gives the same file" m.sha m1.sha
run "$tool" --manifest m.sha t
expect_rc "manifest: sound: exit 0" 0
expect_line "manifest: summary" "manifest    passed   8 files listed, 8 hashed (8.01 MiB): all match"
cp m.sha t/SHA256SUMS
run "$tool" --manifest t/SHA256SUMS t
expect_rc "manifest inside the checkpoint: not counted as an unlisted file" 0
run "$tool" --write-manifest t/SHA256SUMS t
expect_same "manifest rewritten inside the checkpoint leaves itself out" t/SHA256SUMS m.sha
rm t/SHA256SUMS

# bit flips: seeded random bits in random files, each detected with the file named
flip() { # FILE OFFSET BIT
	local b
	b=$(od -A n -t u1 -j "$2" -N 1 "$1" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ (1 << $3))))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
RANDOM=20240601
files=($(cd t && ls))
caught=0 tries=24
for ((i = 0; i < tries; i++)); do
	f=${files[RANDOM % ${#files[@]}]}
	size=$(stat -c %s "t/$f")
	off=$(((RANDOM * 32768 + RANDOM) % size))
	bit=$((RANDOM % 8))
	cp "t/$f" saved
	flip "t/$f" "$off" "$bit"
	run "$tool" --manifest m.sha t
	if [ "$rc" -eq 1 ] && grep -q "^  t/$f: SHA-256 is [0-9a-f]\{64\}, the manifest says $(grep "  $f\$" m.sha | cut -c1-64)\$" out &&
		[ "$(grep -c 'SHA-256 is' out)" -eq 1 ]; then
		caught=$((caught + 1))
	else
		echo "# flip $f at $off bit $bit: rc $rc"
	fi
	cp saved "t/$f"
done
expect_eq "bit flips: all $tries random flips detected, each naming its file" "$caught" "$tries"
check "bit flips: the copy is whole again" bash -c 'cd t && sha256sum --quiet -c ../m.sha'

# a truncated shard: the manifest and the reader both say so
cp -r t trunc
head -c 1000000 "t/$S2" >"trunc/$S2"
run "$tool" --manifest m.sha trunc
expect_rc "truncated: exit 1" 1
expect_line "truncated: the model check counts the unreadable shard's tensors" "model       FAILED   239 tensors expected from config.json: 84 in unreadable shards"
expect_has "truncated: manifest names the file" "  trunc/$S2: SHA-256 is "
expect_problem "truncated: the reader's message" "trunc/$S2: file is truncated: the header describes 2891024 bytes of tensor data, the file holds 990424"

# two shards swapped
cp -r t swap
mv "swap/$S1" x && mv "swap/$S2" "swap/$S1" && mv x "swap/$S2"
run "$tool" --manifest m.sha swap
expect_rc "swapped: exit 1" 1
expect_has "swapped: manifest: first shard differs" "  swap/$S1: SHA-256 is $(cut -c1-64 <<<"$(grep "  $S2\$" m.sha)"), the manifest says $(grep "  $S1\$" m.sha | cut -c1-64)"
expect_has "swapped: manifest: second shard differs" "  swap/$S2: SHA-256 is $(grep "  $S1\$" m.sha | cut -c1-64), the manifest says"
expect_problem "swapped: structure: the index maps a tensor elsewhere" \
	"swap/model.safetensors.index.json: tensor \"model.embed_tokens.weight\" is mapped to $S1, which does not hold it"
expect_problem "swapped: structure: the shard holds what the index puts elsewhere" \
	"swap/$S2: tensor \"model.embed_tokens.weight\" is here, but the index maps it to $S1"
run "$tool" swap
expect_rc "swapped: structure alone fails too" 1

# a renamed file and a missing one
cp -r t ren
mv ren/tokenizer.json ren/tokenizer.json.bak
rm ren/generation_config.json
run "$tool" --manifest m.sha ren
expect_rc "renamed/missing: exit 1" 1
expect_problem "renamed: old name missing" "ren/tokenizer.json: listed in the manifest, but missing"
expect_problem "renamed: new name not listed" "ren/tokenizer.json.bak: not in the manifest"
expect_problem "missing file" "ren/generation_config.json: listed in the manifest, but missing"
expect_line "renamed/missing: summary" "manifest    FAILED   8 files listed, 6 hashed (8.01 MiB); 2 missing; 1 not in the manifest"
cp -r t rens
mv "rens/$S3" rens/model-00003-of-00003.old.safetensors
run "$tool" rens
expect_rc "renamed shard: structure fails" 1
expect_problem "renamed shard: missing" "rens/$S3: shard file is missing (model.safetensors.index.json maps tensors to it)"
expect_problem "renamed shard: stray" "rens/model-00003-of-00003.old.safetensors: a .safetensors file that model.safetensors.index.json does not name"

# JSON manifests as model hubs publish them
awk 'BEGIN { printf "{" } { printf "%s\"%s\": \"%s\"", (NR > 1 ? ", " : ""), $2, $1 } END { print "}" }' m.sha >m.json
run "$tool" --manifest m.json t
expect_rc "JSON map: exit 0" 0
expect_line "JSON map: all match" "manifest    passed   8 files listed, 8 hashed (8.01 MiB): all match"
{
	echo '{'
	n=0
	while read -r h f; do
		[ $n -gt 0 ] && echo ','
		printf '  "%s": {"lfs": {"oid": "sha256:%s", "size": %s}}' "$f" "$h" "$(stat -c %s "t/$f")"
		n=$((n + 1))
	done <m.sha
	echo '}'
} >lfs.json
run "$tool" --manifest lfs.json t
expect_rc "LFS objects with sizes: exit 0" 0
sed "s/\"size\": $(stat -c %s "t/$S3")/\"size\": 5/" lfs.json >lfs-size.json
run "$tool" --manifest lfs-size.json t
expect_rc "LFS size differs: exit 1" 1
expect_problem "LFS size differs: said with both sizes" "t/$S3: $(stat -c %s "t/$S3") bytes, the manifest says 5"
{
	printf '{"id": "x/tiny", "siblings": ['
	n=0
	while read -r h f; do
		[ $n -gt 0 ] && printf ', '
		case $f in
		*.safetensors) printf '{"rfilename": "%s", "lfs": {"sha256": "%s", "size": %s}}' "$f" "$h" "$(stat -c %s "t/$f")" ;;
		*) printf '{"rfilename": "%s"}' "$f" ;;
		esac
		n=$((n + 1))
	done <m.sha
	echo ']}'
} >api.json
run "$tool" --manifest api.json t
expect_rc "HF API siblings: exit 0" 0
expect_line "HF API siblings: LFS files hashed, others present" \
	"manifest    passed   8 files listed, 3 hashed (7.99 MiB): all match; 5 without a SHA-256 in the manifest (presence checked)"
sed 's/^\(.\{64\}\)  /\1 */' m.sha >bin.sha
run "$tool" --manifest bin.sha t
expect_rc "sha256sum binary-mode lines: exit 0" 0
(cd t && sha256sum --tag $(ls)) >tag.sha
run "$tool" --manifest tag.sha t
expect_rc "sha256sum --tag lines: exit 0" 0
(cd t && sha256sum ./*) >dot.sha
run "$tool" --manifest dot.sha t
expect_rc "names with ./: exit 0" 0

# manifests that cannot be read: exit 2, one line
printf 'not a manifest\n' >bad.sha
run "$tool" --manifest bad.sha t
expect_rc "malformed manifest: exit 2" 2
expect_err "malformed manifest: message" "ckpt-verify: bad.sha: line 1 is not \"SHA256  NAME\" (sha256sum's format)"
head -n 1 m.sha >dup.sha
head -n 1 m.sha >>dup.sha
run "$tool" --manifest dup.sha t
expect_err "manifest listing a file twice" "ckpt-verify: dup.sha: \"config.json\" is listed twice"
echo "$(head -c 64 m.sha)  ../etc/passwd" >esc.sha
run "$tool" --manifest esc.sha t
expect_err "manifest name leaving the checkpoint" "ckpt-verify: esc.sha: line 1: \"../etc/passwd\" is not a name inside the checkpoint"
run "$tool" --manifest nope.sha t
expect_err "manifest missing" "ckpt-verify: nope.sha: No such file or directory"

# ---- the malformed-input corpus: each case a failed structure check with the reader's message ----
bad=$CKPT_ROOT/fixtures/bad
n=0 good=0
while IFS=$'\t' read -r name msg; do
	n=$((n + 1))
	r=0
	(cd "$bad" && exec "$tool" "$name") >out 2>err </dev/null || r=$?
	if [ "$name" = dir-no-shards ]; then
		# not a checkpoint at all: an input error
		[ $r -eq 2 ] && [ "$(cat err)" = "ckpt-verify: $msg" ] && [ ! -s out ] && good=$((good + 1))
	elif [ $r -eq 1 ] && grep -qxF "  $msg" out && [ ! -s err ] && grep -q '^structure   FAILED' out &&
		(cd "$bad" && exec "$tool" --json "$name") 2>/dev/null </dev/null | "$jsonq" report.checks.0.status >st &&
		[ "$(cat st)" = failed ]; then
		good=$((good + 1))
	else
		echo "# bad $name: exit $r"
		head -n 4 out err | sed 's/^/#   /'
	fi
done <"$bad/EXPECTED"
expect_eq "bad corpus: all $n cases reported with the reader's exact message (and as valid JSON)" "$good" "$n"

# the same corpus inside tar archives: the same messages, paths inside the archive
n=0 good=0
while IFS=$'\t' read -r name msg; do
	case $name in
	dir-no-shards | index-shard-is-directory) continue ;; # no file at all; a directory, not a shard
	symlink-*) continue ;; # links leading out refuse the whole archive (tests/cli/hostile-archives.sh)
	esac
	n=$((n + 1))
	tar cf "$name.tar" -C "$bad" "$name"
	r=0
	"$tool" "$name.tar" >out 2>err </dev/null || r=$?
	if [ $r -eq 1 ] && grep -qxF "  $name.tar/$msg" out; then
		good=$((good + 1))
	else
		echo "# tar of $name: exit $r"
		head -n 4 out err | sed 's/^/#   /'
	fi
	rm -f "$name.tar"
done <"$bad/EXPECTED"
expect_eq "bad corpus in tar archives: all $n cases with the reader's message" "$good" "$n"

# ---- the model check: a tensor removed, a wrong shape, a wrong dtype, a missing scale, an extra tensor ----
mkdir model
cp t/config.json "t/$S2" "t/$S3" model/
"$edit" "t/$S1" "model/$S1" --drop model.layers.0.mlp.up_proj.weight \
	--drop model.layers.0.mlp.down_proj.weight_scale_inv \
	--copy model.layers.0.input_layernorm.weight=model.layers.0.mlp.extra.weight \
	--shape model.layers.0.self_attn.kv_b_proj.weight=256,256 \
	--dtype model.embed_tokens.weight=F16
run "$tool" model
expect_rc "model: exit 1" 1
expect_line "model: summary" "model       FAILED   239 tensors expected from config.json: 2 missing, 1 extra, 1 of a wrong shape, 1 of a wrong dtype"
expect_problem "model: tensor removed" 'tensor "model.layers.0.mlp.up_proj.weight": missing (config.json implies F8_E4M3 [512, 256])'
expect_problem "model: scale missing" 'tensor "model.layers.0.mlp.down_proj.weight_scale_inv": missing (config.json implies F32 [2, 4])'
expect_problem "model: extra tensor" "model/$S1: tensor \"model.layers.0.mlp.extra.weight\": not a tensor of the model config.json describes"
expect_problem "model: wrong shape" "model/$S1: tensor \"model.layers.0.self_attn.kv_b_proj.weight\": shape [256, 256], config.json implies [512, 128]"
expect_problem "model: wrong dtype" "model/$S1: tensor \"model.embed_tokens.weight\": dtype F16, config.json implies BF16"
run "$tool" --json model
expect_eq "model: JSON problem with file and tensor" "$("$jsonq" report.checks.1.problems.0 <out)" \
	"{\"file\":\"model/$S1\",\"tensor\":\"model.embed_tokens.weight\",\"message\":\"dtype F16, config.json implies BF16\"}"
sed 's/"n_routed_experts": 8/"n_routed_experts": 9/; s/"n_group": 4/"n_group": 1/; s/"topk_group": 2/"topk_group": 1/' t/config.json >model/config.json
cp "t/$S1" model/
run "$tool" model
expect_problem "model: config with one more expert: its weights missing" 'tensor "model.layers.1.mlp.experts.8.gate_proj.weight": missing (config.json implies F8_E4M3 [256, 256])'
expect_problem "model: the router's shape follows the config" "model/$S1: tensor \"model.layers.1.mlp.gate.weight\": shape [8, 256], config.json implies [9, 256]"
rm model/config.json
run "$tool" model
expect_line "model: no config.json: skipped" "model       skipped  no config.json: nothing says which tensors the model has"

# ---- --scan ----
run "$tool" --scan t
expect_rc "scan: sound: exit 0" 0
expect_line "scan: summary" "scan        passed   135 tensors, 7678232 values read (104 FP8 dequantized): no NaN or infinity"
cp -r t nan
"$edit" "t/$S1" "nan/$S1" --set model.layers.0.input_layernorm.weight=3=nan --set model.layers.0.input_layernorm.weight=5=-inf \
	--set model.layers.0.mlp.down_proj.weight=7=nan --fill model.layers.1.mlp.gate.e_score_correction_bias=0
run "$tool" --scan nan
expect_rc "scan: NaN and Inf: exit 1" 1
expect_problem "scan: BF16 NaN and infinity counted" "nan/$S1: tensor \"model.layers.0.input_layernorm.weight\": 1 NaN and 1 infinite of 256 values"
expect_problem "scan: FP8 NaN code, dequantized" "nan/$S1: tensor \"model.layers.0.mlp.down_proj.weight\": 1 NaN and 0 infinite of 131072 values (dequantized)"
expect_problem "scan: all-zero tensor flagged (a warning)" "warning: nan/$S1: tensor \"model.layers.1.mlp.gate.e_score_correction_bias\": all 8 values are zero"
expect_line "scan: result" "result: FAILED, 2 problems in 1 check (1 warning)"
run "$tool" --scan --json -j 1 nan
cp out scan1.json
run "$tool" --scan --json -j 2 nan
expect_same "scan: -j 1 and -j 2 give the same JSON" out scan1.json
expect_eq "scan: JSON per tensor" "$("$jsonq" report.checks.2.tensors.2 <scan1.json)" \
	'{"name":"model.layers.0.input_layernorm.weight","values":256,"read":true,"dequantized":false,"nan":1,"inf":1,"all_zero":false}'
"$edit" "t/$S1" "nan/$S1" --set model.layers.0.mlp.down_proj.weight_scale_inv=0=1e38
run "$tool" --scan nan
check "scan: an FP8 block whose scale overflows the product is infinite" \
	grep -q "^  nan/$S1: tensor \"model.layers.0.mlp.down_proj.weight\": 0 NaN and [1-9][0-9]* infinite of 131072 values (dequantized)\$" out

z=$CKPT_ROOT/fixtures/edge/zero-times-huge.safetensors
run timeout 20 "$tool" --scan --against "$z" "$z"
expect_rc "scan and against: tensors of shape [2^64-1, 0] hold nothing to read" 0
expect_line "scan: no values in them" "scan        passed   2 tensors, 0 values read (0 FP8 dequantized): no NaN or infinity"

# ---- --against (in-repo data) ----
run "$tool" --against t --exact "$tiny"
expect_rc "against: itself, exact: exit 0" 0
expect_line "against: summary" "against     passed   135 tensors compared with t (layout hf, exact): 135 bit-identical"
cp -r t one
"$edit" "t/$S1" "one/$S1" --set model.layers.0.mlp.down_proj.weight=300=0.5
run "$tool" --against one --exact t
expect_rc "against: one FP8 value differs: exit 1" 1
check "against: the tensor is named" grep -q "^  t/$S1: tensor \"model.layers.0.mlp.down_proj.weight\": not bit-identical as BF16: 1 of 131072 values differ (first at 300, max abs error " out
expect_line "against: one tensor differs" "against     FAILED   135 tensors compared with one (layout hf, exact): 134 bit-identical, 1 differ; max abs error $(sed -n 's/.*max abs error \([^)]*\)).*/\1/p' out | head -n 1)"
run "$tool" --against one --exact -v t
check "against -v: a table of every tensor" grep -q "^  NAME  *DTYPE  *OTHER  *AS  *IDENTICAL  *VALUES  *MISMATCHES  *MAX_ABS  *MAX_REL\$" out
check "against -v: the row of the differing tensor" grep -q "^  model.layers.0.mlp.down_proj.weight  *F8_E4M3  *F8_E4M3  *BF16  *no  *131072  *1  " out
expect_eq "against -v: one row per tensor" "$(grep -c '^  model\.\|^  lm_head' out)" 135
run "$tool" --against one --atol 1 t
expect_rc "against: within --atol 1: exit 0" 0
run "$tool" --against one --json t
expect_eq "against: JSON row of the differing tensor" "$("$jsonq" report.checks.2.tensors.3.name <out) $("$jsonq" report.checks.2.tensors.3.identical <out) $("$jsonq" report.checks.2.tensors.3.mismatches <out)" \
	"model.layers.0.mlp.down_proj.weight false 1"
run "$tool" --against trunc t
expect_rc "against: OTHER with an unreadable shard: exit 1" 1
expect_problem "against: OTHER's own problem is said" "trunc/$S2: file is truncated: the header describes 2891024 bytes of tensor data, the file holds 990424"
mkdir fewer
cp "t/$S2" "t/$S3" fewer/
run "$tool" --against fewer t
expect_rc "against: tensors missing on one side: exit 1" 1
expect_problem "against: a tensor only here" "t/$S1: tensor \"model.embed_tokens.weight\": not in fewer"

# ---- archives: read as a stream, never extracted ----
tar cf t.tar t
tar czf t.tgz -C t .
archives="t.tar t.tgz"
if command -v zstd >/dev/null; then
	tar --zstd -cf t.tar.zst t
	archives+=" t.tar.zst"
else
	tar cJf t.tar.zst t # the name says zstd, the content is xz: libarchive reads what it finds
	archives+=" t.tar.zst"
fi
for a in $archives; do
	run "$tool" --manifest m.sha "$a"
	expect_rc "archive $a: manifest and structure: exit 0" 0
done
check "archive: structure summary" grep -q "^structure   passed   3 shards, 239 tensors; index: 239 entries, total_size 8345936 = tensor bytes; GNU tar format, \(zstd\|xz\), 8 files\$" out
run "$tool" --write-manifest ma.sha t.tgz
expect_same "archive: its manifest equals the directory's" ma.sha m.sha
tar cf flip.tar -C . swap
tar cf trunc.tar trunc
run "$tool" --manifest m.sha trunc.tar
expect_rc "archive with a truncated shard: exit 1" 1
expect_problem "archive: truncated shard: the reader's message, path inside the archive" \
	"trunc.tar/trunc/$S2: file is truncated: the header describes 2891024 bytes of tensor data, the file holds 990424"
expect_problem "archive: truncated shard: manifest" "trunc.tar/trunc/$S2: SHA-256 is $(sha256sum <"trunc/$S2" | cut -c1-64), the manifest says $(grep "  $S2\$" m.sha | cut -c1-64)"
run "$tool" trunc
sed 's|trunc/|trunc.tar/trunc/|' out | grep '^  ' >dir.lines
run "$tool" trunc.tar
grep '^  ' out >tar.lines
expect_same "archive: the same structure problems as the directory" tar.lines dir.lines
run "$tool" flip.tar
expect_problem "archive: swapped shards found in a tar" \
	"flip.tar/swap/$S2: tensor \"model.embed_tokens.weight\" is here, but the index maps it to $S1"
head -c 3000000 t.tgz >cut.tgz
run "$tool" --manifest m.sha cut.tgz
expect_rc "archive cut short: exit 1" 1
check "archive cut short: said where" grep -q "^  cut.tgz/.*: the archive breaks off in this file: " out
run "$tool" --scan t.tar
expect_rc "archive: --scan refused: exit 2" 2
expect_err "archive: --scan refused: message" "ckpt-verify: t.tar: --scan reads tensor values, which is not done inside an archive (extract it first)"
printf 'not a tar' >junk.tar
run "$tool" junk.tar
expect_rc "not an archive: exit 2" 2
# other layouts inside an archive: not misread as HF; each file checked, the manifest too
"$CKPT_BIN/ckpt-hf-to-sharded" -q --model-parallel 2 "$CKPT_ROOT/fixtures/tiny-v3" mpdir
"$CKPT_BIN/ckpt-hf-to-sharded" -q --layout mindspore-train "$CKPT_ROOT/fixtures/tiny-v3" msdir
tar cf mp.tar mpdir
tar cf ms.tar msdir
"$tool" -q --write-manifest mp.sha mpdir
run "$tool" --manifest mp.sha mp.tar
expect_rc "archive of model-parallel shards: exit 0" 0
expect_has "archive of model-parallel shards: the layout named" "checkpoint  mp.tar (layout dsmp)"
# (the 2 other entries: the run's hidden record and sums)
expect_has "... each file checked, the checks across files not made" \
	"structure   passed   2 .safetensors files, 230 tensors, each file by the safetensors rules (a dsmp checkpoint in an archive: extract it for the checks across files); GNU tar format, 6 files (2 other entries skipped)"
expect_has "... the model check skipped, said why" \
	"model       skipped  a dsmp checkpoint in an archive: its tensors are only put together from the extracted directory (extract it for this check)"
expect_has "... the manifest checked" "manifest    passed   6 files listed, 6 hashed"
mkdir -p mpbad && cp mpdir/* mpbad/
head -c 100000 mpdir/model1-mp2.safetensors >mpbad/model1-mp2.safetensors
tar cf mpbad.tar mpbad
run "$tool" --manifest mp.sha mpbad.tar
expect_rc "archive of model-parallel shards, one truncated: exit 1" 1
expect_problem "... the file's own problem" \
	"mpbad.tar/mpbad/model1-mp2.safetensors: file is truncated: the header describes 2881632 bytes of tensor data, the file holds 89216"
run "$tool" ms.tar
expect_has "archive of MindSpore's training layout: the layout named" "checkpoint  ms.tar (layout mindspore-train)"
run "$tool" --layout dsmp t.tar
expect_has "--layout dsmp on an archive: as asked" "checkpoint  t.tar (layout dsmp)"

# ---- usage and input errors: one line, exit 2 ----
run "$tool"
expect_err "no PATH" "ckpt-verify: no PATH given (see ckpt-verify --help)"
run "$tool" t t
expect_err "two PATHs" "ckpt-verify: one PATH only, not also 't' (see ckpt-verify --help)"
run "$tool" nope
expect_rc "missing PATH: exit 2" 2
expect_err "missing PATH: message" "ckpt-verify: nope: No such file or directory"
mkdir empty
run "$tool" empty
expect_err "not a checkpoint: message" "ckpt-verify: empty: no .safetensors files and no model.safetensors.index.json"
run "$tool" --exact t
expect_err "--exact without --against" "ckpt-verify: --exact, --atol and --rtol only apply with --against (see ckpt-verify --help)"
run "$tool" --against t --exact --rtol 0.1 t
expect_err "--exact with --rtol" "ckpt-verify: --exact and --atol/--rtol do not go together (see ckpt-verify --help)"
run "$tool" --against t --atol -1 t
expect_err "negative tolerance" "ckpt-verify: --atol wants a non-negative number, not '-1' (see ckpt-verify --help)"
run "$tool" --manifest m.sha --write-manifest x t
expect_err "--manifest with --write-manifest" "ckpt-verify: --manifest and --write-manifest do not go together (see ckpt-verify --help)"
run "$tool" --layout nope t
expect_err "unknown layout" "ckpt-verify: unknown layout \"nope\" (known: $("$tool" --layout nope t 2>&1 | sed -n 's/.*known: \(.*\))$/\1/p'))"
run "$tool" --bogus t
expect_err "unknown option" "ckpt-verify: unknown option '--bogus' (see ckpt-verify --help)"
run "$tool" --against nope t
expect_rc "--against a missing path: exit 2" 2
run "$tool" --write-manifest /nonexistent/dir/m.sha t
expect_rc "manifest cannot be written: exit 2" 2

# ---- help, version, man page ----
run "$tool" --help
expect_line "--help: usage" "Usage: ckpt-verify [OPTION]... PATH"
run "$tool" --version
expect_eq "--version" "$(cat out)" "ckpt-verify $(sed -n 's/^VERSION *:= *//p' "$CKPT_ROOT/Makefile")"
if command -v man >/dev/null && command -v groff >/dev/null; then
	run env MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$CKPT_ROOT/man/ckpt-verify.1"
	expect_rc "man page renders" 0
	check "man page: no warnings" test ! -s err
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES; do
		expect_line "man page: section $s" "$s"
	done
fi

# ---- with the golden data: upstream outputs ----
need_golden "golden: upstream outputs"
G=$CKPT_GOLDEN
run "$tool" --manifest "$G/SHA256SUMS" --manifest-root "$G" "$G/tiny-v3"
expect_rc "golden SHA256SUMS with --manifest-root: exit 0" 0
expect_line "golden SHA256SUMS: entries elsewhere ignored" "manifest    passed   8 files listed, 8 hashed (8.01 MiB): all match; 25 entries outside the checkpoint ignored"
run "$tool" --manifest "$G/SHA256SUMS" "$G/tiny-v3"
expect_rc "golden SHA256SUMS without --manifest-root: exit 1" 1
check "golden SHA256SUMS without --manifest-root: a hint" grep -q 'see --manifest-root' out
run "$tool" --manifest "$G/SHA256SUMS" --manifest-root "$G" "$G/tiny-v3.fp8_cast_bf16"
expect_rc "golden: upstream BF16 output against its sums" 0
run "$tool" --against "$G/tiny-v3.fp8_cast_bf16" --exact t
expect_rc "golden: FP8 against upstream's BF16 output passes --exact" 0
expect_line "golden: every tensor bit-identical" "against     passed   135 tensors compared with $G/tiny-v3.fp8_cast_bf16 (layout hf, exact): 135 bit-identical"
mkdir bf
cp "$G"/tiny-v3.fp8_cast_bf16/* bf/
chmod u+w bf/*
# one BF16 value one step (one unit in the last place) away: the lowest bit of element 17
"$CKPT_BIN/ckpt-inspect" --json --match model.norm.weight "bf/$S3" >norm.json
hl=$("$CKPT_BIN/ckpt-inspect" --json --header "bf/$S3" | "$jsonq" header_length)
flip "bf/$S3" $((8 + hl + $("$jsonq" checkpoints.0.tensors.0.data_offsets.0 <norm.json) + 2 * 17)) 0
run "$tool" --against bf --exact t
expect_rc "golden: one BF16 value one step off: --exact fails" 1
check "golden: one step off: the tensor named" \
	grep -q "^  t/$S3: tensor \"model.norm.weight\": not bit-identical as BF16: 1 of 256 values differ (first at 17, max abs error [0-9.e-]*)\$" out
run "$tool" --against bf t
expect_rc "golden: one step off: within the default tolerance" 0
expect_line "golden: one step off: counted as within tolerance" \
	"against     passed   135 tensors compared with bf (layout hf, tolerance): 134 bit-identical, 1 within tolerance; max abs error $(sed -n 's/.*max abs error \([^;]*\)$/\1/p' out)"
run "$tool" --against bf --rtol 0 --atol 0 t
expect_rc "golden: one step off: --rtol 0 --atol 0 fails" 1
"$edit" "$G/tiny-v3.fp8_cast_bf16/$S3" "bf/$S3" --set model.norm.weight=17=100
run "$tool" --against bf t
expect_rc "golden: a value changed a lot: beyond the default tolerance" 1
check "golden: beyond tolerance: the tensor named" grep -q "^  t/$S3: tensor \"model.norm.weight\": 1 of 256 values beyond tolerance" out
run "$tool" --against bf --rtol 200 t
expect_rc "golden: --rtol large enough: exit 0" 0

# a checkpoint whose block scales are stored as BF16 or F8_E8M0 is still a whole model
for spec in scales-bf16 scales-e8m0; do
	"$CKPT_BUILD/dev/ckpt-synth" -q "$CKPT_ROOT/fixtures/specs/$spec.json" "$spec" >/dev/null 2>&1
	run "$tool" "$spec"
	expect_rc "model check: $spec scales are accepted" 0
done
