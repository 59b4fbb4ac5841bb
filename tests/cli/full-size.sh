#!/usr/bin/env bash
# The full-size models' tensor counts, on generated headers: ckpt-synth --sparse writes the
# 671B checkpoints' 163 shards as headers with a hole for their data (688 GB that take no
# room), the index and config.json; ckpt-verify and ckpt-inspect read them as they read the
# released files.  DeepSeek-V3: 91,991 tensors; V3.2: 92,425 (V3's and 7 indexer tensors on
# each of the 62 layers, MTP included).
. "$CKPT_ROOT/tests/cli/lib.sh"
specs=$CKPT_ROOT/fixtures/specs

# a file system that cannot keep holes would be filled: try 2 GB first
echo '{"extends": "full-v3.json", "shards": 1, "num_hidden_layers": 4, "first_k_dense_replace": 4, "num_nextn_predict_layers": 0}' >probe.json
sed -i "s#full-v3.json#$specs/full-v3.json#" probe.json
"$synth" -q --sparse probe.json probe >/dev/null 2>&1
if [ "$(du -sk probe | cut -f1)" -gt 65536 ]; then
	skip "full-size headers" "this file system does not keep sparse files ($(du -sh probe | cut -f1) for a 2 GB hole)"
	exit 0
fi
rm -rf probe

run "$synth" -q --sparse "$specs/full-v3.json" v3
expect_rc "V3 671B: headers of 163 shards generated" 0
check "... taking no room for their 688 GB" test "$(du -sk v3 | cut -f1)" -lt 262144
run "$CKPT_BIN/ckpt-verify" v3
expect_line "V3 671B: 91,991 tensors in the headers and the index" \
	"structure   passed   163 shards, 91991 tensors; index: 91991 entries, total_size 688574839360 = tensor bytes"
expect_line "... all the model check expects of its config" \
	"model       passed   DeepSeek-V3: 91991 tensors (45808 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"

run "$synth" -q --sparse "$specs/full-v32.json" v32
expect_rc "V3.2: headers generated" 0
run "$CKPT_BIN/ckpt-verify" v32
expect_line "V3.2: 92,425 tensors in the headers and the index" \
	"structure   passed   163 shards, 92425 tensors; index: 92425 entries, total_size 689471107200 = tensor bytes"
expect_line "... all the model check expects: V3's and 7 x 62 indexer tensors" \
	"model       passed   DeepSeek-V3.2: 92425 tensors (45932 FP8 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
run "$CKPT_BIN/ckpt-inspect" --match '*.indexer.*' v32
expect_line "V3.2: inspect counts the same" "tensors       92425"
expect_line "... and names the family" "model         DeepSeek-V3.2 (family deepseek-v3.2)"
expect_eq "... 62 x 7 indexer tensors: 4 FP8 weights and scales, k_norm (F32), weights_proj (BF16)" \
	"$(grep -c '^model\.layers\.[0-9]*\.self_attn\.indexer\.' out) $(grep -c 'indexer.k_norm.*F32 ' out) $(grep -c 'indexer.weights_proj.weight  *BF16 ' out)" "434 124 62"
# DeepSeek-V4-Flash and V4-Pro as released (../shared/spec/deepseek-v4.md, section a.3: the
# counts of the two metadata dumps): 46 shards, 69,187 tensors; 64 shards, 145,116 tensors
run "$synth" -q --sparse "$specs/full-v4-flash.json" v4f
expect_rc "V4-Flash: headers of 46 shards generated" 0
check "... taking no room for their 160 GB" test "$(du -sk v4f | cut -f1)" -lt 131072
run "$CKPT_BIN/ckpt-verify" v4f
expect_line "V4-Flash: 69,187 tensors in the headers and the index" \
	"structure   passed   46 shards, 69187 tensors; index: 69187 entries, total_size 159609485896 = tensor bytes"
expect_line "... all the model check expects: 43 layers + the MTP block, FP4 experts" \
	"model       passed   DeepSeek-V4-Flash: 69187 tensors (375 FP8 and 33792 FP4 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
run "$CKPT_BIN/ckpt-inspect" --match 'layers.2.attn.*' v4f
expect_line "V4-Flash: inspect counts the same" "tensors       69187"
expect_line "... and names the family" "model         DeepSeek-V4-Flash (family deepseek-v4)"
rm -rf v4f

run "$synth" -q --sparse "$specs/full-v4-pro.json" v4p
expect_rc "V4-Pro: headers of 64 shards generated" 0
run "$CKPT_BIN/ckpt-verify" v4p
expect_line "V4-Pro: 145,116 tensors in the headers and the index" \
	"structure   passed   64 shards, 145116 tensors; index: 145116 entries, total_size 864704792696 = tensor bytes"
expect_line "... all the model check expects: 61 layers + the MTP block, 384 experts" \
	"model       passed   DeepSeek-V4-Pro: 145116 tensors (528 FP8 and 71424 FP4 weights with their scales) as config.json implies: none missing, none extra, shapes and dtypes right"
rm -rf v4p
exit $rc
