#!/usr/bin/env bash
# The library's levels (Makefile's LEVELS, docs/ARCHITECTURE.md): a file includes only
# headers of its own level or below, never upward; and every header a file includes is
# the project's own or a system header, found once.
. "$CKPT_ROOT/tests/cli/lib.sh"
cd "$CKPT_ROOT"
levels=$(sed -n 's/^LEVELS *:= *//p' Makefile)
declare -A level_of
i=0
for d in $levels; do
	for h in "$d"/*.h; do
		[ -e "$h" ] && level_of[$(basename "$h")]=$i
	done
	i=$((i + 1))
done
expect_eq "seven levels" "$i" 7

i=0
bad=()
for d in $levels; do
	for f in "$d"/*.[ch]; do
		while read -r inc; do
			case $inc in */*) inc_base=$(basename "$inc") ;; *) inc_base=$inc ;; esac
			l=${level_of[$inc_base]-}
			if [ -z "$l" ]; then
				bad+=("$f includes \"$inc\", which is no header of the library")
			elif [ "$l" -gt "$i" ]; then
				bad+=("$f includes \"$inc\", a level above its own")
			fi
		done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
	done
	i=$((i + 1))
done
if [ ${#bad[@]} -eq 0 ]; then ok "no file includes upward"; else not_ok "no file includes upward" "${bad[@]}"; fi

# one header per name across the levels (the -I order must never decide)
dups=$(for d in $levels; do ls "$d"/*.h; done | xargs -n1 basename | sort | uniq -d)
expect_eq "header names are unique" "$dups" ""
# nothing left in lib/ itself: every file has a level
loose=$(ls lib/*.[ch] 2>/dev/null)
expect_eq "no file outside a level" "$loose" ""
exit $rc
