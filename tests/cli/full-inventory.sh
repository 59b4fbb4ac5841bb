#!/usr/bin/env bash
# The 671B model's whole inventory at tiny shapes (fixtures/specs/inventory-v3.json: 61
# layers + MTP, 256 experts, 163 shards, 91,991 names, about 100 MB of real values): every
# tool runs on it as on the full model, and costs per tensor do not grow with the number
# of tensors.  The same tools run on a quarter of it (15 layers, 41 shards) in the same
# run: CPU time (user + system, not wall time: the machine may be loaded) may grow at most
# 8 times for 4.5 times the tensors and 4 times the shards (a cost quadratic in either would
# be 16-20 times).  A tensor has the same values in both (the generator seeds by name), so the
# converters' outputs of a sample of tensors must be the same bytes in both.
. "$CKPT_ROOT/tests/cli/lib.sh"
specs=$CKPT_ROOT/fixtures/specs
TIMEFORMAT='%3U %3S'

# cpu_run NAME CMD...: run it (as `run` does), adding its CPU seconds to cpu[NAME]
declare -A cpu
cpu_run() {
	local name=$1 t
	shift
	rc=0
	t=$({ time "$@" >out 2>err; } 2>&1) || rc=$?
	cpu[$name]=$(awk -v a="${cpu[$name]:-0}" -v t="$t" 'BEGIN {split(t, x, " "); printf "%.3f", a + x[1] + x[2]}')
}

for size in quarter full; do
	case $size in
	quarter) sets=(--set num_hidden_layers=15 --set shards=41) tensors=20323 shards=41 ;;
	full) sets=() tensors=91991 shards=163 ;;
	esac
	run "$synth" -q "${sets[@]}" "$specs/inventory-v3.json" $size
	expect_rc "$size: generated" 0

	cpu_run $size "$verify" $size
	expect_rc "$size: ckpt-verify passes" 0
	expect_has "... the structure of $shards shards, $tensors tensors" "structure   passed   $shards shards, $tensors tensors; index: $tensors entries"
	expect_has "... and the model check" "model       passed   DeepSeek-V3: $tensors tensors"
	fp8w=$(sed -n 's/^model .*tensors (\([0-9]*\) FP8 weights.*/\1/p' out)

	cpu_run $size "$inspect" $size
	expect_rc "$size: ckpt-inspect" 0
	expect_line "... counts them" "tensors       $tensors"
	cpu_run $size "$inspect" --json $size
	expect_rc "$size: ckpt-inspect --json" 0

	cpu_run $size "$fp8" -q $size $size-bf16
	expect_rc "$size: ckpt-fp8-to-bf16 into a directory" 0
	run "$verify" $size-bf16
	expect_has "... its output passes ckpt-verify, every FP8 weight and its scale one BF16 weight" \
		"model       passed   DeepSeek-V3: $((tensors - fp8w)) tensors"
	cpu_run $size bash -c "'$fp8' -q $size - >/dev/null"
	expect_rc "$size: ckpt-fp8-to-bf16, a tar stream" 0

	cpu_run $size "$sharded" -q --model-parallel 16 $size $size-mp16
	expect_rc "$size: ckpt-hf-to-sharded --model-parallel 16 into a directory" 0
	check "... 16 rank files" test "$(ls $size-mp16/model*-mp16.safetensors | wc -l)" -eq 16
	cpu_run $size bash -c "'$sharded' -q --model-parallel 16 $size - >/dev/null"
	expect_rc "$size: ckpt-hf-to-sharded --model-parallel 16, a tar stream" 0
	run "$inspect" $size-mp16
	expect_rc "... read back as a model-parallel checkpoint" 0
done

# the same tensors, the same bytes: what the converters made of a sample of names, by
# name, in every output file of the two runs (the MTP layer, 15 in the quarter, left out)
sample() {
	python3 - "$1" <<'EOF'
import glob, hashlib, json, os, re, struct, sys
# embedding, head, final norm; layers 0 (dense), 3 and 14, of their experts 0, 17 and 255
m = re.compile(r'^(model\.)?(embed_tokens|embed|lm_head|head|norm)\.|layers\.(0|3|14)\.')
def keep(name):
    e = re.search(r'\.experts\.(\d+)\.', name)
    return m.search(name) and (not e or e.group(1) in ('0', '17', '255'))
for path in sorted(glob.glob(os.path.join(sys.argv[1], '*.safetensors'))):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        h = json.loads(f.read(n))
        base = 8 + n
        for name in sorted(h):
            if name == '__metadata__' or not keep(name):
                continue
            a, b = h[name]['data_offsets']
            f.seek(base + a)
            print(os.path.basename(path), name, h[name]['dtype'], h[name]['shape'],
                  hashlib.sha256(f.read(b - a)).hexdigest())
EOF
}
for out in bf16 mp16; do
	sample quarter-$out | sed 's/^model-[0-9]*-of-[0-9]*\.safetensors //' | sort >q.$out
	sample full-$out | sed 's/^model-[0-9]*-of-[0-9]*\.safetensors //' | sort >f.$out
	n=$(wc -l <q.$out)
	check "$out: a sample of $n tensors" test "$n" -gt 50
	expect_eq "... the same names, dtypes, shapes and bytes from the quarter and the whole inventory" \
		"$(comm -3 q.$out f.$out | head -n 5)" ""
done

# the cost per tensor: 4.5 times the tensors, at most 8 times the CPU
for size in quarter full; do echo "# $size: ${cpu[$size]} CPU s"; done
check "CPU time grows at most 8 times for 4.5 times the tensors (${cpu[quarter]} s -> ${cpu[full]} s)" \
	awk -v q="${cpu[quarter]}" -v f="${cpu[full]}" 'BEGIN {exit !(f < 8 * (q > 0.05 ? q : 0.05))}'
exit $rc
