#!/usr/bin/env bash
# Every command the README and the man pages' EXAMPLES sections print runs as printed, on
# the bundled fixture, and exits 0.
#
# What is run:
#   README.md     each ```sh (or ```bash) block, as a script; each ``` block without a
#                 language, its lines starting with "$ " (a command shown with its output);
#                 blocks in other languages (the CI recipes' yaml) and commands quoted
#                 inside sentences are not.
#   man/*.1       each .nf ... .fi block of the EXAMPLES section, roff escapes undone.
# A document's blocks run in order as bash scripts (errexit), in a directory of the
# document's own: a stage where each name the examples use stands for something made from
# fixtures/tiny-v3 (DeepSeek-V3, DIR, IN, ckpt, ... the checkpoint; ckpt-bf16, OTHER,
# v3-bf16 its BF16 conversion; ds-mp16, v3-mp16 its model-parallel files; ds3-train its
# MindSpore training layout; SHA256SUMS, hub-sha256.json, ckpt.tar.zst its manifests and
# archive; see stage() below), bin/ the tools under test (also on the PATH), scripts/ a
# copy.  The absolute paths /data/, /nfs/ and /models/ (a shared file system, another
# machine) are taken inside that directory, and ssh is a stand-in that runs the command on
# this host (for --sshlogin and "| ssh HOST tar x").
#
# A block that cannot run here says so on the line before it, with the reason:
#   README:  <!-- examples: not run: REASON -->
#   man:     .\" examples: not run: REASON
# and one that exits with another status documents it: "examples: exit N: REASON".
. "$CKPT_ROOT/tests/cli/lib.sh"
root=$CKPT_ROOT

# ---- extraction: blocks/N.sh, and in blocks.tsv "N <TAB> FILE:LINE <TAB> MARK <TAB> REASON" ----
mkdir blocks
extract_md() { # FILE
	awk -v file="${1#"$root"/}" -v dir=blocks -v start="$(ls blocks | wc -l)" '
	function flush() {
		if (kind == "sh" || (kind == "dollar" && ncmd > 0)) {
			n = start + nb++
			printf "%s", text > (dir "/" n ".sh")
			close(dir "/" n ".sh")
			printf "%d\t%s:%d\t%s\t%s\n", n, file, line, mark, reason >> (dir ".tsv")
		}
	}
	!infence && /^ *```/ {
		infence = 1; line = NR; text = ""; ncmd = 0
		indent = match($0, /```/) - 1
		lang = substr($0, indent + 4); gsub(/[ \t\r]/, "", lang)
		kind = (lang == "sh" || lang == "bash") ? "sh" : lang == "" ? "dollar" : "other"
		mark = "run"; reason = ""
		if (prev ~ /<!-- examples: /) {
			m = prev; sub(/.*<!-- examples: /, "", m); sub(/ *-->.*/, "", m)
			if (m ~ /^not run: /) { mark = "skip"; reason = substr(m, 10) }
			else if (m ~ /^exit [0-9]+: /) { mark = m; sub(/:.*/, "", mark); reason = m; sub(/^exit [0-9]+: /, "", reason) }
		}
		next
	}
	infence && /^ *```/ { infence = 0; flush(); next }
	infence {
		l = substr($0, indent + 1)
		if (kind == "sh") text = text l "\n"
		else if (kind == "dollar" && l ~ /^\$ /) { text = text substr(l, 3) "\n"; ncmd++ }
		next
	}
	/[^ \t]/ { prev = $0 }
	' "$1"
}
extract_man() { # FILE
	awk -v file="${1#"$root"/}" -v dir=blocks -v start="$(ls blocks | wc -l)" '
	function unroff(s) {
		gsub(/\\-/, "-", s); gsub(/\\\(aq/, "\047", s); gsub(/\\\(dq/, "\"", s); gsub(/\\\(ga/, "`", s)
		gsub(/\\f[BIRP]/, "", s); gsub(/\\&/, "", s); gsub(/\\e/, "\\", s)
		return s
	}
	/^\.SH/ { ex = ($0 ~ /^\.SH "?EXAMPLES/) ; next }
	!ex { next }
	/^\.\\" examples: / {
		m = $0; sub(/^\.\\" examples: /, "", m)
		if (m ~ /^not run: /) { mark = "skip"; reason = substr(m, 10) }
		else if (m ~ /^exit [0-9]+: /) { mark = m; sub(/:.*/, "", mark); reason = m; sub(/^exit [0-9]+: /, "", reason) }
		next
	}
	/^\.nf/ { innf = 1; line = NR; text = ""; next }
	/^\.fi/ && innf {
		innf = 0
		n = start + nb++
		printf "%s", text > (dir "/" n ".sh")
		close(dir "/" n ".sh")
		printf "%d\t%s:%d\t%s\t%s\n", n, file, line, mark ? mark : "run", reason >> (dir ".tsv")
		mark = ""; reason = ""
		next
	}
	innf && !/^\./ { text = text unroff($0) "\n" }
	' "$1"
}
: >blocks.tsv
extract_md "$root/README.md"
for m in "$root"/man/*.1; do extract_man "$m"; done

# the extraction found what the documents hold: some block in each, most of them run
for f in README.md man/ckpt.1 man/ckpt-bf16-to-fp8.1 man/ckpt-fp8-to-bf16.1 man/ckpt-hf-to-sharded.1 man/ckpt-inspect.1 \
	man/ckpt-train-to-infer.1 man/ckpt-verify.1; do
	n=$(awk -F'\t' -v f="$f" '$2 ~ "^" f ":" && $3 != "skip"' blocks.tsv | wc -l)
	check "$f: its examples are found, some to run ($n)" [ "$n" -ge 1 ]
done
total=$(wc -l <blocks.tsv) runnable=$(awk -F'\t' '$3 != "skip"' blocks.tsv | wc -l)
check "examples found: $total blocks, $runnable to run" [ "$total" -ge 25 -a "$runnable" -ge 18 ]

# ---- the stage: what the examples' names stand for, made from fixtures/tiny-v3 ----
# stage DIR TEXT: in DIR, every name TEXT (the document's blocks) uses; what the examples
# would have made themselves (a BF16 conversion, model-parallel files) made from DIR's own
# checkpoint, so that an example that writes it again resumes the same conversion
stage() {
	local s=$1 text=$2 t
	need() { grep -qF -e "$1" <<<"$text"; }
	mkdir -p "$s"/{release,data,nfs,models/DeepSeek-V3-bf16,hosts,stub}
	ln -s "$CKPT_BIN" "$s/bin"
	ln -s "$root/fixtures" "$s/fixtures"
	ln -s "$root/man" "$s/man"
	cp -r "$root/scripts" "$s/scripts"
	cp -r "$tiny" "$s/DeepSeek-V3"
	# the checkpoint under every name the examples give it (hard links: inputs are never written)
	for t in DIR IN in ckpt ckpt-fp8 tiny-v3 release/v3-fp8 release/tiny-v3 data/DeepSeek-V3 nfs/V3 nfs/in; do
		cp -al "$s/DeepSeek-V3" "$s/$t"
	done
	if need ckpt-bf16; then "$fp8" -q "$s/ckpt-fp8" "$s/ckpt-bf16"; fi
	if need OTHER; then "$fp8" -q "$s/DIR" "$s/OTHER"; fi
	if need v3-bf16; then "$fp8" -q "$s/DeepSeek-V3" "$s/v3-bf16"; fi
	if need /data/DeepSeek-V3-bf16; then "$fp8" -q "$s/data/DeepSeek-V3" "$s/data/DeepSeek-V3-bf16"; fi
	if need ds-mp16; then "$sharded" -q --model-parallel 2 "$s/DeepSeek-V3" "$s/ds-mp16"; fi
	if need v3-mp16; then "$sharded" -q --model-parallel 2 "$s/DeepSeek-V3" "$s/v3-mp16"; fi
	if need -train; then
		"$sharded" -q --layout mindspore-train "$s/DeepSeek-V3" "$s/ds3-train"
		cp -al "$s/ds3-train" "$s/tiny-train" && rm "$s/tiny-train/config.json"
	fi
	(cd "$tiny" && sha256sum -- *) >"$s/SHA256SUMS"
	cp "$s/SHA256SUMS" "$s/v3.sha256"
	(cd "$s/release" && sha256sum -- v3-fp8/* tiny-v3/*) >"$s/release/SHA256SUMS"
	(cd "$tiny" && printf '{\n' && for t in *; do printf '  "%s": "%s",\n' "$t" "$(sha256sum <"$t" | cut -c1-64)"; done | sed '$s/,$//' && printf '}\n') >"$s/hub-sha256.json"
	tar -C "$tiny" -cf - . | zstd -q >"$s/ckpt.tar.zst"
	cp "$s/ckpt.tar.zst" "$s/v3.tar.zst"
	# ssh HOST CMD...: CMD run by this host's shell in a directory of the host's own, the
	# environment (the tools on the PATH) kept, as the recipes require of each host.  SHELL
	# is set as sshd sets it (the user's login shell): GNU parallel's remote wrapper runs
	# each job with $SHELL, and a CI job's environment may have none
	cat >"$s/stub/ssh" <<'EOF'
#!/bin/bash
while [ $# -gt 0 ]; do case $1 in -l|-p|-o|-i|-F) shift 2 ;; -*) shift ;; *) break ;; esac; done
host=$1
shift
[ "${1:-}" = -- ] && shift
SHELL=$(getent passwd "$(id -u)" | cut -d: -f7)
[ -x "${SHELL:-}" ] || SHELL=/bin/sh
export SHELL
dir=$(mktemp -d "$STAGE_HOSTS/$host.XXXXXX")
cd "$dir" && exec bash -c "$*"
EOF
	chmod +x "$s/stub/ssh"
}

# ---- run each document's blocks in order, in a directory of the document's own (a user
# following the page), under errexit; a pipeline's status is its last command's, as in
# the shell of a user who types it ----
have_parallel=$(command -v parallel >/dev/null && echo yes)
k=0
for doc in $(cut -f2 blocks.tsv | sed 's/:[0-9]*$//' | uniq); do
	k=$((k + 1))
	d=$PWD/doc.$k
	text=$(awk -F'\t' -v f="$doc" '$2 ~ "^" f ":" {print "blocks/" $1 ".sh"}' blocks.tsv | xargs cat)
	stage "$d" "$text" 2>stage.err
	check "$doc: the stage is made from fixtures/tiny-v3" [ ! -s stage.err ]
	while IFS=$'\t' read -r n where mark reason; do
		[ "${where%:*}" = "$doc" ] || continue
		first=$(grep -v '^[[:space:]]*\(#.*\)\{0,1\}$' "blocks/$n.sh" | head -n 1 | cut -c1-70)
		name="$where: $first"
		if [ "$mark" = skip ]; then
			skip "$name" "not run: $reason"
			continue
		fi
		if [ -z "$have_parallel" ] && grep -qw parallel "blocks/$n.sh"; then
			skip "$name" "GNU parallel is not installed (scripts/deps --with-parallel)"
			continue
		fi
		want=0
		case $mark in "exit "*) want=${mark#exit } ;; esac
		sed -e "s#\(^\|[[:space:]=]\)/\(data\|nfs\|models\)/#\1$d/\2/#g" "blocks/$n.sh" >"$d/.example.sh"
		rc=0
		(cd "$d" && STAGE_HOSTS=$d/hosts PATH="$d/stub:$CKPT_BIN:$PATH" \
			bash -c 'set -e; trap '\''echo "examples: failed: $BASH_COMMAND" >&2'\'' ERR; . ./.example.sh' \
			>"$d/.stdout" 2>"$d/.stderr" </dev/null) || rc=$?
		if [ "$rc" -eq "$want" ]; then
			ok "$name (exit $rc)"
		else
			not_ok "$name" "exit status $rc, wanted $want" "$(cat "$d/.example.sh")" "stderr: $(tail -n 5 "$d/.stderr")"
		fi
	done <blocks.tsv
	rm -rf "$d"
done
exit 0
