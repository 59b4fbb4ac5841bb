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
#                 same absolute paths (a shared file system), and the tool: at the same
#                 absolute path when it is the one built beside this script, else on its
#                 PATH.
#   OPTION...     passed to every ckpt-hf-to-sharded call (--n-experts, --config, --force, -j)
#
# The tool: $CKPT_HF_TO_SHARDED when set, else ckpt-hf-to-sharded built beside this script
# (../bin), else the one on the PATH.
set -euo pipefail

. "$(dirname "$0")/parallel-common.sh"
find_tool ckpt-hf-to-sharded "${CKPT_HF_TO_SHARDED:-}"

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

seq 0 $((mp - 1)) | parallel "${args[@]}" "$tool" -q "$@" --rank '{}' "$in" "$out"
