#!/usr/bin/env bash
# kill -9 of routectld at random instants during drains and undrains: the
# state file always loads afterwards (old or new state, never a mix, never
# safe mode), and the restarted daemon brings BIRD back in line with it.
# usage: crash-safety.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2
it_init
D=$IT_DIR
ROUNDS=${ROUTECTL_CRASH_ROUNDS:-20}

cat >"$D/site.conf" <<CONF
router id 127.0.0.41;
log "$D/site-bird.log" all;
include "$D/routectl.conf";
CONF
cat >"$D/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "ash", "local-as": 65001,
  "bird": {"control-socket": "$D/site.ctl", "include": "$D/routectl.conf", "configure-timeout": 2,
           "command-timeout-ms": 300, "verify-timeout-ms": 400},
  "state-dir": "$D/state", "policy-file": "$IT_POLICY",
  "console": {"socket": "$D/routectld.sock"},
  "reconcile-interval": 1,
  "service": [
    {"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]},
    {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"]}]}}
CONF
status_field() { rctl --json status | python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
ready() { python3 "$(dirname "$0")/api_request.py" "$D/routectld.sock" GET /readyz | grep -q '^200'; }

start_daemon
start_bird site "$D/site.conf"
check "daemon ready" wait_for 10 ready

bad=0 old=0 new=0 prev=announce
for i in $(seq "$ROUNDS"); do
	if ((i % 2)); then cmd=drain; else cmd=undrain; fi
	rctl "$cmd" ash --now --reason "crash round $i" >/dev/null 2>&1 &
	client=$!
	# somewhere inside the apply: 0 to 25 ms after the request
	sleep "0.0$((RANDOM % 26))"
	kill -KILL "$DAEMON_PID" 2>/dev/null || true
	wait "$client" 2>/dev/null || true
	wait "$DAEMON_PID" 2>/dev/null || true
	start_daemon
	if ! wait_for 10 ready; then
		echo "round $i: daemon not ready after restart:"
		rctl status || true
		bad=$((bad + 1))
		continue
	fi
	web=$(status_field "[s['state'] for s in j['services'] if s['name']=='web'][0]")
	dns=$(status_field "[s['state'] for s in j['services'] if s['name']=='dns'][0]")
	if [[ $web != "$dns" ]]; then
		echo "round $i: a mix: web $web, dns $dns"
		bad=$((bad + 1))
	fi
	if [[ $web == "$prev" ]]; then old=$((old + 1)); else new=$((new + 1)); fi
	prev=$web
done
echo "after the kills: $old rounds kept the old state, $new had the new one"

check "$ROUNDS kill -9 rounds: the state always loads, whole (old or new)" test "$bad" = 0
check "no safe mode after the crashes" bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"safe_mode\": null'"
want=$(status_field "[s['state'] for s in j['services'] if s['name']=='web'][0]")
if [[ $want == withdraw ]]; then expect_reject=yes; else expect_reject=no; fi
# BIRD's running config, asked directly: does routectl_export() reject web?
in_sync() {
	local shown
	shown=$(birdc -s "$D/site.ctl" 'show route 192.0.2.0/24 filter { routectl_export(); accept; }')
	if [[ $expect_reject == yes ]]; then ! grep -q 192.0.2.0 <<<"$shown"; else grep -q 192.0.2.0 <<<"$shown"; fi
}
check "BIRD runs what the state says after the last restart (web $want)" wait_for 10 in_sync
# An undo BIRD had pending from a killed daemon (configure-timeout 2 s) must
# not bring back a state nobody wants.
sleep 3
check "BIRD still runs what the state says once any pending undo is due" in_sync
check "a drain works after the crashes" rctl drain ash --now --reason "after crashes"
check "an undrain works after the crashes" rctl undrain ash --now --reason "after crashes"
it_summary
