# What the GNU parallel recipes share (scripts/*-parallel.sh source it, with the caller's
# arguments): the header comment as usage, -P JOBS and -S SSHLOGINS, the check that GNU
# parallel is there, INPUT_DIR and OUTPUT_DIR as absolute paths (in, out; shifted off, the
# tool's options stay in "$@"), and the options for parallel itself (args).

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
