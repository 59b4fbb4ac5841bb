#!/usr/bin/env bash
# Crash safety: ckpt-fp8-to-bf16 and ckpt-hf-to-sharded killed with SIGKILL at random
# moments (seeded), with -j 1 and -j 2.  After every kill, each file under a final name
# must be complete (equal to an uninterrupted run's file); a run after the kills must
# leave output byte-identical to an uninterrupted run, with no temporary left.
#
# Kills come in chains of up to CHAIN on one output directory (a run resumes a killed run,
# and is killed in its turn), then one run completes it.  One kill in four falls at a
# uniformly random moment of an uninterrupted run's duration, the others at a random
# moment after the run's first temporary file appeared (so that most land mid-write).  A
# run that ends before its kill counts for nothing.  CKPT_CRASH_KILLS sets the total
# (default 64); under the sanitizers (CKPT_SANITIZED=1, set by `make san`) 16.  The seed:
# CKPT_CRASH_SEED.
. "$CKPT_ROOT/tests/cli/lib.sh"
for t in "$synth" "$fp8" "$sharded"; do
	if [ ! -x "$t" ]; then
		skip "crash safety" "$t is not built"
		exit 0
	fi
done
seed=${CKPT_CRASH_SEED:-20261123}
RANDOM=$seed
kills=${CKPT_CRASH_KILLS:-$([ -n "${CKPT_SANITIZED:-}" ] && echo 16 || echo 64)}
CHAIN=4
configs=("fp8 1" "fp8 2" "sharded 1" "sharded 2")

# ~45 MB of FP8 input in 4 shards: 85 MB of BF16 output, 30 MB in two ranks
"$synth" -q --set hidden_size=512 --set moe_intermediate_size=512 --set n_routed_experts=16 \
	--set shards=4 --set values='"cheap"' "$CKPT_ROOT/fixtures/specs/tiny-v3.json" in >/dev/null 2>&1 ||
	{ not_ok "crash safety: ckpt-synth makes the input"; exit 1; }

# the command line of TOOL with J threads writing OUT, in $cmd (started directly, not
# through a function, so that $! is the tool's own process)
command_for() {
	case $1 in
	fp8) cmd=("$fp8" -q -j "$2" in "$3") ;;
	sharded) cmd=("$sharded" -q -j "$2" --model-parallel 2 in "$3") ;;
	esac
}
convert() { command_for "$@"; "${cmd[@]}"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
rand() { echo $(((RANDOM * 32768 + RANDOM) % ($1 > 0 ? $1 : 1))); }
sleep_ms() { sleep "$(($1 / 1000)).$(printf %03d $(($1 % 1000)))"; }

has_tmp() { compgen -G "$1/.*.ckpt-tmp" >/dev/null; }

total=0 midwrite=0
per=$(((kills + ${#configs[@]} - 1) / ${#configs[@]}))
for cfg in "${configs[@]}"; do
	set -- $cfg
	tool=$1 j=$2 name="$1 -j $2"
	ref=ref-$tool-$j
	start=$(now_ms)
	convert "$tool" "$j" "$ref" >/dev/null 2>&1 || { not_ok "crash safety: $name: an uninterrupted run"; continue; }
	dur=$(($(now_ms) - start))
	bad="" n=0 mid=0 chains=0 resumed_ok=0 tries=0
	while [ $n -lt $per ] && [ $tries -lt $((per * 4)) ] && [ -z "$bad" ]; do
		out=k-$tool-$j-$chains
		chains=$((chains + 1))
		for ((c = 0; c < CHAIN && n < per; c++)); do
			tries=$((tries + 1))
			command_for "$tool" "$j" "$out"
			"${cmd[@]}" >/dev/null 2>&1 &
			pid=$!
			if ((tries % 4 == 0)); then
				sleep_ms "$(rand "$dur")"
			else
				# until the first temporary appears (or the run ends), then a while more
				for ((w = 0; w < 2000; w++)); do
					has_tmp "$out" && break
					kill -0 $pid 2>/dev/null || break
					sleep 0.002
				done
				sleep_ms "$(rand $((dur / 3)))"
			fi
			has_tmp "$out" && t=1 || t=0
			kill -9 $pid 2>/dev/null
			wait $pid 2>/dev/null
			st=$?
			[ $st -eq 0 ] && break # it finished first: no kill
			if [ $st -ne 137 ]; then
				bad="run $tries exited with status $st"
				break
			fi
			n=$((n + 1))
			mid=$((mid + t))
			if ! off=$(no_partial "$out" "$ref"); then
				bad="after kill $n: $off is not the uninterrupted run's"
				break
			fi
		done
		convert "$tool" "$j" "$out" >/dev/null 2>&1
		if same_tree "$out" "$ref" && [ "$(tmp_count "$out")" -eq 0 ]; then
			resumed_ok=$((resumed_ok + 1))
		fi
		rm -rf "$out"
	done
	total=$((total + n))
	midwrite=$((midwrite + mid))
	if [ -z "$bad" ]; then
		ok "crash safety: $name: $n SIGKILLs ($mid while a temporary existed), nothing partial under a final name"
	else
		not_ok "crash safety: $name: nothing partial under a final name" "$bad"
	fi
	expect_eq "crash safety: $name: each of $chains runs after the kills ends byte-identical to an uninterrupted run, no temporary left" \
		"$resumed_ok" "$chains"
	rm -rf "$ref"
done
if [ "$total" -ge "$kills" ] && [ "$midwrite" -ge $((total / 2)) ]; then
	ok "crash safety: $total SIGKILLs in all (at least $kills), $midwrite of them mid-write (at least half)"
else
	not_ok "crash safety: $total SIGKILLs in all, $midwrite mid-write" "wanted at least $kills, half of them mid-write"
fi
exit 0
