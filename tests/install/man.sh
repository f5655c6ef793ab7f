#!/usr/bin/env bash
# man.sh PAGE...: each man page built by scdoc renders without an error:
# `mandoc -T lint -W error` (when mandoc is there) and groff through
# `man --warnings -l` print nothing, and the rendered text has its name and
# the sections a reader looks for. A page broken on purpose must fail the
# same checks.
set -euo pipefail
command -v man >/dev/null || { echo "SKIP: man not found (Debian package man-db)"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/routectl-man.XXXXXX")
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $*"; }

# lint PAGE: 0 when neither mandoc nor groff says anything about it.
lint() {
	local out
	if command -v mandoc >/dev/null; then
		out=$(mandoc -T lint -W error "$1" 2>&1) || { echo "    $out"; return 1; }
		[[ -z $out ]] || { echo "    $out"; return 1; }
	fi
	out=$(LC_ALL=C MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null)
	[[ -z $out ]] || { echo "    $out"; return 1; }
}

for page in "$@"; do
	name=$(basename "$page")
	if lint "$page"; then ok "$name renders without a warning"; else not_ok "$name: warnings above"; fi
	text=$(LC_ALL=C MANWIDTH=80 man -l "$page" 2>/dev/null)
	for section in NAME SYNOPSIS DESCRIPTION FILES "SEE ALSO"; do
		if grep -q "^$section\$" <<<"$text"; then ok "$name has $section"; else not_ok "$name has no section $section"; fi
	done
	if grep -q "^ *${name%.*} - " <<<"$text"; then ok "$name names itself"; else not_ok "$name: no '${name%.*} - ' line"; fi
	{ cat "$page"; printf '.RE\n.zz unknown\n'; } >"$dir/$name"
	if lint "$dir/$name" >/dev/null; then not_ok "a broken $name passes the lint"; else ok "a broken $name fails the lint"; fi
done
((pass > 0)) || { echo "no man pages given"; exit 1; }
echo "install-man: $pass passed, $fail failed"
((fail == 0))
