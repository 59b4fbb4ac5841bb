#!/usr/bin/env bash
# The GNU parallel recipes, scripts/fp8-to-bf16-parallel.sh and hf-to-sharded-parallel.sh,
# as they are used right after scripts/quickstart: in a scratch copy of scripts/ with the
# tools built beside it (bin/), nothing of ckpt on the PATH and no CKPT_* variable; then
# with the tools on the PATH only; then over two "hosts" (--sshlogin) through a stand-in
# for ssh that runs each job as a remote host would: in a working directory of its own,
# with an environment of its own (PATH=/usr/bin:/bin).  Every output must be the
# single-process tool's bytes.
. "$CKPT_ROOT/tests/cli/lib.sh"
if ! command -v parallel >/dev/null; then
	skip "GNU parallel recipes" "GNU parallel is not installed (scripts/deps --with-parallel)"
	exit 0
fi
"$fp8" -q "$tiny" ref-fp8
"$sharded" -q --model-parallel 2 "$tiny" ref-mp2
# the record names the tool's own options, never how the work was split: equal trees
mkdir -p q r/scripts stub onpath hosts
cp -r "$CKPT_ROOT/scripts" q/
ln -s "$CKPT_BIN" q/bin
cp "$CKPT_ROOT"/scripts/*parallel* r/scripts/
for t in ckpt-fp8-to-bf16 ckpt-hf-to-sharded; do ln -s "$CKPT_BIN/$t" onpath/$t; done
bare=/usr/bin:/bin

# --- built beside the scripts, nothing on the PATH ---
run env -u CKPT_FP8_TO_BF16 PATH=$bare q/scripts/fp8-to-bf16-parallel.sh -P 2 "$tiny" p-fp8
check "fp8-to-bf16-parallel.sh finds the tool built beside it (../bin): exit 0, the one-process bytes" \
	eval '[ $rc -eq 0 ] && same_tree p-fp8 ref-fp8'
run env -u CKPT_HF_TO_SHARDED PATH=$bare q/scripts/hf-to-sharded-parallel.sh -P 2 "$tiny" p-mp2 --model-parallel 2
check "hf-to-sharded-parallel.sh finds the tool built beside it: exit 0, the one-process bytes" \
	eval '[ $rc -eq 0 ] && same_tree p-mp2 ref-mp2'
(cd q/scripts && PATH=$bare ./fp8-to-bf16-parallel.sh "$tiny" ../../p-rel >/dev/null 2>&1)
check "... also run from its own directory by a relative name" same_tree p-rel ref-fp8

# --- on the PATH only ---
run env PATH="$PWD/onpath:$bare" r/scripts/fp8-to-bf16-parallel.sh "$tiny" path-fp8 --drop-mtp
"$fp8" -q --drop-mtp "$tiny" ref-nomtp
check "fp8-to-bf16-parallel.sh with the tool on the PATH only, an option passed on: the one-process bytes" \
	eval '[ $rc -eq 0 ] && same_tree path-fp8 ref-nomtp'
run env PATH="$PWD/onpath:$bare" r/scripts/hf-to-sharded-parallel.sh "$tiny" path-mp2 --model-parallel 2
check "hf-to-sharded-parallel.sh with the tool on the PATH only: the one-process bytes" \
	eval '[ $rc -eq 0 ] && same_tree path-mp2 ref-mp2'

# --- nowhere ---
for s in fp8-to-bf16 hf-to-sharded; do
	run env PATH=$bare r/scripts/$s-parallel.sh "$tiny" none-$s --model-parallel 2
	expect_rc "$s-parallel.sh with no tool beside it nor on the PATH: exit 2" 2
	expect_err "$s-parallel.sh with no tool: says where it looked" \
		"r/scripts/$s-parallel.sh: ckpt-$s not found: neither built beside this script ($PWD/r/bin/ckpt-$s: run make) nor on the PATH"
done
check "... and nothing written" [ ! -e none-fp8-to-bf16 -a ! -e none-hf-to-sharded ]

# --- several hosts: parallel --sshlogin, through a stand-in for ssh ---
# GNU parallel runs "ssh HOST -- exec perl -e ... HEX..." for each job; a host runs that
# with its own shell, in its own working directory, with its own environment
cat >stub/ssh <<EOF
#!/bin/bash
while [ \$# -gt 0 ]; do
	case \$1 in -l|-p|-o|-i|-F) shift 2 ;; -*) shift ;; *) break ;; esac
done
host=\$1
shift
[ "\${1:-}" = -- ] && shift
dir=\$(mktemp -d "$PWD/hosts/\$host.XXXXXX")
echo "\$host" >>"$PWD/hosts.log"
cd "\$dir" && exec env -i HOME="\$dir" PATH=$bare SHELL=/bin/bash TMPDIR="\$dir" bash -c "\$*"
EOF
chmod +x stub/ssh
run env PATH="$PWD/stub:$bare" q/scripts/fp8-to-bf16-parallel.sh -S 1/node1,1/node2 "$tiny" ssh-fp8
check "fp8-to-bf16-parallel.sh -S 1/node1,1/node2: exit 0, the one-process bytes" \
	eval '[ $rc -eq 0 ] && same_tree ssh-fp8 ref-fp8'
expect_eq "... each of the 3 shards on a host, both hosts used" \
	"$(sort hosts.log | uniq -c | awk '{print $2}' | tr '\n' ' ')/$(wc -l <hosts.log)" "node1 node2 /3"
rm -f hosts.log
run env PATH="$PWD/stub:$bare" q/scripts/hf-to-sharded-parallel.sh -S 1/node1,1/node2,: -P 1 "$tiny" ssh-mp2 --model-parallel 2
check "hf-to-sharded-parallel.sh -S 1/node1,1/node2,: (and this host): exit 0, the one-process bytes" \
	eval '[ $rc -eq 0 ] && same_tree ssh-mp2 ref-mp2'
check "... the jobs ran in the hosts' own directories, which they left empty" \
	eval '[ -s hosts.log ] && [ -z "$(find hosts -type f | head -1)" ]'
# a host on which the tool is on no PATH: the recipe's tool found on the local PATH only
run env PATH="$PWD/stub:$PWD/onpath:$bare" r/scripts/fp8-to-bf16-parallel.sh -S 1/node1 "$tiny" ssh-nopath
check "-S with the tool on the local PATH only, a host without it: fails (exit status not 0), says so" \
	eval '[ $rc -ne 0 ] && grep -q "ckpt-fp8-to-bf16: command not found" err'
exit 0
