#!/usr/bin/env bash
# One command measured: wall time, CPU time (user + system), peak RSS (GNU time -v: the
# largest of the command and every process it waited for) and the most file descriptors
# any one ckpt process of its session held open (sampled from /proc every 0.1 s; 0: it
# ended before the first sample), with the load average before and after.
#   bench/measure.sh OUT CMD [ARG...]
# Writes OUT (that line, then GNU time's report), OUT.out and OUT.err (the command's
# standard output and error; run it under bash -c for a pipeline or a redirection) and
# prints one line:
#   rc wall_s cpu_s rss_kb max_fds load_before load_after
set -u
out=$1
shift
load0=$(cut -d' ' -f1 /proc/loadavg)
setsid /usr/bin/time -v -o "$out.time" "$@" >"$out.out" 2>"$out.err" &
pid=$!
fds=0
while kill -0 "$pid" 2>/dev/null; do
	for p in $(pgrep -s "$pid" 2>/dev/null); do
		case $(cat /proc/"$p"/comm 2>/dev/null) in
		ckpt*) n=$(ls /proc/"$p"/fd 2>/dev/null | wc -l)
			[ "$n" -gt "$fds" ] && fds=$n ;;
		esac
	done
	sleep 0.1
done
wait "$pid"
rc=$?
load1=$(cut -d' ' -f1 /proc/loadavg)
awk -v rc="$rc" -v fds="$fds" -v l0="$load0" -v l1="$load1" '
	/User time/ {u = $NF} /System time/ {s = $NF} /Maximum resident/ {m = $NF}
	/Elapsed \(wall clock\)/ {n = split($NF, a, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + a[i]}
	END {printf "%d %.2f %.2f %d %d %s %s\n", rc, w, u + s, m, fds, l0, l1}' "$out.time" | tee "$out"
cat "$out.time" >>"$out"
