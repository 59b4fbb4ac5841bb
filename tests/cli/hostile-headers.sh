#!/usr/bin/env bash
# Hostile safetensors headers and JSON side files (issue 12, items 1 and 5): tensors of more
# dimensions than the reader takes (ST_MAX_DIMS, 8), refused by every tool with one named
# error before any work; tensors of 5 to 8 dimensions read whole (every value scanned,
# full shapes compared); headers and JSON files built to cost quadratic time or memory
# out of proportion to their size.
. "$CKPT_ROOT/tests/cli/lib.sh"
edit=${CKPT_BUILD:-$CKPT_ROOT/build}/dev/st-edit

# FILE JSON NDATA: a safetensors file of that header and NDATA zero bytes of data
mkst() {
	local n=${#2}
	printf "$(printf '\\%03o' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)) 0 0 0 0)" >"$1"
	printf '%s' "$2" >>"$1"
	head -c "$3" /dev/zero >>"$1"
}
# N V: "V,V,...,V" (N times)
dims() { local s=$2 i; for ((i = 1; i < $1; i++)); do s+=",$2"; done; echo "$s"; }

# --- more dimensions than the reader takes ---
# every tool, one checkpoint: exit 2, the one message, nothing written
every_tool() { # NAME DIR MESSAGE
	local t prog
	for t in fp8 mp ms t2i inspect; do
		case $t in
		fp8) prog=ckpt-fp8-to-bf16; run "$fp8" "$2" out-$t ;;
		mp) prog=ckpt-hf-to-sharded; run "$sharded" --model-parallel 2 "$2" out-$t ;;
		ms) prog=ckpt-hf-to-sharded; run "$sharded" --layout mindspore-train "$2" out-$t ;;
		t2i) prog=ckpt-train-to-infer; run "$t2i" "$2" out-$t ;;
		inspect) prog=ckpt-inspect; run "$inspect" "$2" ;;
		esac
		if [ "$rc" -eq 2 ] && [ "$(cat err)" = "$prog: $3" ] && [ ! -e "out-$t" ]; then
			ok "$1: $prog $t refuses it, exit 2, nothing written"
		else
			not_ok "$1: $prog $t refuses it, exit 2, nothing written" "exit $rc" "stderr: $(cat err)" \
				"wanted: $prog: $3"
		fi
		rm -rf "out-$t"
	done
	run "$verify" "$2"
	if [ "$rc" -eq 1 ] && grep -qxF "  $3" out; then
		ok "$1: ckpt-verify reports it as a structure problem, exit 1"
	else
		not_ok "$1: ckpt-verify reports it as a structure problem, exit 1" "exit $rc" "$(cat out err)"
	fi
}

mkdir d9
mkst d9/model.safetensors '{"a":{"dtype":"F32","shape":['"$(dims 9 1)"'],"data_offsets":[0,4]}}' 4
every_tool "a tensor of 9 dimensions (the issue's example)" d9 \
	'd9/model.safetensors: tensor "a": 9 dimensions, more than the 8 this tool reads'
mkdir d100
mkst d100/model.safetensors '{"a":{"dtype":"F32","shape":['"$(dims 100 1)"'],"data_offsets":[0,4]}}' 4
every_tool "a tensor of 100 dimensions" d100 \
	'd100/model.safetensors: tensor "a": 100 dimensions, more than the 8 this tool reads'
# behind other tensors, in a checkpoint with an index, one shard of two
mkdir dx
mkst dx/model-00001-of-00002.safetensors '{"b":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]}}' 4
mkst dx/model-00002-of-00002.safetensors '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"z":{"dtype":"U8","shape":['"$(dims 12 1)"'],"data_offsets":[1,2]}}' 2
printf '{"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors","z":"model-00002-of-00002.safetensors"}}' \
	>dx/model.safetensors.index.json
every_tool "a 12-D tensor in the second shard of an indexed checkpoint" dx \
	'dx/model-00002-of-00002.safetensors: tensor "z": 12 dimensions, more than the 8 this tool reads'
# an empty dimension list of 9 zeros is as refused: the count is the limit, not the size
mkdir d9z
mkst d9z/model.safetensors '{"a":{"dtype":"F32","shape":['"$(dims 9 0)"'],"data_offsets":[0,0]}}' 0
run "$inspect" d9z
expect_err "9 dimensions of size 0: refused by the count" \
	'ckpt-inspect: d9z/model.safetensors: tensor "a": 9 dimensions, more than the 8 this tool reads'
# through an archive: the header parsed from the stream is checked the same way
tar cf d9.tar d9
run "$verify" d9.tar
check "a tar holding a 9-D tensor: ckpt-verify reports it, exit 1" \
	eval '[ $rc -eq 1 ] && grep -qxF "  d9.tar/d9/model.safetensors: tensor \"a\": 9 dimensions, more than the 8 this tool reads" out'

# --- 5 to 8 dimensions: accepted, and every value of every dimension read ---
for nd in 5 6 7 8; do
	n=$((1 << nd))
	mkdir -p z$nd nan$nd one$nd
	mkst z$nd/model.safetensors '{"a":{"dtype":"F32","shape":['"$(dims $nd 2)"'],"data_offsets":[0,'$((4 * n))']}}' $((4 * n))
	"$edit" z$nd/model.safetensors nan$nd/model.safetensors --set a=$((n - 1))=nan
	"$edit" z$nd/model.safetensors one$nd/model.safetensors --set a=$((n - 1))=1
	run "$inspect" z$nd
	expect_rc "$nd-D: ckpt-inspect reads it" 0
	run "$verify" --scan nan$nd
	check "$nd-D: --scan finds a NaN in the last of $n values, exit 1" \
		eval '[ $rc -eq 1 ] && grep -qxF "  nan'$nd'/model.safetensors: tensor \"a\": 1 NaN and 0 infinite of '$n' values" out'
	run "$verify" --against one$nd --exact z$nd
	check "$nd-D: --against --exact tells a different last value, exit 1" \
		eval '[ $rc -eq 1 ] && grep -qF "tensor \"a\": not bit-identical as F32: 1 of '$n' values differ (first at '$((n - 1))'" out'
	run "$verify" --against z$nd --exact z$nd
	expect_rc "$nd-D: --against --exact: a tensor equals itself, exit 0" 0
	run "$fp8" nan$nd conv$nd
	run "$verify" --against nan$nd --exact conv$nd
	check "$nd-D: ckpt-fp8-to-bf16 copies it whole (--against --exact the input: identical)" \
		eval '[ $rc -eq 0 ] && grep -qF "1 tensors compared with nan'$nd' (layout hf, exact): 1 bit-identical" out'
done
mkdir w9
mkst w9/model.safetensors '{"a":{"dtype":"F32","shape":[2,2,2,2,9],"data_offsets":[0,576]}}' 576
run "$verify" --against w9 --exact z5
check "--against --exact: [2, 2, 2, 2, 2] and [2, 2, 2, 2, 9] differ in shape, exit 1" \
	eval '[ $rc -eq 1 ] && grep -qxF "  z5/model.safetensors: tensor \"a\": shape [2, 2, 2, 2, 2], but [2, 2, 2, 2, 9] in w9" out'
mkdir w8
mkst w8/model.safetensors '{"a":{"dtype":"F32","shape":[2,2,2,2,2,2,2,3],"data_offsets":[0,1536]}}' 1536
run "$verify" --against w8 --exact z8
check "--against --exact: 8-D shapes differing in the last dimension differ, exit 1" \
	eval '[ $rc -eq 1 ] && grep -qxF "  z8/model.safetensors: tensor \"a\": shape [2, 2, 2, 2, 2, 2, 2, 2], but [2, 2, 2, 2, 2, 2, 2, 3] in w8" out'
# the largest shape text of all fits the messages whole
mkdir big8
mkst big8/model.safetensors '{"a":{"dtype":"U8","shape":[0,'"$(dims 7 18446744073709551615)"'],"data_offsets":[0,0]}}' 0
mkdir big8b
mkst big8b/model.safetensors '{"a":{"dtype":"U8","shape":[0,'"$(dims 6 18446744073709551615)"',18446744073709551614],"data_offsets":[0,0]}}' 0
run "$verify" --against big8b big8
s=18446744073709551615
check "--against: shapes of 8 dimensions of 20 digits are named whole" \
	eval '[ $rc -eq 1 ] && grep -qxF "  big8/model.safetensors: tensor \"a\": shape [0, $s, $s, $s, $s, $s, $s, $s], but [0, $s, $s, $s, $s, $s, $s, 18446744073709551614] in big8b" out'

# --- duplicate checks: linear in the number of names (a quadratic one took 17 s for 100000
# metadata keys; here 200000 must take well under the 60 s allowed, sanitizers or not) ---
export LC_ALL=C
keys() { # N DUP: "k0":"v",... N members, the last one named k0 when DUP is 1
	awk -v n="$1" -v dup="$2" 'BEGIN { for (i = 0; i < n; i++) printf "%s\"k%d\":\"v\"", (i ? "," : ""), (dup && i == n - 1 ? 0 : i) }'
}
mkdir meta
mkst meta/model.safetensors '{"__metadata__":{'"$(keys 200000 0)"'}}' 0
run timeout 60 "$inspect" meta
expect_rc "200000 __metadata__ keys: ckpt-inspect reads them within 60 s" 0
mkdir metadup
mkst metadup/model.safetensors '{"__metadata__":{'"$(keys 200000 1)"'}}' 0
run timeout 60 "$inspect" metadup
expect_err "200000 __metadata__ keys, the last a duplicate: found within 60 s, the named error" \
	'ckpt-inspect: metadup/model.safetensors: __metadata__ has a duplicate key "k0"'
cp -r "$tiny" cfgdup
{ printf '{"model_type":"deepseek_v3",'; keys 200000 1; printf '}'; } >cfgdup/config.json
run timeout 60 "$inspect" cfgdup
col=$(($(wc -c <cfgdup/config.json) - 8))
expect_err "a config.json of 200000 keys, the last a duplicate: found within 60 s, the named error" \
	"ckpt-inspect: cfgdup/config.json: invalid JSON: duplicate key \"k0\" at line 1 column $col"
mkdir wmdup
mkst wmdup/model.safetensors '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}' 1
awk 'BEGIN { printf "{\"weight_map\":{"; for (i = 0; i < 200000; i++) printf "\"t%d\":\"model.safetensors\",", i;
	printf "\"t7\":\"model.safetensors\"}}" }' >wmdup/model.safetensors.index.json
run timeout 60 "$inspect" wmdup
col=$(($(wc -c <wmdup/model.safetensors.index.json) - 25))
expect_err "an index of 200001 weight_map entries, the last a duplicate: found within 60 s, the named error" \
	"ckpt-inspect: wmdup/model.safetensors.index.json: invalid JSON: duplicate key \"t7\" at line 1 column $col"
# MindSpore's param_name_map.json against 300000 tensors (a lookup in the map per tensor
# took minutes)
mkdir msmap
mkst msmap/model.safetensors "$(awk 'BEGIN { printf "{"; for (i = 0; i < 300000; i++)
	printf "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}", (i ? "," : ""), i, i, i + 1; printf "}" }')" 300000
awk 'BEGIN { printf "{"; for (i = 0; i < 299999; i++) printf "%s\"t%d\":\"model.safetensors\"", (i ? "," : ""), i; printf "}" }' \
	>msmap/param_name_map.json
run timeout 60 "$verify" --layout mindspore-train msmap
check "a map of 299999 of 300000 tensors: ckpt-verify names the one left out within 60 s" \
	eval '[ $rc -eq 1 ] && grep -qxF "  msmap/model.safetensors: tensor \"t299999\" is not in param_name_map.json" out'
run timeout 60 "$t2i" msmap conv
check "... ckpt-train-to-infer leaves it out (as upstream) within 60 s" \
	eval '[ $rc -eq 0 ] && grep -qF "1 tensors that param_name_map.json does not list, left out as upstream does: \"t299999\"" err'
rm -rf conv msmap
# a layer number in a name sizes train-to-infer's tables: bounded as config.json's are
mkdir bigl
mkst bigl/model.safetensors '{"model.layers.99999999999.attention_norm.weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' 4
run "$t2i" bigl conv
expect_rc "a tensor of layer 99999999999: ckpt-train-to-infer exit 2" 2
expect_err "a tensor of layer 99999999999: the named error" \
	"ckpt-train-to-infer: bigl: tensor \"model.layers.99999999999.attention_norm.weight\": its layer number is over the limit of 4096 layers"
check "a tensor of layer 99999999999: nothing written" eval '[ ! -e conv ]'
rm -rf bigl

# --- memory per byte of header: the worst text there is, a value every 2 bytes ---
zeros() { # N: "[0,0,...,0]" of 2N + 1 bytes
	{ printf '['; yes '0,' | tr -d '\n' | head -c $((2 * $1 - 2)); printf '0]'; }
}
if [ -n "${CKPT_SANITIZED:-}" ] || [ ! -x /usr/bin/time ]; then
	skip "a 16 MiB header of [0,0,...]: memory" "RSS says nothing under sanitizers (or no /usr/bin/time)"
else
	mkdir zz
	n=$((8 << 20))
	h=$((2 * n + 1))
	{ printf "$(printf '\\%03o' $((h & 255)) $((h >> 8 & 255)) $((h >> 16 & 255)) $((h >> 24 & 255)) 0 0 0 0)"; zeros $n; } \
		>zz/model.safetensors
	rc=0
	/usr/bin/time -f %M -o rss "$inspect" zz >out 2>err || rc=$?
	kb=$(tail -n 1 rss)
	# the file's pages, the tree's text and 28 bytes a value: 16 bytes per byte of header,
	# and a little for the program (it was 56 bytes per byte)
	check "a 16 MiB header of [0,0,...]: refused (exit 2) in $kb KiB, at most 17 bytes per byte of header" \
		eval '[ $rc -eq 2 ] && [ "$kb" -le $((17 * h / 1024 + 16384)) ]'
	expect_err "... with the named error" "ckpt-inspect: zz/model.safetensors: header is an array, not a JSON object"
fi

# --- JSON side files: 64 MiB at most, refused before they are read (sparse files: no disk) ---
JSONLIM="more than the 64 MiB limit for a JSON file"
cp -r "$tiny" bigcfg && truncate -s 1G bigcfg/config.json
cp -r "$tiny" bigidx && truncate -s 1G bigidx/model.safetensors.index.json
for t in inspect fp8 mp t2i; do
	for d in bigcfg bigidx; do
		case $d in
		bigcfg) f=bigcfg/config.json ;;
		bigidx) f=bigidx/model.safetensors.index.json ;;
		esac
		case $t in
		inspect) prog=ckpt-inspect; run timeout 60 "$inspect" $d ;;
		fp8) prog=ckpt-fp8-to-bf16; run timeout 60 "$fp8" $d conv ;;
		mp) prog=ckpt-hf-to-sharded; run timeout 60 "$sharded" --model-parallel 2 $d conv ;;
		t2i) prog=ckpt-train-to-infer; run timeout 60 "$t2i" $d conv ;;
		esac
		if [ "$rc" -eq 2 ] && [ "$(cat err)" = "$prog: $f: 1073741824 bytes, $JSONLIM" ] && [ ! -e conv ]; then
			ok "a 1 GiB $f: $prog refuses it by name, exit 2, nothing written"
		else
			not_ok "a 1 GiB $f: $prog refuses it by name, exit 2, nothing written" "exit $rc" "stderr: $(cat err)"
		fi
		rm -rf conv
	done
done
run timeout 60 "$verify" bigcfg
check "a 1 GiB config.json: ckpt-verify reports it, exit 1" \
	eval '[ $rc -eq 1 ] && grep -qxF "  bigcfg/config.json: 1073741824 bytes, $JSONLIM" out'
run timeout 60 "$sharded" --model-parallel 2 --config bigcfg/config.json "$tiny" conv
expect_err "--config FILE of 1 GiB: the named error" "ckpt-hf-to-sharded: bigcfg/config.json: 1073741824 bytes, $JSONLIM"
rm bigcfg/config.json && truncate -s $((64 << 20)) bigcfg/config.json
run timeout 60 "$inspect" bigcfg
expect_err "a config.json of exactly 64 MiB is read (and is no JSON: zeros)" \
	"ckpt-inspect: bigcfg/config.json: invalid JSON: expected a value at line 1 column 1"
truncate -s $(((64 << 20) + 1)) bigcfg/config.json
run timeout 60 "$inspect" bigcfg
expect_err "one byte more is refused" "ckpt-inspect: bigcfg/config.json: 67108865 bytes, $JSONLIM"
mkdir -p tarbig && cp -r "$tiny" tarbig/ckpt && truncate -s $(((64 << 20) + 1)) tarbig/ckpt/config.json
tar --sparse -cf bigcfg.tar -C tarbig ckpt
run timeout 60 "$verify" bigcfg.tar
check "a tar holding a config.json over 64 MiB: ckpt-verify reports it by name, exit 1" \
	eval '[ $rc -eq 1 ] && grep -qxF "  bigcfg.tar/ckpt/config.json: 67108865 bytes, $JSONLIM" out'

# --- what a tool holds at once: headers and JSON files together (CKPT_MAX_HELD) ---
# tiny-v3's headers: 9136, 9568 and 8400 bytes
HELD="more than the 20000-byte limit (CKPT_MAX_HELD=BYTES sets it)"
msg="$tiny/model-00003-of-00003.safetensors: holding its header of 8400 bytes would bring the headers and JSON files held at once to 27104 bytes, $HELD"
run env CKPT_MAX_HELD=20000 "$inspect" "$tiny"
expect_err "headers of 27104 bytes over a limit of 20000: ckpt-inspect names the shard that would pass it" \
	"ckpt-inspect: $msg"
run env CKPT_MAX_HELD=20000 "$fp8" "$tiny" conv
check "... ckpt-fp8-to-bf16: exit 2, nothing written" [ "$rc" -eq 2 -a ! -e conv ]
expect_err "... ckpt-fp8-to-bf16: the named error" "ckpt-fp8-to-bf16: $msg"
run env CKPT_MAX_HELD=20000 "$sharded" --layout mindspore-train "$tiny" conv
expect_err "... ckpt-hf-to-sharded --layout mindspore-train: the named error" "ckpt-hf-to-sharded: $msg"
run env CKPT_MAX_HELD=20000 "$verify" "$tiny"
check "... ckpt-verify: a structure problem, exit 1" eval '[ $rc -eq 1 ] && grep -qxF "  $msg" out'
run env CKPT_MAX_HELD=27104 "$inspect" "$tiny"
expect_rc "a limit of exactly 27104 bytes: ckpt-inspect reads it" 0
run env CKPT_MAX_HELD=54208 "$verify" --against "$tiny" "$tiny"
expect_rc "--against: two checkpoints, 54208 bytes of headers in all, fit a limit of 54208" 0
run env CKPT_MAX_HELD=54207 "$verify" --against "$tiny" "$tiny"
check "... not a limit of 54207: the other checkpoint's last shard is refused, exit 1" \
	eval '[ $rc -eq 1 ] && grep -qF "model-00003-of-00003.safetensors: holding its header of 8400 bytes would bring the headers and JSON files held at once to 54208 bytes, more than the 54207-byte limit" out'
run env CKPT_MAX_HELD=lots "$inspect" "$tiny"
expect_err "a limit that is not a number of bytes: the named error" \
	"ckpt-inspect: $tiny/model-00001-of-00003.safetensors: CKPT_MAX_HELD=lots is not a number of bytes"
# in an archive the JSON files it keeps count too (files in name order: config.json 1400,
# generation_config.json 87, the shards' headers, then the index, 21953)
mkdir -p tarheld && cp -r "$tiny" tarheld/ckpt
tar --sort=name -cf held.tar -C tarheld ckpt
run env CKPT_MAX_HELD=40000 "$verify" held.tar
check "a tar: the index's 21953 bytes over the limit: ckpt-verify names it, exit 1" \
	eval '[ $rc -eq 1 ] && grep -qxF "  held.tar/ckpt/model.safetensors.index.json: holding its JSON text of 21953 bytes would bring the headers and JSON files held at once to 50544 bytes, more than the 40000-byte limit (CKPT_MAX_HELD=BYTES sets it)" out'
run env CKPT_MAX_HELD=60000 "$verify" held.tar
expect_rc "... within a limit of 60000: verified, exit 0" 0
exit 0
