#!/usr/bin/env bash
# HF -> DeepSeek model-parallel files with GNU parallel: one ckpt-hf-to-sharded process per
# rank (--rank I; rank 0 also writes the tokenizer files, config.json and the record).  The
# output is the same as one `ckpt-hf-to-sharded --model-parallel M INPUT_DIR OUTPUT_DIR` run,
# and a re-run resumes (complete rank files are kept).
#
#   scripts/hf-to-sharded-parallel.sh [-P JOBS] [-S SSHLOGINS] INPUT_DIR OUTPUT_DIR --model-parallel M [OPTION...]
#
#   -P JOBS       processes at once on each host (GNU parallel -j; default: one per core)
#   -S SSHLOGINS  hosts to run on, as GNU parallel --sshlogin takes them: "host1,8/host2,:"
#                 (":" is this host).  Every host must see INPUT_DIR and OUTPUT_DIR at the
#                 same absolute paths (a shared file system) and have ckpt-hf-to-sharded on
#                 its PATH.
#   OPTION...     passed to every ckpt-hf-to-sharded call (--n-experts, --config, --force, -j)
#
# CKPT_HF_TO_SHARDED names the tool if it is not ckpt-hf-to-sharded on the PATH.
set -euo pipefail

usage() {
	sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

tool=${CKPT_HF_TO_SHARDED:-ckpt-hf-to-sharded}
jobs=
logins=
while getopts P:S:h o; do
	case $o in
	P) jobs=$OPTARG ;;
	S) logins=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || usage
command -v parallel >/dev/null || { echo "$0: GNU parallel is not installed (Debian: apt-get install parallel)" >&2; exit 2; }
in=$(realpath "$1")
out=$(realpath -m "$2")
shift 2

# the number of ranks, from the options passed on
mp=
for ((i = 1; i <= $#; i++)); do
	case ${!i} in
	--model-parallel=*) mp=${!i#*=} ;;
	--model-parallel) j=$((i + 1)) && mp=${!j:-} ;;
	esac
done
case $mp in
'' | *[!0-9]* | 0) echo "$0: --model-parallel M is required (a positive number)" >&2; exit 2 ;;
esac

args=(--halt now,fail=1 -q)
[ -n "$jobs" ] && args+=(-j "$jobs")
[ -n "$logins" ] && args+=(--sshlogin "$logins")
seq 0 $((mp - 1)) | parallel "${args[@]}" "$tool" -q "$@" --rank '{}' "$in" "$out"
