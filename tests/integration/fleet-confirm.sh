#!/usr/bin/env bash
# Commit-confirm across a fleet, against real routectlds and real BIRDs on
# loopback: two sites (ash with two routers, chi with one), each router a
# BIRD and a routectld serving its API over TCP with a token, and an
# upstream BIRD (isp) peering with all three. Checks that:
#  - routectl -f drain SITE --confirm-within makes one change with one id on
#    every router of the site, and says how to confirm it;
#  - routectl -f status shows that change once, with the routers that wait;
#  - routectl -f confirm ID confirms it at every router (the one that never
#    had it is "not pending there"), and nothing reverts after the deadline
#    (seen from the upstream); a second confirm is fine, an unknown id is not;
#  - an id that names a change already is refused (409) at the API;
#  - a fleet drain nobody confirms reverts on every router at its deadline,
#    and a late confirm says so and exits 1;
#  - a router that cannot be asked during a confirm is named, exit 1.
# usage: fleet-confirm.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
it_init
D=$IT_DIR
UP_IP=127.0.0.120
# router: name site ip api-port
ROUTERS=(
	"ash-r1 ash 127.0.0.121 $((PORT + 11))"
	"ash-r2 ash 127.0.0.122 $((PORT + 12))"
	"chi-r1 chi 127.0.0.123 $((PORT + 13))"
)

# ---- BIRDs, routectlds, tokens ----
up_conf=$D/up.conf
cat >"$up_conf" <<CONF
router id $UP_IP;
log "$D/up-bird.log" all;
CONF
for r in "${ROUTERS[@]}"; do
	read -r name site ip api <<<"$r"
	mkdir -p "$D/$name"
	site_bird_conf "$D/$name/bird.conf" "$ip" "$UP_IP" "$PORT" "$D/$name/routectl.conf" \
		"$D/$name/bird.log"
	cat >>"$up_conf" <<CONF
protocol bgp ${name//-/_} {
	local $UP_IP port $PORT as 65000;
	neighbor $ip port $((PORT + 1)) as 65001;
	multihop;
	strict bind yes;
	connect retry time 1;
	ipv4 { import all; export none; };
	ipv6 { import all; export none; };
}
CONF
	cat >"$D/$name/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "$site", "local-as": 65001,
  "bird": {"control-socket": "$D/$name/bird.ctl", "include": "$D/$name/routectl.conf",
           "bgp-protocol": ["isp"], "configure-timeout": 30, "verify-timeout-ms": 3000},
  "state-dir": "$D/$name/state", "policy-file": "$IT_POLICY",
  "console": {"socket": "$D/$name/routectld.sock"},
  "api": {"listen": [{"address": "$ip", "port": $api}], "token-file": "$D/$name/tokens"},
  "service": [
    {"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]},
    {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"], "ipv6-prefix": ["2001:db8:2::/48"]}]}}
CONF
	"$ROUTECTL" token new fleet operator --token-file "$D/$name/tokens" >"$D/$name/token"
done

start_bird up "$up_conf"
# routectld first: it writes the include that BIRD's config needs
for r in "${ROUTERS[@]}"; do
	read -r name _ <<<"$r"
	"$ROUTECTLD" -c "$D/$name/routectld.json" >>"$D/$name/routectld.log" 2>&1 &
	IT_PIDS+=($!)
	eval "RPID_${name//-/_}=$!"
	wait_for 10 test -S "$D/$name/routectld.sock"
	bird -f -c "$D/$name/bird.conf" -s "$D/$name/bird.ctl" -P "$D/$name/bird.pid" \
		>"$D/$name/bird-stdout.log" 2>&1 &
	IT_PIDS+=($!)
	wait_for 10 test -S "$D/$name/bird.ctl"
done

python3 - "$D/fleet.json" "$D" "${ROUTERS[@]}" <<'EOF'
import json, sys
path, d = sys.argv[1:3]
sites = {}
for r in sys.argv[3:]:
    name, site, ip, api = r.split()
    sites.setdefault(site, []).append({"name": name, "api-url": "http://%s:%s" % (ip, api),
                                       "token": {"file": "%s/%s/token" % (d, name)}})
doc = {"routectl-fleet:fleet": {"site": [{"name": s, "router": r} for s, r in sites.items()]}}
json.dump(doc, open(path, "w"), indent=1)
EOF

# fleet ARGS...: routectl -f fleet.json; output in $OUT, exit code in $RC
fleet() {
	RC=0
	OUT=$("$ROUTECTL" -f "$D/fleet.json" "$@" 2>"$D/stderr") || RC=$?
	OUT+=$(cat "$D/stderr")
	[[ -z ${FLEET_SHOW:-} ]] || printf '$ routectl -f fleet.json %s\n%s\n[exit %s]\n' "$*" "$OUT" "$RC" >&2
}
has() { grep -qE -- "$1" <<<"$OUT"; }
count_is() { [[ $(grep -cE -- "$2" <<<"$OUT") == "$1" ]]; }
rc_is() { [[ $RC == "$1" ]]; }
up_paths_are() {   # N: routes to web's IPv4 prefix the upstream has from routers
	[[ $(birdc -s "$D/up.ctl" show route 192.0.2.0/24 | grep -c 'ash_r1\|ash_r2\|chi_r1') == "$1" ]]
}
status_of() {   # ROUTER EXPR: EXPR of its status (j), asked on its console
	"$ROUTECTL" -s "$D/$1/routectld.sock" --json status | jget "$2"
}
state_is() {    # ROUTER SERVICE STATE
	[[ $(status_of "$1" "[s['state'] for s in j['services'] if s['name'] == '$2'][0]") == "$3" ]]
}
pending_ids() { # ROUTER: the ids of the changes that wait there, sorted
	status_of "$1" "' '.join(sorted(p['change_id'] for p in j['pending_confirms']))"
}
all_connected() {
	for r in "${ROUTERS[@]}"; do
		read -r name _ <<<"$r"
		"$ROUTECTL" -s "$D/$name/routectld.sock" --json status | grep -q '"connected": *true' || return 1
	done
}
check "every routectld connected to its BIRD" wait_for 20 all_connected
check "upstream has web from ash-r1, ash-r2 and chi-r1" wait_for 30 up_paths_are 3

# ---- a fleet drain with a deadline, confirmed once for every router ----
fleet drain ash --service web --now --confirm-within 8s --reason "fleet confirm test"
DRAINED_AT=$SECONDS
check "drain ash --confirm-within: exit 0" rc_is 0
ID=$(sed -nE 's/^change ([0-9a-f]{16}) reverts by itself at .* unless confirmed: routectl -f .* confirm ([0-9a-f]{16})$/\1/p' <<<"$OUT")
check "drain ash: one change id, and how to confirm it" test -n "$ID"
check "drain ash: that id in both routers' answers" count_is 2 "^ash-r[12] \(ash\) via primary: ok, change $ID"
check "ash-r1 waits for the confirmation of that id" [ "$(pending_ids ash-r1)" == "$ID" ]
check "ash-r2 waits for the confirmation of that id" [ "$(pending_ids ash-r2)" == "$ID" ]
check "upstream: web from chi only" wait_for 10 up_paths_are 1

fleet status
check "status: the change once, with both routers of ash" \
	has "^$ID +[0-9T:-]+Z \(in [0-9]+ s\) +ash-r1, ash-r2 +ash +web$"
check "status: ash web's confirm column names the id" has "^ash +web +withdraw +- +by .*change $ID"
fleet status --json
check "status --json: one pending confirmation, of both ash routers" [ "$(jget \
	"[(p['change_id'], p['routers']) for p in j['pending_confirms']]" <<<"$OUT")" == \
	"[('$ID', ['ash-r1', 'ash-r2'])]" ]

# The id is taken now: a change that brings it again is refused at the API.
taken=$(curl -s -o "$D/taken.json" -w '%{http_code}' \
	-H "Authorization: Bearer $(cat "$D/ash-r1/token")" -H 'Content-Type: application/json' \
	--data "{\"site\":\"ash\",\"services\":[\"dns\"],\"reason\":\"reuse\",\"now\":true,\"change_id\":\"$ID\"}" \
	"http://127.0.0.121:$((PORT + 11))/v1/drain")
check "API: a drain with an id already taken is 409, and changes nothing" \
	eval '[[ $taken == 409 ]] && grep -q "already names another change" "$D/taken.json" && state_is ash-r1 dns announce'

fleet confirm "$ID" --reason "looks good"
check "confirm: exit 0" rc_is 0
check "confirm: ash-r1 confirmed, web stays withdrawn" \
	has "^ash-r1 \(ash\) via primary: confirmed: web stays withdraw"
check "confirm: ash-r2 confirmed" has "^ash-r2 \(ash\) via primary: confirmed: web stays withdraw"
check "confirm: chi-r1 never had it" has "^chi-r1 \(chi\) via primary: not pending there"
check "confirm: the count" has "^confirm $ID: 3 routers, 2 confirmed, 1 not pending there$"
check "nothing waits any more at ash-r1 and ash-r2" \
	eval '[[ -z $(pending_ids ash-r1) && -z $(pending_ids ash-r2) ]]'

# past the deadline: no revert, seen from the upstream
while ((SECONDS < DRAINED_AT + 11)); do sleep 0.5; done
check "after the deadline: the upstream still has web from chi only" up_paths_are 1
check "after the deadline: ash-r1 still withdraws web" state_is ash-r1 web withdraw
check "after the deadline: ash-r2 still withdraws web" state_is ash-r2 web withdraw

fleet confirm "$ID"
check "confirm again: exit 0, confirmed before at both" \
	eval 'rc_is 0 && count_is 2 "^ash-r[12] \(ash\) via primary: confirmed before"'
fleet confirm 00000000000000ff
check "confirm of an id no router has: exit 1, and it says so" \
	eval 'rc_is 1 && has "no router has change 00000000000000ff"'
fleet confirm "$ID" --site nowhere
check "confirm --site of a site not in the fleet: exit 1, nothing sent" \
	eval 'rc_is 1 && has "has no site nowhere"'

fleet undrain ash --now --reason "fleet confirm test"
check "undrain ash: exit 0" rc_is 0
check "upstream: web from all three again" wait_for 10 up_paths_are 3

# ---- a fleet drain nobody confirms reverts on every router ----
fleet drain ash --service web --now --confirm-within 5s --reason "fleet confirm test 2"
ID2=$(sed -nE 's/^change ([0-9a-f]{16}) reverts by itself.*/\1/p' <<<"$OUT")
check "second drain: exit 0, a new id" eval 'rc_is 0 && [[ -n $ID2 && $ID2 != "$ID" ]]'
check "second drain: upstream has web from chi only" wait_for 10 up_paths_are 1
check "no confirm: web back from every router after the deadline" wait_for 20 up_paths_are 3
check "ash-r1 reverted web to announce" state_is ash-r1 web announce
check "ash-r2 reverted web to announce" state_is ash-r2 web announce
fleet confirm "$ID2"
check "late confirm: exit 1" rc_is 1
check "late confirm: both ash routers LATE, saying it was reverted" \
	count_is 2 "^ash-r[12] \(ash\) via primary: LATE \(HTTP 409\): .*(reverted|too late)"
check "late confirm: the count" has "^confirm $ID2: 3 routers, 1 not pending there, 2 LATE$"

# ---- a router down during the confirm ----
fleet drain ash --service dns --now --confirm-within 120s --reason "fleet confirm test 3"
ID3=$(sed -nE 's/^change ([0-9a-f]{16}) reverts by itself.*/\1/p' <<<"$OUT")
check "third drain: exit 0" eval 'rc_is 0 && [[ -n $ID3 ]]'
stop_pid "$RPID_ash_r2"
fleet confirm "$ID3" --timeout 5
check "confirm with ash-r2's routectld down: exit 1" rc_is 1
check "confirm: ash-r2 named unreachable" has "^ash-r2 \(ash\): UNREACHABLE: "
check "confirm: ash-r1 confirmed all the same" has "^ash-r1 \(ash\) via primary: confirmed: dns"
check "confirm: the count names the unreachable one" has "^confirm $ID3: 3 routers, 1 confirmed, 1 not pending there, 1 UNREACHABLE$"
fleet confirm "$ID3" --site ash --json
check "confirm --site ash --json: only ash's routers, each with its result" [ "$(jget \
	"[(r['name'], r['result']) for r in j['routers']] + [j['change_id']]" <<<"$OUT")" == \
	"[('ash-r1', 'already-confirmed'), ('ash-r2', 'unreachable'), '$ID3']" ]

echo "# $IT_PASS passed, $IT_FAIL failed"
((IT_FAIL == 0))
