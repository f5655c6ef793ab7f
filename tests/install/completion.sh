#!/usr/bin/env bash
# completion.sh ROUTECTLD ROUTECTL COMPLETION: the bash completion of
# routectl, sourced in bash, completes commands, options and values; the
# site and service names come from a real routectld (no BIRD: it serves
# status without one) and, with -f, from a fleet document; with no daemon at
# the socket it completes nothing, silently and at once.
source "$(dirname "$0")/../integration/lib.sh"
ROUTECTLD=$1
ROUTECTL=$2
COMPLETION=$3
it_init

# Prints the completions of the command line given as words; the last word is
# the one being completed ("" for a new word).
complete_words() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_routectl || true   # compgen with no match returns 1; bash ignores it
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

# expect WANT WORD...: the completions of WORD... are exactly WANT.
expect() {
	local want=$1 got
	shift
	got=$(complete_words "$@" 2>"$IT_DIR/stderr")
	if [[ $got == "$want" && ! -s $IT_DIR/stderr ]]; then
		ok "'${*}' completes to '$want'"
	else
		not_ok "'${*}' completes to '$got' (want '$want'), stderr: $(cat "$IT_DIR/stderr")"
	fi
}

source "$COMPLETION"
check "the completion registers _routectl for routectl" \
	bash -c 'source "$1"; complete -p routectl | grep -q -- "-F _routectl"' _ "$COMPLETION"

# With no daemon: commands and options, no names, nothing on stderr.
export ROUTECTL_SOCKET=$IT_DIR/routectld.sock
unset ROUTECTL_FLEET
expect "status" "$ROUTECTL" st
expect "drain" "$ROUTECTL" dr
expect "set status" "$ROUTECTL" s
expect "--json" "$ROUTECTL" --j
expect "--dry-run" "$ROUTECTL" drain ash --dr
expect "announce prepend withdraw" "$ROUTECTL" set ash web ""
expect "admin operator viewer" "$ROUTECTL" token new bot ""
expect "--confirm-within" "$ROUTECTL" undrain ash --co
expect "" "$ROUTECTL" drain ""
expect "" "$ROUTECTL" drain ash --service ""
expect "emergency" "$ROUTECTL" em
expect "drain status undrain" "$ROUTECTL" emergency ""
expect "--config" "$ROUTECTL" emergency status --
expect "--config --force --reason --service" "$ROUTECTL" emergency drain --
start=$SECONDS
complete_words "$ROUTECTL" drain "" >/dev/null
check "without a daemon it answers at once" test $((SECONDS - start)) -le 1

# A real routectld: the site and its services from its status.
mkdir -p "$IT_DIR/state"
cat >"$IT_DIR/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "ash", "local-as": 65001,
  "bird": {"control-socket": "$IT_DIR/no-bird.ctl", "include": "$IT_DIR/routectl.conf",
           "bgp-protocol": ["isp"]},
  "state-dir": "$IT_DIR/state", "policy-file": "$IT_POLICY",
  "console": {"socket": "$IT_DIR/routectld.sock"},
  "service": [
    {"name": "web", "ipv4-prefix": ["192.0.2.0/24"]},
    {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"]}]}}
CONF
check "routectld starts (without BIRD)" start_daemon
expect "ash" "$ROUTECTL" drain ""
expect "ash" "$ROUTECTL" --json undrain a
expect "dns web" "$ROUTECTL" drain ash --service ""
expect "web" "$ROUTECTL" drain ash --service w
expect "dns web" "$ROUTECTL" set ash ""
expect "dns= web=" "$ROUTECTL" adopt ash --state ""
# -s on the command line wins over $ROUTECTL_SOCKET.
ROUTECTL_SOCKET=$IT_DIR/elsewhere.sock expect "ash" "$ROUTECTL" -s "$IT_DIR/routectld.sock" drain ""
ROUTECTL_SOCKET=$IT_DIR/elsewhere.sock expect "" "$ROUTECTL" drain ""

# -f: the sites of the fleet document (and ALL for set).
cat >"$IT_DIR/fleet.json" <<'CONF'
{"routectl-fleet:fleet": {"site": [
  {"name": "ash", "router": [{"name": "a1", "api-url": "http://127.0.0.1:1", "token": {"env": "T"}}]},
  {"name": "chi", "router": [{"name": "c1", "api-url": "http://127.0.0.1:1", "token": {"env": "T"}}]}]}}
CONF
expect "ash chi" "$ROUTECTL" -f "$IT_DIR/fleet.json" drain ""
expect "ALL ash chi" "$ROUTECTL" -f "$IT_DIR/fleet.json" set ""
ROUTECTL_FLEET=$IT_DIR/fleet.json expect "chi" "$ROUTECTL" undrain c

it_summary
