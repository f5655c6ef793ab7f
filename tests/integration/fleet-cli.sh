#!/usr/bin/env bash
# routectl -f FLEET against real routectlds and real BIRDs on loopback: three
# sites (ash with two routers, chi, sea), each router a BIRD and a routectld
# serving its API over TCP with a token, and an upstream BIRD (isp) peering
# with ash-r1, chi and sea. Checks `status` (every site x service, the next
# stage of a staged drain, --json), `drain`/`undrain` of a site on all its
# routers at once (one line per router, the endpoint that answered), a dry
# run, a site whose routers disagree, the out-of-band fallback (primary URL
# on a closed port), an unreachable router marked, a missing token, and the
# exit codes.
# usage: fleet-cli.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
it_init
D=$IT_DIR
UP_IP=127.0.0.90
# router: name site ip api-port oob-port (0: no out-of-band listener)
ROUTERS=(
	"ash-r1 ash 127.0.0.91 $((PORT + 11)) $((PORT + 21))"
	"ash-r2 ash 127.0.0.92 $((PORT + 12)) 0"
	"chi-r1 chi 127.0.0.93 $((PORT + 13)) 0"
	"sea-r1 sea 127.0.0.94 $((PORT + 14)) 0"
)
CLOSED_PORT=$((PORT + 30))   # nothing listens there

# ---- BIRDs, routectlds, tokens ----
up_conf=$D/up.conf
cat >"$up_conf" <<CONF
router id $UP_IP;
log "$D/up-bird.log" all;
CONF
for r in "${ROUTERS[@]}"; do
	read -r name site ip api oob <<<"$r"
	mkdir -p "$D/$name"
	# ash-r2 has no upstream: its session stays down (verify then asks BIRD's
	# routectl_export() itself)
	peer_port=$PORT
	[[ $name == ash-r2 ]] && peer_port=$((PORT + 40))
	site_bird_conf "$D/$name/bird.conf" "$ip" "$UP_IP" "$peer_port" "$D/$name/routectl.conf" \
		"$D/$name/bird.log"
	if [[ $name != ash-r2 ]]; then
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
	fi
	listen="{\"address\": \"$ip\", \"port\": $api}"
	((oob)) && listen="$listen, {\"address\": \"$ip\", \"port\": $oob}"
	cat >"$D/$name/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "$site", "local-as": 65001,
  "bird": {"control-socket": "$D/$name/bird.ctl", "include": "$D/$name/routectl.conf",
           "bgp-protocol": ["isp"], "configure-timeout": 30, "verify-timeout-ms": 3000},
  "state-dir": "$D/$name/state", "policy-file": "$IT_POLICY",
  "console": {"socket": "$D/$name/routectld.sock"},
  "api": {"listen": [$listen], "token-file": "$D/$name/tokens"},
  "service": [
    {"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]},
    {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"], "ipv6-prefix": ["2001:db8:2::/48"]}]}}
CONF
	"$ROUTECTL" token new fleet operator --token-file "$D/$name/tokens" >"$D/$name/token"
	"$ROUTECTL" token new oob operator --token-file "$D/$name/tokens" >"$D/$name/oob-token"
done

start_router() {   # NAME
	"$ROUTECTLD" -c "$D/$1/routectld.json" >>"$D/$1/routectld.log" 2>&1 &
	IT_PIDS+=($!)
	eval "RPID_${1//-/_}=$!"
	wait_for 10 test -S "$D/$1/routectld.sock"
}
start_bird up "$up_conf"
# routectld first: it writes the include that BIRD's config needs
for r in "${ROUTERS[@]}"; do
	read -r name _ <<<"$r"
	start_router "$name"
	bird -f -c "$D/$name/bird.conf" -s "$D/$name/bird.ctl" -P "$D/$name/bird.pid" \
		>"$D/$name/bird-stdout.log" 2>&1 &
	IT_PIDS+=($!)
	wait_for 10 test -S "$D/$name/bird.ctl"
done

# The fleet document: tokens by file, ash-r1 with an out-of-band endpoint
# and a token of its own for it. fleet.json as it should be;
# fleet-oob.json with ash-r1's primary on a closed port.
write_fleet() {   # FILE ASH_R1_PRIMARY_PORT
	python3 - "$1" "$2" "$D" "${ROUTERS[@]}" <<'EOF'
import json, sys
path, ash_port, d = sys.argv[1:4]
sites = {}
for r in sys.argv[4:]:
    name, site, ip, api, oob = r.split()
    port = ash_port if name == "ash-r1" else api
    router = {"name": name, "api-url": "http://%s:%s" % (ip, port),
              "token": {"file": "%s/%s/token" % (d, name)}}
    if oob != "0":
        router["oob-url"] = "http://%s:%s" % (ip, oob)
        router["oob-token"] = {"file": "%s/%s/oob-token" % (d, name)}
    sites.setdefault(site, []).append(router)
doc = {"routectl-fleet:fleet": {"site": [{"name": s, "router": r} for s, r in sites.items()]}}
json.dump(doc, open(path, "w"), indent=1)
EOF
}
write_fleet "$D/fleet.json" "$((PORT + 11))"
write_fleet "$D/fleet-oob.json" "$CLOSED_PORT"
check "fleet.json is valid for yanglint" \
	yanglint -t data "$ROUTECTL_SOURCE_ROOT/api/routectl-fleet.yang" "$D/fleet.json"

# fleet ARGS...: routectl -f fleet.json; output in $OUT, exit code in $RC
fleet() {
	RC=0
	OUT=$("$ROUTECTL" -f "$D/fleet.json" "$@" 2>"$D/stderr") || RC=$?
	OUT+=$(cat "$D/stderr")
	[[ -z ${FLEET_SHOW:-} ]] || printf '$ routectl -f fleet.json %s\n%s\n[exit %s]\n' "$*" "$OUT" "$RC" >&2
}
has() { grep -qE -- "$1" <<<"$OUT"; }
lacks() { ! grep -qE -- "$1" <<<"$OUT"; }
count_is() { [[ $(grep -cE -- "$2" <<<"$OUT") == "$1" ]]; }
rc_is() { [[ $RC == "$1" ]]; }
json_is() { [[ $(jget "$1" <<<"$OUT") == "$2" ]]; }
up_paths_are() {   # N: routes to web's IPv4 prefix the upstream has from sites
	[[ $(birdc -s "$D/up.ctl" show route 192.0.2.0/24 | grep -c 'ash_r1\|chi_r1\|sea_r1') == "$1" ]]
}
state_at() {   # ROUTER SERVICE: its state there, asked on its console
	"$ROUTECTL" -s "$D/$1/routectld.sock" --json status |
		jget "[s['state'] for s in j['services'] if s['name'] == '$2'][0]"
}
state_is() { [[ $(state_at "$1" "$2") == "$3" ]]; }
all_connected() {
	for r in "${ROUTERS[@]}"; do
		read -r name _ <<<"$r"
		"$ROUTECTL" -s "$D/$name/routectld.sock" --json status | grep -q '"connected": *true' || return 1
	done
}
check "every routectld connected to its BIRD" wait_for 20 all_connected
check "upstream has web from ash, chi and sea" wait_for 30 up_paths_are 3

# ---- status ----
fleet status
check "status: exit 0 when every router answers" rc_is 0
check "status: one row per site x service" count_is 6 "^(ash|chi|sea) +(web|dns) +announce"
check "status: every router answered on its primary" \
	count_is 4 "^(ash-r1|ash-r2|chi-r1|sea-r1) +(ash|chi|sea) +primary"
fleet status --json
check "status --json: three sites, four routers, none unreachable" json_is \
	'len(j["sites"]) == 3 and len(j["routers"]) == 4 and all(not s["unreachable"] for s in j["sites"])' True

# ---- drain and undrain a site: every router of it at once ----
fleet drain ash --service web --reason "fleet test" --now
check "drain ash: exit 0" rc_is 0
check "drain ash: ash-r1's line, via primary, ok" has "^ash-r1 \(ash\) via primary: ok, change "
check "drain ash: ash-r2's line, via primary, ok" has "^ash-r2 \(ash\) via primary: ok, change "
check "drain ash: only ash's routers were asked" lacks "^(chi|sea)-r1"
check "drain ash: the count" has "^drain ash: 2 routers: 2 ok$"
check "upstream: web now from chi and sea only" wait_for 10 up_paths_are 2
check "ash-r2 withdrew web too" state_is ash-r2 web withdraw
fleet status
check "status: ash web withdrawn" has "^ash +web +withdraw"
check "status: ash dns announced" has "^ash +dns +announce"
check "status: chi untouched" has "^chi +web +announce"

# a staged undrain shows its next stage and when
fleet undrain ash --service web --reason "fleet test"
check "staged undrain: exit 0" rc_is 0
fleet status
check "status: ash web in its first undrain stage, the next one and when" \
	has "^ash +web +prepend [0-9]+ +announce at [0-9T:-]+Z"
fleet undrain ash --reason "fleet test" --now
check "undrain --now: exit 0" rc_is 0
check "upstream: web from all three sites again" wait_for 10 up_paths_are 3

# ---- one change on every site (SITE ALL) ----
fleet set ALL web prepend 1 --reason "fleet test"
check "set ALL: exit 0" rc_is 0
check "set ALL: every router's line" count_is 4 "^(ash-r1|ash-r2|chi-r1|sea-r1) \((ash|chi|sea)\) via primary: ok"
check "set ALL: the count" has "^set ALL: 4 routers: 4 ok$"
fleet status
check "status: web prepended once at every site" count_is 3 "^(ash|chi|sea) +web +prepend 1 "
fleet set ALL web announce --reason "fleet test"
check "set ALL back to announce: exit 0" rc_is 0
check "status: sea-r1 announces web again" state_is sea-r1 web announce

# ---- dry run ----
fleet drain chi --reason "fleet test" --dry-run --now
check "dry run: exit 0" rc_is 0
check "dry run: the router's line" has "^chi-r1 \(chi\) via primary: dry run"
check "dry run: the plan under it" has "^    dry run: nothing changed"
check "dry run: the BIRD diff under it" has "^    BIRD include diff:"
check "dry run: nothing changed at chi" state_is chi-r1 web announce

# ---- a site whose routers disagree ----
"$ROUTECTL" -s "$D/ash-r2/routectld.sock" drain ash --service dns --reason "only r2" --now >/dev/null
fleet status
check "status: ash dns shown as routers disagreeing, with each router's state" \
	has "^ash +dns +ROUTERS DISAGREE: ash-r1 announce, ash-r2 withdraw"
fleet status --json
check "status --json: ash dns disagree, the most drained state" json_is \
	'[(x["disagree"], x["state"]) for s in j["sites"] if s["name"] == "ash" for x in s["services"] if x["name"] == "dns"][0]' \
	"(True, 'withdraw')"
fleet drain ash --service dns --reason "fleet test" --now
check "a drain of both: ash-r1 withdraws, ash-r2 had already" rc_is 0
check "... and they agree now" lacks "disagree"
fleet undrain ash --reason "fleet test" --now
check "undrain ash brings both routers back: exit 0" rc_is 0
check "both routers announce dns again" state_is ash-r2 dns announce

# ---- out-of-band fallback ----
RC=0
OUT=$("$ROUTECTL" -f "$D/fleet-oob.json" drain ash --service web --reason "oob test" --now 2>&1) || RC=$?
check "oob: exit 0" rc_is 0
check "oob: ash-r1 answered on its out-of-band endpoint, the primary named" \
	has "^ash-r1 \(ash\) via oob \(primary passed over: http://127.0.0.91:$CLOSED_PORT: cannot connect: Connection refused\): ok"
check "oob: ash-r2 on its primary" has "^ash-r2 \(ash\) via primary: ok"
check "oob: the drain took effect at ash-r1" wait_for 10 up_paths_are 2
check "oob: the out-of-band token was used (audit: actor oob)" \
	grep -qE '"actor": *"oob via ' "$D/ash-r1/state/audit.log"
RC=0
OUT=$("$ROUTECTL" -f "$D/fleet-oob.json" status 2>&1) || RC=$?
check "oob: status shows the endpoint that answered" has "^ash-r1 +ash +oob +primary passed over"
fleet undrain ash --reason "oob test" --now

# ---- an unreachable router ----
stop_pid "$RPID_sea_r1"
fleet status
check "status with sea down: exit 1" rc_is 1
check "status: sea marked unreachable" has "^sea +- +UNREACHABLE"
check "status: sea-r1 unreachable, with the reason" \
	has "^sea-r1 +sea +UNREACHABLE +http://127.0.0.94:$((PORT + 14)): cannot connect"
check "status: the others still shown" has "^chi +web +announce"
fleet status --json
check "status --json: sea's router unreachable" json_is \
	'[s["unreachable"][0]["router"] for s in j["sites"] if s["name"] == "sea"][0]' sea-r1
fleet drain sea --reason "fleet test" --now
check "drain of an unreachable site: exit 1" rc_is 1
check "drain of an unreachable site: nothing sent, said so" \
	has "^sea-r1 \(sea\): NOT REACHED: .*the drain was not applied there \(nothing was sent\)"
start_router sea-r1

# ---- what is refused before anything is sent ----
fleet drain nowhere --reason x
check "unknown site: exit 1" rc_is 1
check "unknown site: named" has "has no site nowhere"
fleet history
check "history with -f: usage error" rc_is 2
check "history with -f: says why" has "not with -f"
RC=0
OUT=$(ROUTECTL_FLEET=$D/fleet.json "$ROUTECTL" status 2>&1) || RC=$?
check "ROUTECTL_FLEET: status of the fleet" has "^fleet $D/fleet.json: 3 sites, 4 routers$"
RC=0
OUT=$("$ROUTECTL" -f "$D/fleet.json" -s "$D/chi-r1/routectld.sock" status 2>&1) || RC=$?
check "-f and -s together: usage error" rc_is 2
# a token that cannot be had: that router fails, naming where it looked
mv "$D/chi-r1/token" "$D/chi-r1/token.away"
fleet drain chi --reason "fleet test" --now
check "missing token: exit 1" rc_is 1
check "missing token: the router and the file named" has "router chi-r1: token: .*$D/chi-r1/token"
mv "$D/chi-r1/token.away" "$D/chi-r1/token"

it_summary
