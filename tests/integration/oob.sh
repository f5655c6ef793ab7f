#!/usr/bin/env bash
# The out-of-band listener and the fleet's --via, against a real routectld
# and real BIRD on loopback:
#  - the primary API address is taken (a socket bound there, not listening:
#    connections to it are refused), and so is the second of two
#    out-of-band addresses: routectld starts anyway, the console and the
#    first out-of-band listener work, status shows the two unbound with the
#    reason (the out-of-band one logged as such), routectl check -f warns,
#    and routectl -f falls back to the out-of-band path (--via primary
#    fails, --via oob and auto answer through it); once the ports are free
#    both bind by themselves;
#  - each listener set has its own tokens: a primary token gets 401 on the
#    out-of-band address, an out-of-band token 401 on the primary one (once
#    the port is free: the primary binds by itself within seconds);
#  - the primary flooded to its connection limit while out-of-band requests
#    are answered, fast;
#  - SIGHUP re-reads the out-of-band token file;
#  - routectl -f FLEET --via oob drain: the upstream BIRD loses the routes,
#    each router says it answered through oob, the audit log and the state
#    say "out-of-band"; a router without oob-url under --via oob is an error
#    for that router, never its primary.
# usage: oob.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
it_init
D=$IT_DIR
SITE_IP=127.0.0.91 UP_IP=127.0.0.92 OOB_IP=127.0.1.91
API_PORT=$((PORT + 10)) OOB_PORT=$((PORT + 11)) OOB_PORT2=$((PORT + 12))
API=http://$SITE_IP:$API_PORT OOB=http://$OOB_IP:$OOB_PORT
PRIMARY_MAX=8

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"
# Two out-of-band addresses; the second one's port is taken at start too.
python3 - "$D/routectld.json" "$SITE_IP" "$API_PORT" "$OOB_IP" "$OOB_PORT" "$D" "$PRIMARY_MAX" \
	"$OOB_PORT2" <<'PY'
import json, sys
path, ip, port, oip, oport, d, pmax, oport2 = sys.argv[1:]
c = json.load(open(path))
r = c["routectl-config:routectld"]
r["api"] = {"listen": [{"address": ip, "port": int(port)}],
            "token-file": d + "/tokens",
            "max-connections": int(pmax), "max-connections-per-address": int(pmax),
            "out-of-band": {"listen": [{"address": oip, "port": int(oport)},
                                       {"address": oip, "port": int(oport2)}],
                            "token-file": d + "/oob-tokens",
                            "max-connections": 16, "max-connections-per-address": 8}}
json.dump(c, open(path, "w"), indent=1)
PY
check "the config with an out-of-band listener passes routectld -n" \
	"$ROUTECTLD" -n -c "$D/routectld.json"

"$ROUTECTL" token new bot operator --token-file "$D/tokens" >"$D/secret-bot"
"$ROUTECTL" token new oncall operator --token-file "$D/oob-tokens" >"$D/secret-oncall"
BOT=$(cat "$D/secret-bot") ONCALL=$(cat "$D/secret-oncall")

call() { python3 "$HERE/http_call.py" "$@"; }
status_of() { call "$@" | jget 'j["status"]'; }

# hold IP PORT NAME: the address taken by a socket bound there, not
# listening, without SO_REUSEADDR, so that routectld's bind fails with
# "Address already in use" and a client's connect is refused, as when the
# chat-ops side is down. (A TIME_WAIT left on the port by an earlier run
# blocks such a bind for up to a minute.) Sets HELD_PID.
hold() {
	python3 -c '
import socket, sys, time
s = socket.socket()
end = time.monotonic() + 70
while True:
    try:
        s.bind((sys.argv[1], int(sys.argv[2])))
        break
    except OSError:
        if time.monotonic() > end:
            raise
        time.sleep(0.5)
open(sys.argv[3], "w").write("bound\n")
time.sleep(600)' "$1" "$2" "$D/$3.ready" &
	HELD_PID=$!
	IT_PIDS+=("$HELD_PID")
	wait_for 75 test -s "$D/$3.ready"
}
hold "$SITE_IP" "$API_PORT" primary-held
PLACEHOLDER=$HELD_PID
hold "$OOB_IP" "$OOB_PORT2" oob-held
OOB_PLACEHOLDER=$HELD_PID

established() { birdc_q up show protocols site | grep -q Established; }
up_has() { birdc_q up show route "$1" protocol site | grep -q "$1"; }
up_lacks() { ! up_has "$1"; }
start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "routectld runs although its primary address cannot be bound" kill -0 "$DAEMON_PID"
check "BGP session established" wait_for 30 established
check "upstream has web from the site" wait_for 20 up_has 192.0.2.0/24

# ---- the primary down, the console and the out-of-band path up ----
rctl --json status >"$D/status1.json"
listener() {   # FILE KIND EXPR
	python3 -c "import json,sys; j=json.load(open(sys.argv[1])); l=[x for x in j['api']['listeners'] if x['kind']==sys.argv[2]][0]; print($3)" "$1" "$2"
}
check "status: the primary listener is not bound" test "$(listener "$D/status1.json" primary 'l["bound"]')" = False
check "status: ... and says why (address in use)" \
	bash -c "[[ \"\$(python3 -c \"import json; j=json.load(open('$D/status1.json')); print([x for x in j['api']['listeners'] if x['kind']=='primary'][0]['error'])\")\" == *'Address already in use'* ]]"
check "status: the out-of-band listener is bound" test "$(listener "$D/status1.json" out-of-band 'l["bound"]')" = True
check "status: addresses and ports as configured" \
	test "$(listener "$D/status1.json" out-of-band '(l["address"], l["port"])')" = "('$OOB_IP', $OOB_PORT)"
check "status: the second out-of-band listener, whose port is taken, is not bound" \
	test "$(python3 -c "import json; j=json.load(open('$D/status1.json')); print([(x['kind'], x['bound']) for x in j['api']['listeners'] if x['port']==$OOB_PORT2])")" = "[('out-of-band', False)]"
check "the log says loudly that an out-of-band listener is down" \
	grep -q "api listen $OOB_IP:$OOB_PORT2: cannot bind: Address already in use; the OUT-OF-BAND listener is DOWN" "$D/routectld.log"
rctl status >"$D/status1.txt"
check "routectl status prints the unbound primary" \
	grep -q "NOT BOUND: primary $SITE_IP:$API_PORT: .*Address already in use" "$D/status1.txt"
check "routectl status prints the unbound out-of-band listener" \
	grep -q "NOT BOUND: out-of-band $OOB_IP:$OOB_PORT2: .*Address already in use" "$D/status1.txt"
check "routectl status does not list the bound out-of-band listener as down" \
	bash -c "! grep -q 'NOT BOUND: out-of-band $OOB_IP:$OOB_PORT:' '$D/status1.txt'"
check "the log says the primary could not bind and routectld runs without it" \
	grep -q "api listen $SITE_IP:$API_PORT: cannot bind: Address already in use; routectld runs without this primary listener" "$D/routectld.log"
check "the log says the out-of-band listener listens" \
	grep -q "api: listening on $OOB_IP:$OOB_PORT (http, out-of-band)" "$D/routectld.log"
check "out-of-band: GET /v1/status with an out-of-band token is 200" \
	test "$(status_of "$OOB" GET /v1/status --token "$ONCALL")" = 200
check "out-of-band: a primary token is refused (401)" \
	test "$(status_of "$OOB" GET /v1/status --token "$BOT")" = 401
check "out-of-band: no token is refused (401)" test "$(status_of "$OOB" GET /v1/status)" = 401

# ---- the fleet: --via ----
python3 - "$D" "$API" "$OOB" <<'PY'
import json, sys
d, api, oob = sys.argv[1:]
r1 = {"name": "ash-r1", "api-url": api, "oob-url": oob,
      "token": {"file": d + "/secret-bot"}, "oob-token": {"file": d + "/secret-oncall"}}
doc = {"routectl-fleet:fleet": {"site": [{"name": "ash", "router": [r1]}]}}
json.dump(doc, open(d + "/fleet.json", "w"), indent=1)
# a second router of ash without an out-of-band endpoint
r2 = {"name": "ash-r2", "api-url": api, "token": {"file": d + "/secret-bot"}}
doc["routectl-fleet:fleet"]["site"][0]["router"].append(r2)
json.dump(doc, open(d + "/fleet2.json", "w"), indent=1)
PY
fleet() {   # FILE ARGS...: output in $OUT, exit code in $RC
	local f=$1
	shift
	RC=0
	OUT=$("$ROUTECTL" -f "$f" "$@" 2>&1) || RC=$?
	printf '$ routectl -f %s %s\n%s\n[exit %s]\n' "${f##*/}" "$*" "$OUT" "$RC" >>"$D/fleet-calls.log"
}
fleet "$D/fleet.json" --via primary status
check "--via primary with the primary down: exit 1, no fallback" test "$RC" = 1
check "... and it names the primary URL" grep -q "$API" <<<"$OUT"
fleet "$D/fleet.json" --json status
check "auto (no --via) with the primary down: exit 0" test "$RC" = 0
check "... answered through oob, and says why the primary was passed over" \
	test "$(jget '(j["routers"][0]["endpoint"], "refused" in (j["routers"][0].get("primary_error") or ""))' <<<"$OUT")" = "('oob', True)"
fleet "$D/fleet.json" --via oob status
check "--via oob status: exit 0" test "$RC" = 0
check "... the router answered via oob" grep -qE 'ash-r1 +ash +oob' <<<"$OUT"
fleet "$D/fleet.json" --via oob check
check "routectl check -f --via oob answers, WARNING (1): the primary listener is not bound" \
	test "$RC" = 1
check "... and the line names it" \
	grep -q "^ROUTECTL WARNING - ash-r1: primary listener $SITE_IP port $API_PORT not bound: .*Address already in use" <<<"$OUT"
fleet "$D/fleet2.json" --via oob --json status
check "--via oob, a router without oob-url: exit 1" test "$RC" = 1
check "... an error for that router naming it, nothing sent to its primary" \
	test "$(jget '[(r["name"], r["endpoint"]) for r in j["routers"]]' <<<"$OUT")" = "[('ash-r1', 'oob'), ('ash-r2', None)]"
check "... the error says it has no oob-url" grep -q "router ash-r2 has no oob-url" <<<"$OUT"

# ---- the primary binds by itself once its port is free ----
kill "$PLACEHOLDER" "$OOB_PLACEHOLDER"
primary_up() { [[ $(status_of "$API" GET /healthz --timeout 2) == 200 ]]; }
check "the primary binds within the retry interval once the port is free" wait_for 12 primary_up
check "the log says it listens now, after failed binds" \
	grep -q "api: listening on $SITE_IP:$API_PORT (http, primary) now, after [0-9]* failed binds" "$D/routectld.log"
rctl --json status >"$D/status2.json"
check "status: the primary listener is bound now" test "$(listener "$D/status2.json" primary '(l["bound"], l["error"])')" = "(True, None)"
second_oob_bound() { [[ $(status_of "http://$OOB_IP:$OOB_PORT2" GET /healthz --timeout 2) == 200 ]]; }
check "the second out-of-band listener binds too" wait_for 12 second_oob_bound
check "primary: a primary token is 200" test "$(status_of "$API" GET /v1/status --token "$BOT")" = 200
check "primary: an out-of-band token is refused (401)" \
	test "$(status_of "$API" GET /v1/status --token "$ONCALL")" = 401
fleet "$D/fleet.json" --via primary status
check "--via primary answers through the primary now" grep -qE 'ash-r1 +ash +primary' <<<"$OUT"
fleet "$D/fleet.json" --via primary check
check "routectl check -f --via primary: OK (0) once every listener is bound" test "$RC" = 0

# ---- a flood on the primary does not slow the out-of-band path ----
python3 "$HERE/oob_flood.py" "$SITE_IP" "$API_PORT" $((2 * PRIMARY_MAX)) 4 "$OOB" "$ONCALL" >"$D/flood.out"
read -r closed asks ok max_ms < <(sed 's/[a-z_]*=//g' "$D/flood.out")
echo "# flood: $(cat "$D/flood.out")"
check "the primary was at its connection limit (the daemon closed flood connections: $closed)" test "$closed" -gt 0
check "every out-of-band request during the flood was answered ($ok of $asks)" test "$ok" = "$asks" -a "$asks" -gt 10
check "the slowest out-of-band answer during the flood took under 500 ms ($max_ms ms)" below "$max_ms" 500

# ---- SIGHUP re-reads the out-of-band tokens ----
"$ROUTECTL" token new late operator --token-file "$D/oob-tokens" >"$D/secret-late"
LATE=$(cat "$D/secret-late")
check "a new out-of-band token is refused before SIGHUP" \
	test "$(status_of "$OOB" GET /v1/status --token "$LATE")" = 401
kill -HUP "$DAEMON_PID"
late_ok() { [[ $(status_of "$OOB" GET /v1/status --token "$LATE") == 200 ]]; }
check "after SIGHUP the new out-of-band token is taken" wait_for 10 late_ok
check "... and it is still refused on the primary" \
	test "$(status_of "$API" GET /v1/status --token "$LATE")" = 401

# ---- a drain through the out-of-band path ----
fleet "$D/fleet.json" --via oob drain ash --now --reason "chat-ops down"
check "--via oob drain: exit 0" test "$RC" = 0
check "... the router says it answered via oob" grep -q "ash-r1 (ash) via oob" <<<"$OUT"
check "the upstream loses web" wait_for 10 up_lacks 192.0.2.0/24
check "the upstream loses dns" wait_for 10 up_lacks 198.51.100.0/24
rctl --json status >"$D/status3.json"
check "the state's actor says the change came out-of-band" \
	bash -c "python3 -c \"import json; j=json.load(open('$D/status3.json')); print(j['services'][0]['actor'])\" | grep -q '^oncall via http (out-of-band) from 127\.'"
check "the audit records of the drain say out_of_band and the actor" \
	python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
d = [r for r in recs if r["action"] == "drain" and r["reason"] == "chat-ops down"]
assert len(d) == 2, d
for r in d:
    assert r["out_of_band"] is True and r["transport"] == "http", r
    assert r["actor"].startswith("oncall via http (out-of-band) from 127."), r
assert d[1]["phase"] == "outcome" and d[1]["result"] == "ok", d[1]
' "$D/state/audit.log"
fleet "$D/fleet.json" --via oob undrain ash --now --reason "chat-ops back"
check "--via oob undrain: exit 0" test "$RC" = 0
check "the upstream has web again" wait_for 10 up_has 192.0.2.0/24
check "the audit records of the console and the primary say out_of_band false" \
	python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert all(r["out_of_band"] is (r["reason"] in ("chat-ops down", "chat-ops back")) for r in recs), recs
' "$D/state/audit.log"

it_summary
