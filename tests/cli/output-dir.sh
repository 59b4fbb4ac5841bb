#!/usr/bin/env bash
# An output directory the tools cannot use (issue 14, item 11): a read-only one is named
# as the user gave it, "OUTPUT: cannot write here: Permission denied", not through an
# internal file's name; a refusal for lack of space leaves nothing behind, not even the
# run record or the directory it would have made.
#
# Permissions do not stop root: as root the tools run as nobody (setpriv) in a directory
# of their own under /tmp; read-only file systems are read-only bind mounts in a user and
# mount namespace, as small ones are tmpfs mounts (unshare -rm).  Where neither can be
# had, those checks are skipped.
. "$CKPT_ROOT/tests/cli/lib.sh"
"$sharded" -q --layout mindspore-train "$tiny" ms || not_ok "setup: a MindSpore training checkpoint"

# --- read-only directories (permissions) ---
as=()
work=$PWD
if [ "$(id -u)" = 0 ]; then
	if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
		as=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
		work=$(mktemp -d /tmp/ckpt-output-dir.XXXXXX)
		chmod 755 "$work"
		trap 'rm -rf "$work"' EXIT
		cp -r ms "$work/ms"
		chmod -R a+rX "$work/ms"
		"${as[@]}" test -r "$tiny/config.json" -a -x "$fp8" || as=(none)
	else
		as=(none)
	fi
fi
if [ "${as[0]:-}" = none ]; then
	skip "read-only directories" "running as root without setpriv and nobody, or nobody cannot read $tiny"
else
	ro=$work/ro
	mkdir "$ro" && chmod 555 "$ro"
	for c in "fp8-to-bf16|$fp8|$tiny" "hf-to-sharded|$sharded --model-parallel 2|$tiny" \
		"train-to-infer|$t2i|$work/ms"; do
		IFS='|' read -r t cmd in <<<"$c"
		# shellcheck disable=SC2086
		run "${as[@]}" $cmd "$in" "$ro"
		expect_rc "$t into a read-only directory: exit 2" 2
		expect_err "$t into a read-only directory: named as given, not an internal file" \
			"ckpt-$t: $ro: cannot write here: Permission denied"
		check "$t into a read-only directory: nothing written" test -z "$(ls -A "$ro")"
		# shellcheck disable=SC2086
		run "${as[@]}" $cmd "$in" "$ro/out"
		expect_err "$t into a new directory of a read-only one: named" \
			"ckpt-$t: $ro/out: cannot create it: Permission denied"
	done
	# an earlier run's directory, complete but for one shard, made read-only since
	mkdir "$work/done" && chmod 777 "$work/done"
	"${as[@]}" "$fp8" -q "$tiny" "$work/done"
	rm "$work/done/model-00002-of-00003.safetensors"
	chmod 555 "$work/done"
	run "${as[@]}" "$fp8" "$tiny" "$work/done"
	expect_err "a re-run into its own directory, now read-only: named" \
		"ckpt-fp8-to-bf16: $work/done: cannot write here: Permission denied"
	run "${as[@]}" "$verify" --write-manifest "$ro/SHA256SUMS" "$tiny"
	expect_err "verify --write-manifest into a read-only directory: named" \
		"ckpt-verify: $ro: cannot write here: Permission denied"
	chmod 755 "$ro" "$work/done"
fi

if ! unshare -rm true 2>/dev/null; then
	skip "read-only and small file systems" "no user namespaces to mount them in"
	exit 0
fi

# --- a read-only file system ---
mkdir rofs
run unshare -rm sh -c 'mount --bind rofs rofs && mount -o remount,bind,ro rofs && exec "$0" "$1" rofs' "$fp8" "$tiny"
expect_err "a read-only file system: named, with the reason" \
	"ckpt-fp8-to-bf16: rofs: cannot write here: Read-only file system"
check "... nothing written" test -z "$(ls -A rofs)"

# --- not enough space: refused, nothing left behind ---
mkdir mnt
# in_small CMD: CMD (a shell command) run with a 4 MiB tmpfs on mnt; its stderr, status
# and then what mnt holds (every file and directory) in ./out
in_small() {
	unshare -rm sh -c 'mount -t tmpfs -o size=4m tmpfs mnt || exit 99
		mkdir mnt/empty mnt/earlier && : >mnt/earlier/.keep
		'"$1"' 2>err.small; echo "rc=$?"; cd mnt && find . -mindepth 1 | LC_ALL=C sort' \
		"$fp8" "$sharded" "$t2i" "$tiny" ms >out 2>&1
}
space_msg() { grep -qE "^$1: $2: not enough free space: the output needs [0-9.]+ MiB, [0-9.]+ [KM]iB are free\$" err.small; }
listing() { tail -n +2 out | tr '\n' ' '; }

in_small '"$0" "$3" mnt/out'
check "fp8-to-bf16, a new directory: refused, nothing made" eval \
	'space_msg ckpt-fp8-to-bf16 mnt/out && [ "$(head -1 out)" = rc=2 ] && [ "$(listing)" = "./earlier ./earlier/.keep ./empty " ]'
in_small '"$1" --model-parallel 2 "$3" mnt/a/b/out'
check "hf-to-sharded, a new directory two levels down: refused, no level made" eval \
	'space_msg ckpt-hf-to-sharded mnt/a/b/out && [ "$(head -1 out)" = rc=2 ] && [ "$(listing)" = "./earlier ./earlier/.keep ./empty " ]'
in_small '"$2" "$4" mnt/empty'
check "train-to-infer, an empty directory: refused, left empty (no run record)" eval \
	'space_msg ckpt-train-to-infer mnt/empty && [ "$(head -1 out)" = rc=2 ] && [ "$(listing)" = "./earlier ./earlier/.keep ./empty " ]'
in_small '"$0" -q "$3" mnt/earlier'
check "fp8-to-bf16, a directory already holding a file: refused (before --force is asked for)" eval \
	'grep -q "not empty, and not an earlier run" err.small && [ "$(listing)" = "./earlier ./earlier/.keep ./empty " ]'
