# What the GNU parallel recipes share (scripts/*-parallel.sh source it, with the caller's
# arguments): the header comment as usage, -P JOBS and -S SSHLOGINS, the check that GNU
# parallel is there, INPUT_DIR and OUTPUT_DIR as absolute paths (in, out; shifted off, the
# tool's options stay in "$@"), the options for parallel itself (args), and find_tool.

# find_tool NAME GIVEN: the tool to run, in $tool: GIVEN when not empty (the recipe's
# environment variable), else the one built beside these scripts (../bin, where make and
# scripts/quickstart put it) as an absolute path, so that hosts reached by --sshlogin run
# the same file, else NAME itself when it is on the PATH (each host then runs its own).
find_tool() {
	local beside
	beside=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bin/$1
	if [ -n "$2" ]; then
		tool=$2
	elif [ -x "$beside" ]; then
		tool=$beside
	elif command -v "$1" >/dev/null; then
		tool=$1
	else
		echo "$0: $1 not found: neither built beside this script ($beside: run make) nor on the PATH" >&2
		exit 2
	fi
}

usage() {
	sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

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

args=(--halt now,fail=1 -q)
if [ -n "$jobs" ]; then args+=(-j "$jobs"); fi
# remote hosts run the same command with the same absolute paths
if [ -n "$logins" ]; then args+=(--sshlogin "$logins"); fi
