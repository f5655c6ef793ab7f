#!/usr/bin/env bash
# `routectl token new NAME ROLE`: without any routectld, prints the secret
# once (the only line on stdout, never on stderr), appends "NAME ROLE
# sha256:HEX" of that secret to the token file (created with mode 0600),
# refuses a name already there (exit 1) and a bad name or role (exit 2),
# leaving the file as it was.
# usage: token-cli.sh ROUTECTLD ROUTECTL PORT_BASE (no port is used)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTL=$2
it_init
D=$IT_DIR
F=$D/tokens

# new OUT_PREFIX ARGS...: runs routectl with ARGS; stdout, stderr and the
# exit status in $D/OUT_PREFIX.{out,err.log,rc} (.log: the end checks
# them for sanitizer reports).
new() {
	local p=$1 rc=0
	shift
	"$ROUTECTL" "$@" >"$D/$p.out" 2>"$D/$p.err.log" || rc=$?
	echo "$rc" >"$D/$p.rc"
}
not_in() { ! grep -qF -- "$1" "$2"; }
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# No daemon anywhere: the console socket given does not exist.
new a -s "$D/nothing.sock" token new chatops operator --token-file "$F"
check "token new exits 0" test "$(cat "$D/a.rc")" = 0
check "stdout is one line" test "$(wc -l <"$D/a.out")" = 1
s1=$(cat "$D/a.out")
check "the secret is rct_ and 43 base64url characters" \
	grep -Eqx 'rct_[A-Za-z0-9_-]{43}' "$D/a.out"
check "the file was created with mode 0600" test "$(stat -c %a "$F")" = 600
check "the file holds the hash line of the secret" \
	test "$(cat "$F")" = "chatops operator sha256:$(sha "$s1")"
check "stderr says the secret is not stored and where the hash went" \
	grep -qF "The secret is not stored anywhere" "$D/a.err.log"
check "stderr names the file" grep -qF "$F" "$D/a.err.log"
check "the secret is not on stderr" not_in "$s1" "$D/a.err.log"
check "the secret is not in the file" not_in "$s1" "$F"

# The file from the environment; a second token is appended.
ROUTECTL_TOKEN_FILE=$F new b token new oob-admin admin
check "second token exits 0" test "$(cat "$D/b.rc")" = 0
s2=$(cat "$D/b.out")
check "a different secret" test "$s1" != "$s2"
check "appended: two lines, the first unchanged" \
	test "$(cat "$F")" = "chatops operator sha256:$(sha "$s1")
oob-admin admin sha256:$(sha "$s2")"
check "still mode 0600" test "$(stat -c %a "$F")" = 600
cp "$F" "$D/before"

# refused: exit, nothing on stdout, file unchanged
refused() {
	local what=$1 rc=$2 msg=$3
	shift 3
	new r "$@"
	if [[ $(cat "$D/r.rc") != "$rc" ]]; then
		not_ok "$what: exit $(cat "$D/r.rc"), not $rc: $(cat "$D/r.err.log")"
	elif [[ -s $D/r.out ]]; then
		not_ok "$what: printed $(cat "$D/r.out")"
	elif ! grep -qF -- "$msg" "$D/r.err.log"; then
		not_ok "$what: stderr lacks '$msg': $(cat "$D/r.err.log")"
	elif ! cmp -s "$F" "$D/before"; then
		not_ok "$what: the file changed"
	else
		ok "$what: exit $rc, $(head -c 160 "$D/r.err.log")"
	fi
}
refused "a name already there" 1 'a token named "chatops" is already there' \
	token new chatops viewer --token-file "$F"
refused "a bad role" 2 'unknown role "root"' token new bob root --token-file "$F"
refused "role none" 2 'unknown role "none"' token new bob none --token-file "$F"
refused "a bad name" 2 'token name "bob smith"' token new "bob smith" viewer --token-file "$F"
refused "a name starting with -" 2 'unknown option' token new -bob viewer --token-file "$F"
refused "no role" 2 'missing the role' token new bob --token-file "$F"
refused "no name" 2 'missing NAME' token new --token-file "$F"
refused "no subcommand" 2 'missing what to do' token --token-file "$F"
refused "another subcommand" 2 'unknown token command "list"' token list --token-file "$F"
refused "an extra argument" 2 'unexpected argument "x"' token new bob viewer x --token-file "$F"
refused "an empty --token-file" 2 '--token-file needs a file path' token new bob viewer --token-file ""
refused "an option of another command" 2 '--reason does not apply to token' \
	token new bob viewer --reason x --token-file "$F"
chmod 0620 "$F"
refused "a group-writable file" 1 "writable by its group" token new bob viewer --token-file "$F"
chmod 0600 "$F"
refused "a directory that does not exist" 1 "$D/none/tokens" \
	token new bob viewer --token-file "$D/none/tokens"

check "help token describes it" sh -c "'$ROUTECTL' help token | grep -q 'token new NAME viewer|operator|admin'"

it_summary
