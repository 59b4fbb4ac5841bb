#!/usr/bin/env bash
# The smaller hostile cases of issue 12: hidden files a manifest names (.gitattributes, as
# every hub `siblings` list has), in a directory and in an archive.
. "$CKPT_ROOT/tests/cli/lib.sh"
verify=$CKPT_BIN/ckpt-verify
expect_problem() { expect_line "$1" "  $2"; }
manifest_line() { grep '^manifest ' out; }

# ---- (a) hidden files a manifest names ----
cp -r "$tiny" d
printf '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' >d/.gitattributes
mkdir -p d/.cache/hub d/sub
echo cached >d/.cache/hub/ref
echo nested >d/sub/.keep
(cd d && sha256sum -- * .gitattributes .cache/hub/ref sub/.keep) >hidden.sha
# hidden files the manifest does not name: left out, as before
mkdir d/.git && echo '[core]' >d/.git/config && echo x >d/.unlisted

run "$verify" --manifest hidden.sha d
expect_rc "hidden names listed: exit 0" 0
expect_line "hidden names listed: hashed, unlisted hidden files not counted" \
	"manifest    passed   11 files listed, 11 hashed (8.01 MiB): all match"

echo changed >d/.gitattributes
run "$verify" --manifest hidden.sha d
expect_rc "a listed hidden file that differs: exit 1" 1
expect_problem "a listed hidden file that differs: its hash" \
	"d/.gitattributes: SHA-256 is $(sha256sum <d/.gitattributes | cut -c1-64), the manifest says $(grep ' .gitattributes$' hidden.sha | cut -c1-64)"

rm d/.gitattributes d/.cache/hub/ref
run "$verify" --manifest hidden.sha d
expect_rc "listed hidden files missing: exit 1" 1
expect_problem "listed hidden files missing: .gitattributes" "d/.gitattributes: listed in the manifest, but missing"
expect_problem "listed hidden files missing: one in a hidden directory" "d/.cache/hub/ref: listed in the manifest, but missing"
expect_line "listed hidden files missing: the summary" \
	"manifest    FAILED   11 files listed, 9 hashed (8.01 MiB); 2 missing"

# a listed hidden name that is a directory, or a FIFO, is not a file
mkdir d/.cache/hub/ref
mkfifo d/.gitattributes
run timeout 20 "$verify" --manifest hidden.sha d
expect_problem "a listed hidden name that is a FIFO: missing, not opened" "d/.gitattributes: listed in the manifest, but missing"
expect_problem "a listed hidden name that is a directory: missing" "d/.cache/hub/ref: listed in the manifest, but missing"
rm d/.gitattributes && rmdir d/.cache/hub/ref

# links: inside followed, outside refused as for any listed file
printf '*.safetensors filter=lfs diff=lfs merge=lfs -text\n' >attrs
cp attrs d/.attrs-target
ln -s .attrs-target d/.gitattributes
echo cached >d/.cache/hub/ref
run "$verify" --manifest hidden.sha d
expect_rc "a listed hidden link inside the directory: followed, exit 0" 0
rm d/.gitattributes && ln -s ../attrs d/.gitattributes
run "$verify" --manifest hidden.sha d
expect_rc "a listed hidden link leading out: exit 2" 2
expect_err "a listed hidden link leading out: the confinement message" \
	"ckpt-verify: d/.gitattributes: symbolic link to \"../attrs\" leads outside the checkpoint directory (CKPT_FOLLOW_SYMLINKS=1 follows it)"
rm d/.gitattributes d/.attrs-target && cp attrs d/.gitattributes
# a hidden directory reached through a link is not walked into, as in a listing
mv d/.cache d/.cache-real && ln -s .cache-real d/.cache
run "$verify" --manifest hidden.sha d
expect_problem "a listed file below a linked hidden directory: missing" "d/.cache/hub/ref: listed in the manifest, but missing"
rm d/.cache && mv d/.cache-real d/.cache

# --manifest-root: names one directory up
(cd d && sha256sum -- * .gitattributes .cache/hub/ref sub/.keep) | sed 's#  #  d/#' >up.sha
run "$verify" --manifest up.sha --manifest-root . d
expect_line "--manifest-root with hidden names" "manifest    passed   11 files listed, 11 hashed (8.01 MiB): all match"

# the hub's siblings list: .gitattributes and README.md have no LFS hash, presence checked
python3 - d >hub.json <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
sib = []
for n in sorted(f for f in os.listdir(d) if not f.startswith('.') and os.path.isfile(os.path.join(d, f))) + ['.gitattributes']:
    e = {'rfilename': n}
    if n.endswith('.safetensors'):
        b = open(os.path.join(d, n), 'rb').read()
        e['lfs'] = {'sha256': hashlib.sha256(b).hexdigest(), 'size': len(b)}
    sib.append(e)
print(json.dumps({'siblings': sib}))
EOF
run "$verify" --manifest hub.json d
expect_line "hub siblings with .gitattributes" \
	"manifest    passed   9 files listed, 3 hashed (7.99 MiB): all match; 6 without a SHA-256 in the manifest (presence checked)"
mv d/.gitattributes attrs.away
run "$verify" --manifest hub.json d
expect_problem "hub siblings, .gitattributes absent: missing" "d/.gitattributes: listed in the manifest, but missing"
mv attrs.away d/.gitattributes

# archives: the same, whether the tar has a top directory or not
tar -cf top.tar d
tar -C d -cf flat.tar .
for a in top.tar flat.tar; do
	run "$verify" --manifest hidden.sha $a
	expect_rc "archive $a, hidden names listed: exit 0" 0
	expect_line "archive $a, hidden names listed: hashed" \
		"manifest    passed   11 files listed, 11 hashed (8.01 MiB): all match"
	run "$verify" --manifest hub.json $a
	expect_rc "archive $a, hub siblings: exit 0" 0
done
expect_has "archive: hidden entries still counted as skipped, not as files" "GNU tar format, 8 files (5 other entries skipped)"
echo changed >d/.gitattributes
rm d/.cache/hub/ref
tar -cf changed.tar d
run "$verify" --manifest hidden.sha changed.tar
expect_rc "archive, a listed hidden file differs, one missing: exit 1" 1
expect_problem "archive, a listed hidden file differs" \
	"changed.tar/d/.gitattributes: SHA-256 is $(sha256sum <d/.gitattributes | cut -c1-64), the manifest says $(grep ' .gitattributes$' hidden.sha | cut -c1-64)"
expect_problem "archive, a listed hidden file missing" "changed.tar/d/.cache/hub/ref: listed in the manifest, but missing"
# a hidden entry outside the archive's top directory is not the checkpoint's
mkdir -p outer/d && cp -r d/. outer/d/ && cp attrs outer/.gitattributes && rm outer/d/.gitattributes
tar -C outer -cf outer.tar d .gitattributes
run "$verify" --manifest hidden.sha outer.tar
expect_problem "archive, a hidden entry beside the top directory: not taken for the listed one" \
	"outer.tar/d/.gitattributes: listed in the manifest, but missing"
