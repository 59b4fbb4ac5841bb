#!/usr/bin/env bash
# Hostile safetensors headers and JSON side files (issue 12, items 1 and 5): tensors of more
# dimensions than the reader takes (ST_MAX_DIMS, 8), refused by every tool with one named
# error before any work; tensors of 5 to 8 dimensions read whole (every value scanned,
# full shapes compared); headers and JSON files built to cost quadratic time or memory
# out of proportion to their size.
. "$CKPT_ROOT/tests/cli/lib.sh"
fp8=$CKPT_BIN/ckpt-fp8-to-bf16
sharded=$CKPT_BIN/ckpt-hf-to-sharded
t2i=$CKPT_BIN/ckpt-train-to-infer
inspect=$CKPT_BIN/ckpt-inspect
verify=$CKPT_BIN/ckpt-verify
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
exit 0
