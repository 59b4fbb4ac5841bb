#!/usr/bin/env bash
# FP8 -> BF16 with GNU parallel: one ckpt-fp8-to-bf16 process per shard, then --finalize
# writes the index, config.json and the other files.  The output is the same as one
# `ckpt-fp8-to-bf16 INPUT_DIR OUTPUT_DIR` run, and a re-run resumes (complete shards are kept).
#
#   scripts/fp8-to-bf16-parallel.sh [-P JOBS] [-S SSHLOGINS] INPUT_DIR OUTPUT_DIR [OPTION...]
#
#   -P JOBS       processes at once on each host (GNU parallel -j; default: one per core)
#   -S SSHLOGINS  hosts to run on, as GNU parallel --sshlogin takes them: "host1,8/host2,:"
#                 (":" is this host).  Every host must see INPUT_DIR and OUTPUT_DIR at the
#                 same absolute paths (a shared file system), and the tool: at the same
#                 absolute path when it is the one built beside this script, else on its
#                 PATH.
#   OPTION...     passed to every ckpt-fp8-to-bf16 call (e.g. --drop-mtp, --force, --strict)
#
# The tool: $CKPT_FP8_TO_BF16 when set, else ckpt-fp8-to-bf16 built beside this script
# (../bin), else the one on the PATH.
set -euo pipefail

. "$(dirname "$0")/parallel-common.sh"
find_tool ckpt-fp8-to-bf16 "${CKPT_FP8_TO_BF16:-}"

"$tool" --list-shards "$in" |
	parallel "${args[@]}" "$tool" -j 1 --quiet "$@" --shard {} "$in" "$out"
"$tool" "$@" --finalize "$in" "$out"
