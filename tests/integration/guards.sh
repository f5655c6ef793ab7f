#!/usr/bin/env bash
# The guards across sites and the flap budget with three real sites (ash,
# chi, sea: a BIRD and a routectld each, one router per site) and an upstream
# BIRD (isp) peering with all three, on loopback. Each routectld reads the
# fleet document and asks the other sites live over their TCP API. The
# policy allows one site with a service withdrawn at once and 3 changes of a
# service per 600 s.
#   - drain ash: done; drain chi: refused (max-drained-sites), through the
#     console (CLI) and the HTTP API; force needs the admin role, and a
#     forced drain is audited with its override;
#   - drain sea, the last site announcing: refused (last-site), through the
#     CLI and the API; isp keeps the routes; a dry run shows the verdicts;
#   - the 4th change of a service within the window: refused (flap-budget);
#   - with sea's routectld stopped: a drain is refused (unreachable), and
#     passes with force.
# usage: guards.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
it_init
D=$IT_DIR
UP_IP=127.0.0.91
declare -A IP=([ash]=127.0.0.92 [chi]=127.0.0.93 [sea]=127.0.0.94)
SITES=(ash chi sea)
API_PORT=$((PORT + 10))

# ---- the upstream and the sites -------------------------------------------
{
	echo "router id $UP_IP;"
	echo "log \"$D/up-bird.log\" { warning, error, fatal };"
	for s in "${SITES[@]}"; do
		cat <<CONF
protocol bgp $s {
	local $UP_IP port $PORT as 65000;
	neighbor ${IP[$s]} port $((PORT + 1)) as 65001;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import all; export none; };
	ipv6 { import all; export none; };
}
CONF
	done
} >"$D/up.conf"

for s in "${SITES[@]}"; do
	"$ROUTECTL" token new "peer-$s" viewer --token-file "$D/tokens" >"$D/secret-peer-$s"
done
"$ROUTECTL" token new bot operator --token-file "$D/tokens" >"$D/secret-bot"
"$ROUTECTL" token new boss admin --token-file "$D/tokens" >"$D/secret-boss"
OPERATOR=$(cat "$D/secret-bot") ADMIN=$(cat "$D/secret-boss")

cat >"$D/policy.json" <<CONF
{"routectl-policy:policy": {
  "drain": {"prepend": 3, "wait": 5}, "undrain": {"prepend": 3, "wait": 5},
  "guards": {"last-site": true, "max-drained-sites": 1, "ask-timeout-ms": 1000},
  "flap-budget": {"changes": 3, "window": 600}}}
CONF

python3 - "$D" "$API_PORT" "${IP[ash]}" "${IP[chi]}" "${IP[sea]}" <<'EOF'
import json, sys
d, port = sys.argv[1], int(sys.argv[2])
ips = dict(zip(["ash", "chi", "sea"], sys.argv[3:6]))
json.dump({"routectl-fleet:fleet": {"site": [
    {"name": s, "router": [{"name": s + "-r1", "api-url": "http://%s:%d" % (ip, port),
                            "token": {"file": "%s/secret-peer-%s" % (d, s)}}]}
    for s, ip in ips.items()]}}, open(d + "/fleet.json", "w"), indent=1)
EOF

declare -A DPID
for s in "${SITES[@]}"; do
	mkdir -p "$D/$s"
	site_bird_conf "$D/$s/bird.conf" "${IP[$s]}" "$UP_IP" "$PORT" "$D/$s/routectl.conf" \
		"$D/$s/bird.log"
	cat >"$D/$s/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "$s", "local-as": 65001,
  "bird": {"control-socket": "$D/bird_$s.ctl", "include": "$D/$s/routectl.conf",
           "bgp-protocol": ["isp"], "configure-timeout": 30, "verify-timeout-ms": 3000},
  "state-dir": "$D/$s/state", "policy-file": "$D/policy.json", "fleet-file": "$D/fleet.json",
  "console": {"socket": "$D/$s/routectld.sock"},
  "api": {"listen": [{"address": "${IP[$s]}", "port": $API_PORT}], "token-file": "$D/tokens",
          "write-rate": 600, "write-burst": 100},
  "reconcile-interval": 5,
  "service": [
    {"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]},
    {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"], "ipv6-prefix": ["2001:db8:2::/48"]}]}}
CONF
done

start_site_daemon() {
	local s=$1
	"$ROUTECTLD" -c "$D/$s/routectld.json" >>"$D/$s/routectld.log" 2>&1 &
	DPID[$s]=$!
	IT_PIDS+=("$!")
	wait_for 10 test -S "$D/$s/routectld.sock"
}

check "routectld -n accepts the config with the fleet document" \
	bash -c "'$ROUTECTLD' -n -c '$D/ash/routectld.json' >/dev/null"
start_bird up "$D/up.conf"
for s in "${SITES[@]}"; do
	start_site_daemon "$s"
	start_bird "bird_$s" "$D/$s/bird.conf"
done

rctl_at() { local s=$1; shift; "$ROUTECTL" -s "$D/$s/routectld.sock" "$@"; }
call() { python3 "$HERE/http_call.py" "$@"; }
api() { local s=$1; shift; call "http://${IP[$s]}:$API_PORT" "$@"; }
# isp has PREFIX from SITE (its BGP protocol of that name)
isp_has() { birdc_q up show route "$2" protocol "$1" | grep -q "${2%%/*}"; }
established() { [[ $(birdc_q up show protocols | grep -c Established) -eq 3 ]]; }
check "isp has a BGP session with every site" wait_for 30 established
for s in "${SITES[@]}"; do
	check "isp has web from $s" wait_for 20 isp_has "$s" 192.0.2.0/24
done
for s in "${SITES[@]}"; do
	check "the API of $s answers" wait_for 10 bash -c \
		"python3 '$HERE/http_call.py' 'http://${IP[$s]}:$API_PORT' GET /healthz | grep -q '\"status\": 200'"
done

# run SITE ARGS...: the CLI on SITE's console; out, rc
run() { rc=0; out=$(rctl_at "$@" 2>&1) || rc=$?; }
says() { grep -qF -- "$2" <<<"$1"; }
# last_outcome SITE EXPR: EXPR over the last outcome record (r) of SITE's audit log
last_outcome() {
	python3 - "$D/$1/state/audit.log" "$2" <<'EOF'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
r = [x for x in recs if x.get("phase") == "outcome"][-1]
print(eval(sys.argv[2]))
EOF
}

# ---- drain ash: done ----------------------------------------------------------
run ash drain ash --service web --reason "drill ash" --now
check "drain ash: done (exit 0)" test "$rc" = 0
check "isp lost web from ash" wait_for 10 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol ash | grep -q 192.0.2.0"

# ---- drain chi: refused by max-drained-sites ----------------------------------
run chi drain chi --service web --reason "drill chi" --now
check "drain chi (console): refused (exit 1)" test "$rc" = 1
check "... by max-drained-sites, naming web and the sites" \
	says "$out" "service web would be withdrawn at 2 sites at once (chi (this site, after this change), ash)"
check "isp still has web from chi" isp_has chi 192.0.2.0/24
j=$(api chi POST /v1/drain --token "$OPERATOR" \
	--body '{"site":"chi","services":["web"],"reason":"drill chi","now":true}')
check "drain chi (API): 422 policy" test "$(jget "(j['status'], j['json']['error']['code'])" <<<"$j")" = "(422, 'policy')"
check "... the error carries the verdicts: max-drained-sites refused" \
	test "$(jget "[g['verdict'] for g in j['json']['error']['guards'] if g['name']=='max-drained-sites'][0]" <<<"$j")" = refused
check "... last-site passes (sea announces)" \
	test "$(jget "[g['verdict'] for g in j['json']['error']['guards'] if g['name']=='last-site'][0]" <<<"$j")" = pass
check "... the audit record of the refusal has no override" \
	test "$(last_outcome chi "(r['result'], r['status'], r['override'])")" = "('refused', 422, None)"

j=$(api chi POST /v1/drain --token "$OPERATOR" \
	--body '{"site":"chi","services":["web"],"reason":"drill chi","now":true,"force":true}')
check "force with the operator role: 403" test "$(jget "j['status']" <<<"$j")" = 403
check "... the refusal is audited with force" \
	test "$(last_outcome chi "(r['result'], r['status'], r['force'])")" = "('refused', 403, True)"
check "isp still has web from chi" isp_has chi 192.0.2.0/24

j=$(api chi POST /v1/drain --token "$ADMIN" \
	--body '{"site":"chi","services":["web"],"reason":"drill chi, forced","now":true,"force":true}')
check "force with the admin role: 200" test "$(jget "j['status']" <<<"$j")" = 200
check "... the answer names the overridden guard" \
	test "$(jget "[o['guard'] for o in j['json']['override']]" <<<"$j")" = "['max-drained-sites']"
check "... and so does the audit record" \
	test "$(last_outcome chi "(r['result'], [o['guard'] for o in r['override']])")" = "('ok', ['max-drained-sites'])"
check "isp lost web from chi" wait_for 10 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol chi | grep -q 192.0.2.0"

# ---- drain sea, the last site announcing web: refused ---------------------------
run sea drain sea --service web --reason "drill sea" --now
check "drain sea (console): refused (exit 1)" test "$rc" = 1
check "... by last-site, naming web and every site" \
	says "$out" "service web would be announced from no site: sea (this site) withdraw after this change; ash withdraw; chi withdraw"
j=$(api sea POST /v1/drain --token "$OPERATOR" \
	--body '{"site":"sea","services":["web"],"reason":"drill sea","now":true}')
check "drain sea (API): 422 policy, last-site refused" \
	test "$(jget "(j['status'], [g['verdict'] for g in j['json']['error']['guards'] if g['name']=='last-site'][0])" <<<"$j")" = "(422, 'refused')"
j=$(api sea PUT /v1/services/web --token "$OPERATOR" --body '{"state":"withdraw","reason":"drill sea"}')
check "withdraw web at sea (API PUT): 422" test "$(jget "j['status']" <<<"$j")" = 422
j=$(api sea POST /v1/drain --token "$OPERATOR" \
	--body '{"site":"sea","services":["web"],"reason":"drill sea","now":true,"dry_run":true}')
check "a dry run: 200 with every verdict" \
	test "$(jget "(j['status'], [(g['name'], g['verdict']) for g in j['json']['guards']])" <<<"$j")" = \
	"(200, [('last-site', 'refused'), ('max-drained-sites', 'refused'), ('unreachable', 'pass'), ('flap-budget', 'pass')])"
run sea drain sea --service web --reason "drill sea" --now --dry-run
check "a dry run (console): done (exit 0)" test "$rc" = 0
check "... shows the verdicts" says "$out" "guard last-site: refused: service web would be announced from no site"
check "... all four" test "$(grep -c '^guard ' <<<"$out")" = 4
check "isp still has web from sea" isp_has sea 192.0.2.0/24
sleep 1
check "... and still after a second" isp_has sea 192.0.2.0/24

# ---- undrain: the other sites are not needed -------------------------------------
run ash undrain ash --service web --reason "drill over" --now
check "undrain ash: done" test "$rc" = 0
run chi undrain chi --service web --reason "drill over" --now
check "undrain chi: done" test "$rc" = 0
check "isp has web from ash again" wait_for 10 isp_has ash 192.0.2.0/24

# ---- the flap budget: 3 changes of a service per 600 s ----------------------------
run sea set sea dns prepend 1 --reason "flap 1"
check "change 1 of dns at sea: done" test "$rc" = 0
run sea set sea dns prepend 2 --reason "flap 2"
check "change 2: done" test "$rc" = 0
run sea set sea dns announce --reason "flap 3"
check "change 3: done" test "$rc" = 0
run sea set sea dns prepend 1 --reason "flap 4"
check "change 4: refused (exit 1)" test "$rc" = 1
check "... by the flap budget, saying until when" says "$out" "service dns changed 3 times at site sea within the last 600 s"
check "... held down until a time" says "$out" "held down until 20"
check "web at sea has its own budget" bash -c "'$ROUTECTL' -s '$D/sea/routectld.sock' set sea web prepend 1 --reason 'other service' >/dev/null"
check "the recent changes are in sea's state file" \
	test "$(python3 -c "import json; print(len([s for s in json.load(open('$D/sea/state/state.json'))['routectl-state:state']['service'] if s['name']=='dns'][0]['recent-change']))")" = 3

# ---- a site that cannot be asked ------------------------------------------------
stop_pid "${DPID[sea]}"
run ash drain ash --service dns --reason "sea is down" --now
check "with sea's routectld stopped, drain ash: refused (exit 1)" test "$rc" = 1
check "... by unreachable, naming sea" says "$out" "refused by guard unreachable: cannot ask site sea"
check "isp still has dns from ash" isp_has ash 198.51.100.0/24
run ash set ash web prepend 2 --reason "sea is down, prepend" --force
check "set with --force on the console (its owner is admin): done" test "$rc" = 0
check "... saying which guard it passed" says "$out" "forced past guard unreachable: cannot ask site sea"
j=$(api ash POST /v1/drain --token "$ADMIN" \
	--body '{"site":"ash","services":["dns"],"reason":"sea is down, forced","now":true,"force":true}')
check "forced by an admin: 200, overriding unreachable" \
	test "$(jget "(j['status'], [o['guard'] for o in j['json']['override']])" <<<"$j")" = "(200, ['unreachable'])"
check "... audited with the override" \
	test "$(last_outcome ash "(r['result'], r['force'], [o['guard'] for o in r['override']])")" = "('ok', True, ['unreachable'])"
check "isp lost dns from ash" wait_for 10 bash -c "! birdc -s '$D/up.ctl' show route 198.51.100.0/24 protocol ash | grep -q 198.51.100.0"

it_summary
