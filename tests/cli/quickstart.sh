#!/usr/bin/env bash
# scripts/quickstart and scripts/deps as a new user runs them, without root or network:
# in a scratch copy of the scripts (fixtures/ and bin/ linked from this tree), with
# stand-ins on PATH for make (200 lines of noise, as a real build prints), dpkg-query, id
# and apt-get (which record how they were called).  Quickstart must build quietly, convert
# the tiny checkpoint (the same bytes as the tool run by hand), and end with its short
# summary; a failed build shows its last lines and stops; deps installs with
# --no-install-recommends, GNU parallel (which brings sysstat) only when asked.
. "$CKPT_ROOT/tests/cli/lib.sh"
mkdir -p q/out stub
cp -r "$CKPT_ROOT/scripts" q/
ln -s "$CKPT_ROOT/fixtures" q/fixtures
ln -s "$CKPT_BIN" q/bin
log=$PWD/calls
# make: noise on both streams, its arguments recorded; MAKE_FAILS=1 ends with an error
cat >stub/make <<'EOF'
#!/bin/sh
echo "make $*" >>"$STUB_LOG"
for i in $(seq 1 100); do echo "cc -O2 -c lib/file$i.c"; echo "note: noise $i" >&2; done
if [ -n "${MAKE_FAILS:-}" ]; then echo "lib/x.c:1:1: error: expected ';'" >&2; exit 2; fi
EOF
# dpkg-query: every package installed, but those in $MISSING
cat >stub/dpkg-query <<'EOF'
#!/bin/sh
for p; do :; done
case " ${MISSING:-} " in *" $p "*) exit 1 ;; esac
printf 'install ok installed'
EOF
printf '#!/bin/sh\necho "${STUB_UID:-1000}"\n' >stub/id
printf '#!/bin/sh\necho "apt-get $*" >>"$STUB_LOG"\n' >stub/apt-get
chmod +x stub/*
export STUB_LOG=$log
stubbed() { PATH="$PWD/stub:$PATH" "$@"; }

"$CKPT_BIN/ckpt-fp8-to-bf16" -q "$tiny" direct
run stubbed q/scripts/quickstart
expect_rc "quickstart: exit 0" 0
tools=$(cd "$CKPT_BIN" && ls | tr '\n' ' ')
expect_eq "quickstart: seven lines on standard output, none on standard error" "$(wc -l <out) $(wc -c <err)" "7 0"
expect_eq "quickstart: what it built" "$(sed -n 1p out)" "quickstart: built ${tools% } in bin/"
expect_eq "quickstart: what it converted and checked" "$(sed -n 2p out)" \
	"quickstart: converted fixtures/tiny-v3 (FP8, 8.4 MB) to out/tiny-v3-bf16 (BF16, 15.4 MB), checked value for value"
expect_eq "quickstart: what to run next" "$(sed -n '3,$p' out | awk '{print $1, $2}' | tr '\n' '|')" \
	"next: |bin/ckpt-inspect out/tiny-v3-bf16|bin/ckpt-verify --forward|make test|man -l|"
check "quickstart: the build's output kept in out/build.log, not shown" \
	eval 'grep -qx "cc -O2 -c lib/file100.c" q/out/build.log && grep -qx "note: noise 100" q/out/build.log && ! grep -q noise out'
expect_eq "quickstart: make run once, on every core" "$(cat "$log")" "make -j$(nproc)"
check "quickstart: out/tiny-v3-bf16 is what ckpt-fp8-to-bf16 writes run by hand" same_tree q/out/tiny-v3-bf16 direct
# every command the summary suggests runs (make test is what runs this)
(cd q && bin/ckpt-inspect out/tiny-v3-bf16 >/dev/null && bin/ckpt-verify --forward out/tiny-v3-bf16 >/dev/null &&
	{ ! command -v man >/dev/null || man -l "$CKPT_ROOT/man/ckpt.1" >/dev/null 2>&1; })
check "quickstart: the commands it suggests run (inspect, verify --forward, man)" [ $? -eq 0 ]
cp out first
run stubbed q/scripts/quickstart
check "quickstart run again: exit 0, the same summary, the output kept" \
	eval '[ $rc -eq 0 ] && cmp -s out first && same_tree q/out/tiny-v3-bf16 direct'

# a failed build: its last lines, one line saying so, exit 2, nothing converted
rm -rf q/out "$log" && mkdir q/out
run env MAKE_FAILS=1 PATH="$PWD/stub:$PATH" q/scripts/quickstart
check "quickstart, the build failing: exit 2, the compiler's error and one line, nothing on stdout or converted" \
	eval '[ $rc -eq 2 ] && [ ! -s out ] && grep -qxF "lib/x.c:1:1: error: expected '"';'"'" err &&
		[ "$(tail -n 1 err)" = "quickstart: the build failed (the last lines above; all of it in out/build.log)" ] &&
		[ "$(wc -l <err)" -eq 21 ] && [ ! -e q/out/tiny-v3-bf16 ]'

# scripts/deps: what apt-get is asked for, as root; what a user is told otherwise
rm -f "$log"
run env MISSING="libarchive-dev pkg-config parallel" STUB_UID=0 PATH="$PWD/stub:$PATH" q/scripts/deps
check "deps as root: installs what is missing with --no-install-recommends, not parallel" \
	eval '[ $rc -eq 0 ] && [ "$(cat "$log")" = "apt-get update -qq
apt-get install -y -qq --no-install-recommends pkg-config libarchive-dev" ] && [ "$(cat err)" = "ckpt: installing pkg-config libarchive-dev (apt-get)" ]'
rm -f "$log"
run env MISSING="parallel" STUB_UID=0 PATH="$PWD/stub:$PATH" q/scripts/deps --with-parallel
expect_eq "deps --with-parallel as root: parallel too" "$(tail -n 1 "$log")" "apt-get install -y -qq --no-install-recommends parallel"
rm -f "$log"
run env MISSING="parallel" STUB_UID=0 PATH="$PWD/stub:$PATH" q/scripts/deps
check "deps: parallel missing but not asked for: nothing to do" eval '[ $rc -eq 0 ] && [ ! -e "$log" ] && [ ! -s err ]'
run env MISSING="libssl-dev" PATH="$PWD/stub:$PATH" q/scripts/deps
expect_rc "deps without root, a package missing: exit 2" 2
expect_err "deps without root: says what to run" \
	"ckpt: missing packages: libssl-dev (run: sudo apt-get install --no-install-recommends libssl-dev)"
run stubbed q/scripts/deps --bogus
expect_rc "deps with an unknown option: exit 2" 2
exit 0
