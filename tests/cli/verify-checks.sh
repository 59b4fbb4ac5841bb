#!/usr/bin/env bash
# ckpt-verify runs the checks a user asks for: --write-manifest alone is a plain hasher
# (exit 0 on any directory of safetensors, whole model or not, once the manifest is
# written); --checks LIST chooses among the default checks (structure, model, all, none);
# what reads the tensors brings the structure check with it, so that a checkpoint it
# cannot read fails instead of passing with the reading check skipped.
. "$CKPT_ROOT/tests/cli/lib.sh"
V=$CKPT_BIN/ckpt-verify
S1=model-00001-of-00003.safetensors S2=model-00002-of-00003.safetensors S3=model-00003-of-00003.safetensors
sums() { (cd "$1" && find . -type f ! -name '.*' | sed 's|^\./||' | LC_ALL=C sort | xargs -r sha256sum); }
# checks the last report names, in order
checks() { awk '/^[^ ]/ && $1 != "checkpoint" && $1 != "result:" {print $1}' out | tr '\n' ' '; }

# directories that are not a whole model, each its own way
mkdir -p oneshard noconfig noindex missing broken
cp "$tiny/$S1" oneshard/
cp "$tiny"/* noconfig/ && rm noconfig/config.json
cp "$tiny"/* noindex/ && rm noindex/model.safetensors.index.json noindex/$S3
cp "$tiny"/* missing/ && rm missing/$S2
cp "$tiny"/* broken/ && printf 'x' | dd of=broken/$S3 bs=1 seek=3 conv=notrunc status=none
for d in oneshard noconfig noindex missing broken; do
	run "$V" --write-manifest $d.sha256 $d
	check "--write-manifest alone on $d (not a whole model): exit 0, the manifest sha256sum writes" \
		eval '[ $rc -eq 0 ] && [ "$(cat $d.sha256)" = "$(sums $d)" ] && [ "$(checks)" = "manifest-write " ]'
done
run "$V" --write-manifest tiny.sha256 "$tiny"
check "--write-manifest alone on the whole model: exit 0, the same manifest as sha256sum" \
	eval '[ $rc -eq 0 ] && [ "$(cat tiny.sha256)" = "$(sums "$tiny")" ] && [ "$(checks)" = "manifest-write " ]'
expect_line "--write-manifest alone: the report's one check" "manifest-write  passed   tiny.sha256: 8 files, 8.01 MiB hashed"
run "$V" --json --write-manifest j.sha256 missing
check "--write-manifest --json: passed, one check in the report" \
	eval '[ $rc -eq 0 ] && [ "$("$jsonq" report.passed <out)" = true ] && [ "$("$jsonq" report.checks.0.name <out)" = manifest-write ] && ! "$jsonq" report.checks.1 <out >/dev/null 2>&1'

# asking for the checks back
run "$V" --checks all --write-manifest m.sha256 missing
check "--checks all --write-manifest on a model missing a shard: exit 1 (structure, model), the manifest still written" \
	eval '[ $rc -eq 1 ] && [ "$(checks)" = "structure model manifest-write " ] && [ "$(cat m.sha256)" = "$(sums missing)" ]'
run "$V" --checks structure --write-manifest m2.sha256 noconfig
check "--checks structure --write-manifest: structure and hashing only, exit 0" \
	eval '[ $rc -eq 0 ] && [ "$(checks)" = "structure manifest-write " ]'
run "$V" --checks structure,model --write-manifest m3.sha256 broken
check "--checks structure,model --write-manifest on a damaged shard: exit 1" \
	eval '[ $rc -eq 1 ] && [ "$(checks)" = "structure model manifest-write " ]'

# --checks without --write-manifest
run "$V" missing
check "no option on a model missing a shard: structure and model, exit 1" eval '[ $rc -eq 1 ] && [ "$(checks)" = "structure model " ]'
run "$V" --checks structure missing
check "--checks structure on a model missing a shard: structure only, exit 1" eval '[ $rc -eq 1 ] && [ "$(checks)" = "structure " ]'
run "$V" --checks structure noindex
check "--checks structure on shards without index or their third file: exit 0, no model check" \
	eval '[ $rc -eq 0 ] && [ "$(checks)" = "structure " ]'
run "$V" --checks model "$tiny"
check "--checks model brings structure with it: exit 0" eval '[ $rc -eq 0 ] && [ "$(checks)" = "structure model " ]'
run "$V" --checks none --manifest tiny.sha256 "$tiny"
check "--checks none --manifest: the manifest check alone, exit 0" eval '[ $rc -eq 0 ] && [ "$(checks)" = "manifest " ]'
run "$V" --checks none --manifest noindex.sha256 noindex
check "--checks none --manifest on a partial directory: exit 0" eval '[ $rc -eq 0 ] && [ "$(checks)" = "manifest " ]'
printf 'y' | dd of=noindex/$S1 bs=1 seek=2000000 conv=notrunc status=none
run "$V" --checks none --manifest noindex.sha256 noindex
check "--checks none --manifest, a byte changed: exit 1" eval '[ $rc -eq 1 ] && [ "$(checks)" = "manifest " ]'
run "$V" --checks none --scan broken
check "--checks none --scan on a damaged shard: structure runs with the scan, exit 1" \
	eval '[ $rc -eq 1 ] && [ "$(checks)" = "structure scan " ]'

# usage errors
run "$V" --checks none "$tiny"
expect_rc "--checks none alone: exit 2" 2
expect_err "--checks none alone: nothing to do" \
	"ckpt-verify: --checks none leaves nothing to do (add --manifest or --write-manifest) (see ckpt-verify --help)"
for bad in bogus "structure,," "model,bogus" "" "all,model" "Structure"; do
	run "$V" --checks "$bad" "$tiny"
	check "--checks '$bad': exit 2, one line" eval '[ $rc -eq 2 ] && [ "$(cat err)" = "ckpt-verify: --checks wants structure, model, hub (comma-separated), all or none, not '"'$bad'"' (see ckpt-verify --help)" ]'
done
exit 0
