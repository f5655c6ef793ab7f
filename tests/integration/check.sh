#!/usr/bin/env bash
# routectl check against a real routectld and real BIRDs (a site and an
# upstream on loopback): each of the four Nagios codes in a lab state made
# for it, with -s (the console) and -f (a fleet document over the TCP API).
#   OK        every service announced;
#   WARNING   a service drained (withdrawn at the site), a change waiting
#             for its confirmation, a peer filter that ignores routectl;
#   CRITICAL  with -f, a service announced from no site; BIRD stopped;
#   UNKNOWN   with -f, a router that cannot be reached; routectld stopped.
# Each asserts the exit code and the first words of the line.
# usage: check.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
it_init
D=$IT_DIR
SITE_IP=127.0.0.111 UP_IP=127.0.0.112
API_PORT=$((PORT + 10)) CLOSED_PORT=$((PORT + 11))

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"
# The API over TCP too, for routectl -f.
python3 - "$D/routectld.json" "$SITE_IP" "$API_PORT" "$D/tokens" <<'PY'
import json, sys
path, ip, port, tokens = sys.argv[1:5]
c = json.load(open(path))
c["routectl-config:routectld"]["api"] = {"listen": [{"address": ip, "port": int(port)}],
                                         "token-file": tokens}
json.dump(c, open(path, "w"), indent=1)
PY
"$ROUTECTL" token new monitor viewer --token-file "$D/tokens" >"$D/token"
# fleet.json: the one site; fleet-down.json: and a site chi whose router
# does not listen.
python3 - "$D" "$SITE_IP" "$API_PORT" "$CLOSED_PORT" <<'PY'
import json, sys
d, ip, port, closed = sys.argv[1:5]
def router(name, p):
    return {"name": name, "api-url": "http://%s:%s" % (ip, p), "token": {"file": d + "/token"}}
ash = {"name": "ash", "router": [router("ash-r1", port)]}
chi = {"name": "chi", "router": [router("chi-r1", closed)]}
json.dump({"routectl-fleet:fleet": {"site": [ash]}}, open(d + "/fleet.json", "w"))
json.dump({"routectl-fleet:fleet": {"site": [ash, chi]}}, open(d + "/fleet-down.json", "w"))
PY

established() { birdc_q up show protocols site | grep -q Established; }
up_has() { birdc_q up show route "$1" protocol site | grep -q "$1"; }

# rcheck ARGS...: routectl ARGS check; the line in $OUT, the exit code in $RC
rcheck() {
	RC=0
	OUT=$("$ROUTECTL" "$@" check 2>"$D/check.err") || RC=$?
}
# expect_check WHAT CODE WORD [PATTERN]: the last rcheck exited CODE with
# "ROUTECTL WORD - " and, if given, PATTERN in its line.
expect_check() {
	local what=$1 code=$2 word=$3 pat=${4:-}
	if [[ $RC == "$code" && $OUT == "ROUTECTL $word - "* && $(wc -l <<<"$OUT") == 1 ]] &&
		{ [[ -z $pat ]] || grep -q -- "$pat" <<<"$OUT"; }; then
		ok "$what: exit $code, $word"
	else
		not_ok "$what: expected exit $code, ROUTECTL $word${pat:+ and '$pat'}; got exit $RC: $OUT $(cat "$D/check.err")"
	fi
}
# wait_check SECONDS CODE ARGS...: until routectl ARGS check exits CODE
wait_check() {
	local secs=$1 code=$2
	shift 2
	local end=$((SECONDS + secs))
	while ((SECONDS <= end)); do
		rcheck "$@"
		[[ $RC == "$code" ]] && return 0
		sleep 0.1
	done
	return 1
}

start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BGP session established" wait_for 30 established
check "upstream has web from the site" wait_for 15 up_has 192.0.2.0/24
check "upstream has dns from the site" wait_for 15 up_has 198.51.100.0/24

# OK: everything announced, BIRD connected, the peer's filter calls routectl.
wait_check 15 0 -s "$D/routectld.sock" || true
expect_check "-s, all announced" 0 OK "site ash: 2 services announced"
check "the perfdata counts the services" \
	grep -q "| services=2 announced=2 prepended=0 withdrawn=0 unknown=0 sites=1 unreachable=0 pending_confirms=0$" <<<"$OUT"
rcheck -f "$D/fleet.json"
expect_check "-f, all announced" 0 OK "2 services announced from 1 site (1 router)"

# UNKNOWN with -f: a router of the fleet cannot be reached.
rcheck -f "$D/fleet-down.json"
expect_check "-f, chi-r1 unreachable" 3 UNKNOWN "chi-r1: cannot be asked"
check "the perfdata counts the unreachable router" grep -q "unreachable=1" <<<"$OUT"

# WARNING: web drained at ash. One router cannot see the other sites.
check "drain ash --service web --now" rctl drain ash --service web --now --reason x
check "upstream lost web" wait_for 10 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site | grep -q 192.0.2.0"
rcheck -s "$D/routectld.sock"
expect_check "-s, web drained" 1 WARNING "ash: web withdrawn here"
check "the perfdata counts the withdrawn service" grep -q "announced=1 prepended=0 withdrawn=1" <<<"$OUT"

# CRITICAL with -f: the fleet (one site) announces web from no site; with
# chi unreachable too, the CRITICAL outranks the UNKNOWN.
rcheck -f "$D/fleet.json"
expect_check "-f, web announced from no site" 2 CRITICAL "web announced from no site"
rcheck -f "$D/fleet-down.json"
expect_check "-f, web announced from no site that answered, chi unreachable" 2 CRITICAL \
	"web announced from no site that answered"

# WARNING: a change waiting for its confirmation.
check "undrain with --confirm-within" rctl undrain ash --service web --now --reason y --confirm-within 10m
rcheck -s "$D/routectld.sock"
expect_check "-s, a change waits for its confirmation" 1 WARNING "waits for its confirmation"
check "the perfdata counts the pending confirmation" grep -q "pending_confirms=1$" <<<"$OUT"
change=$(rctl --json status | jget "j['pending_confirms'][0]['change_id']")
check "confirm $change" rctl confirm "$change"
rcheck -s "$D/routectld.sock"
expect_check "-s, confirmed and all announced again" 0 OK

# WARNING: the peer's IPv4 export filter no longer calls routectl_export()
# (routectld's checks find the sentinel route exported); then put back.
cp "$D/site.conf" "$D/site.conf.good"
sed -i '/ipv4 {/s/routectl_export(); accept;/accept;/' "$D/site.conf"
birdc_q site configure >/dev/null
wait_check 20 1 -s "$D/routectld.sock" || true
expect_check "-s, a peer filter ignores routectl" 1 WARNING "peer isp: ignores-routectl-export"
cp "$D/site.conf.good" "$D/site.conf"
birdc_q site configure >/dev/null
wait_check 20 0 -s "$D/routectld.sock" || true
expect_check "-s, the peer filter fixed" 0 OK

# CRITICAL: the site's BIRD is stopped (by its PID).
stop_pid "$PID_site"
wait_check 15 2 -s "$D/routectld.sock" || true
expect_check "-s, BIRD stopped" 2 CRITICAL "BIRD not connected"
rcheck -f "$D/fleet.json"
expect_check "-f, BIRD stopped" 2 CRITICAL "ash-r1: BIRD not connected"

# UNKNOWN: routectld is stopped.
stop_pid "$DAEMON_PID"
rcheck -s "$D/routectld.sock"
expect_check "-s, routectld stopped" 3 UNKNOWN "cannot be asked"
rcheck -f "$D/fleet.json"
expect_check "-f, routectld stopped" 3 UNKNOWN "ash-r1: cannot be asked"

# A wrong command line is UNKNOWN to a Nagios plugin, not CRITICAL (2).
rcheck -s "$D/routectld.sock" --reason x
expect_check "a wrong command line" 3 UNKNOWN

it_summary
