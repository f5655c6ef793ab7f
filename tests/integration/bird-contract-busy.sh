#!/usr/bin/env bash
# Case 3, a busy BIRD, for real: while routectld applies changes, another client
# keeps reconfiguring the site BIRD with a config that adds, then removes, a
# static protocol of 100,000 routes. BIRD then answers `configure` with 0004
# (in progress) or 0005 (queued), and cuts `show route` short with
# `8004 Stopped due to reconfiguration`. These mean "ask again": every change
# must succeed within the verify deadline, none rolled back.
# usage: bird-contract-busy.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
it_init
D=$IT_DIR
SITE_IP=127.0.0.61 UP_IP=127.0.0.62
CHANGES=${ROUTECTL_BUSY_CHANGES:-10}

cat >"$D/site.conf" <<CONF
router id $SITE_IP;
log "$D/site-bird.log" { info, warning, error, fatal };
include "$D/routectl.conf";
protocol bgp isp {
	local $SITE_IP port $((PORT + 1)) as 65001;
	neighbor $UP_IP port $PORT as 65000;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import none; export filter { if proto = "routectl_v4" then { routectl_export(); accept; } reject; }; };
	ipv6 { import none; export filter { if proto = "routectl_v6" then { routectl_export(); bgp_next_hop = 2001:db8:ffff::61; accept; } reject; }; };
}
CONF
{ cat "$D/site.conf"; echo "include \"$D/bulk.conf\";"; } >"$D/site-bulk.conf"
python3 - "$D" <<'PY'
import json, sys
d = sys.argv[1]
with open(d + '/bulk.conf', 'w') as f:
    f.write('protocol static bulk {\n\tipv4;\n')
    for i in range(100000):
        f.write('\troute 10.%d.%d.0/24 blackhole;\n' % (i // 256, i % 256))
    f.write('}\n')
# 20,000 prefixes in service "many", so that each verify reads a long
# `show route` that a reconfiguration can cut short.
many = ['100.%d.%d.0/24' % (64 + i // 256, i % 256) for i in range(20000)]
conf = {"routectl-config:routectld": {
    "site": "ash", "local-as": 65001,
    "bird": {"control-socket": d + "/site.ctl", "include": d + "/routectl.conf",
             "bgp-protocol": ["isp"], "configure-timeout": 30, "verify-timeout-ms": 5000},
    "state-dir": d + "/state", "policy-file": d + "/stand-alone-policy.json",
    "console": {"socket": d + "/routectld.sock"},
    "reconcile-interval": 3600,
    "service": [
        {"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]},
        {"name": "many", "ipv4-prefix": many}]}}
json.dump(conf, open(d + '/routectld.json', 'w'))
PY
cat >"$D/up.conf" <<CONF
router id $UP_IP;
log "$D/up-bird.log" { warning, error, fatal };
protocol bgp site {
	local $UP_IP port $PORT as 65000;
	neighbor $SITE_IP port $((PORT + 1)) as 65001;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import all; export none; };
	ipv6 { import all; export none; };
}
CONF

svc_state() { rctl --json status | jget "[s['state'] for s in j['services'] if s['name']=='$1'][0]"; }
established() { birdc_q up show protocols site | grep -q Established; }
has() { birdc_q up show route "$1" protocol site | grep -q "${1%%/*}"; }

start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BGP session established" wait_for 60 established
check "upstream has web" wait_for 30 has 192.0.2.0/24

# The other client: reconfigures BIRD back and forth, without pause.
(
	set +e
	while :; do
		birdc -s "$D/site.ctl" configure "\"$D/site-bulk.conf\"" >>"$D/other.out" 2>&1
		sleep 0.05
		birdc -s "$D/site.ctl" configure "\"$D/site.conf\"" >>"$D/other.out" 2>&1
		sleep 0.05
	done
) &
OTHER_PID=$!
IT_PIDS+=("$OTHER_PID")
sleep 1

failed=0
for i in $(seq "$CHANGES"); do
	if ((i % 2)); then mode=withdraw; else mode=announce; fi
	rc=0
	out=$(rctl set ash web "$mode" --reason "busy $i" 2>&1) || rc=$?
	if ((rc != 0)); then
		failed=$((failed + 1))
		printf 'change %d (%s) failed:\n%s\n' "$i" "$mode" "$out"
	fi
done
stop_pid "$OTHER_PID"
echo "# the other client's reconfigurations: $(grep -c 'Reading configuration' "$D/other.out" || true)"
check "all $CHANGES changes succeed while BIRD is kept busy ($failed failed)" test "$failed" = 0
busy=$(grep -c "busy reconfiguring" "$D/routectld.log" || true)
echo "# changes whose verify BIRD cut short (8004) and that asked again: $busy"
echo "# BIRD's 0004/0005 answers to the other client: $(grep -cE 'Reconfiguration in progress|queueing new config' "$D/other.out" || true)"
check "BIRD was busy for real: it cut routectld's verify short (8004)" test "$busy" -gt 0
want=$( ((CHANGES % 2)) && echo withdraw || echo announce)
check "the state is the last change's ($want)" test "$(svc_state web)" = "$want"
birdc_q site configure "\"$D/site.conf\"" >/dev/null
if [[ $want == withdraw ]]; then
	check "the upstream follows" wait_for 10 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site | grep -q 192.0.2.0"
else
	check "the upstream follows" wait_for 10 has 192.0.2.0/24
fi

it_summary
