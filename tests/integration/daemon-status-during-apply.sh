#!/usr/bin/env bash
# Reads are answered while a change is applied: with a site of 50,000
# prefixes, a drain's apply takes hundreds of milliseconds; `status` during
# it answers at once, from the daemon's current view, and says that a change
# is in flight (its id, kind and start).
# usage: daemon-status-during-apply.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
it_init
D=$IT_DIR
SITE_IP=127.0.0.25
N=50000
STATUS_MAX_MS=200   # "does not wait behind the apply", with room for sanitizers

site_bird_conf "$D/site.conf" $SITE_IP 127.0.0.26 "$PORT"
# web: N IPv4 /32s in 10.0.0.0/8; dns: one prefix.
python3 - "$D" "$N" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
web = ["10.%d.%d.%d/32" % (i >> 16 & 255, i >> 8 & 255, i & 255) for i in range(n)]
conf = {"routectl-config:routectld": {
    "site": "ash", "local-as": 65001,
    "bird": {"control-socket": d + "/site.ctl", "include": d + "/routectl.conf",
             "bgp-protocol": ["isp"], "configure-timeout": 90,
             "command-timeout-ms": 20000, "verify-timeout-ms": 20000},
    "state-dir": d + "/state", "policy-file": d + "/stand-alone-policy.json",
    "console": {"socket": d + "/routectld.sock"},
    "reconcile-interval": 3600,
    "service": [{"name": "web", "ipv4-prefix": web},
                {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"]}]}}
json.dump(conf, open(d + "/routectld.json", "w"))
PY

applied_ok() { rctl --json status | jget "j['bird']['connected'] and bool(j['last_apply']) and j['last_apply']['result']=='ok'" | grep -qx True; }

start_daemon
start_bird site "$D/site.conf"
check "routectld connects and applies $N prefixes" wait_for 120 applied_ok

st=$(rctl --json status)
check "status gives the prefix counts of a large service, not every prefix" \
	test "$(jget "j['services'][1]['name'], j['services'][1]['prefix_count']['ipv4'], 'ipv4' in j['services'][1]" <<<"$st")" = "web $N False"
check "status lists the prefixes of a small service" \
	test "$(jget "j['services'][0]['ipv4']" <<<"$st")" = "['198.51.100.0/24']"
check "no change in flight while idle" test "$(jget "j['in_flight']" <<<"$st")" = None

# status is asked every 2 ms from before the drain starts until it ends.
rm -f "$D/drain.done"
python3 "$HERE/status_probe.py" "$D/routectld.sock" --until-exists "$D/drain.done" \
	--interval-ms 2 --seconds 120 >"$D/probe.out" &
PROBE_PID=$!
sleep 0.5
rc=0
rctl --json drain ash --service web --reason "status during apply" --now >"$D/drain.out" 2>&1 || rc=$?
echo "$rc" >"$D/drain.rc"
touch "$D/drain.done"
wait "$PROBE_PID" || true
out=$(cat "$D/probe.out")
echo "status during the drain: $out"
echo "drain: $(cat "$D/drain.out")"
check "the drain succeeded" test "$(cat "$D/drain.rc")" = 0
drain_id=$(jget "j['change_id']" <"$D/drain.out")
calls=$(jget "j['in_flight_calls']" <<<"$out")
check "status answered several times while the drain was in flight ($calls calls)" test "$calls" -ge 3
check "status said a drain was in flight, with the drain's change id" \
	test "$(jget "j['in_flight'] and (j['in_flight']['kind'], j['in_flight']['change_id'])" <<<"$out")" = "('drain', '$drain_id')"
max=$(jget "j['max_ms']" <<<"$out")
check "status answered in under $STATUS_MAX_MS ms during the apply (max $max ms)" \
	below "$max" "$STATUS_MAX_MS"
check "every status call answered" test "$(jget "j['errors']" <<<"$out")" = 0
st=$(rctl --json status)
check "after the drain: web withdrawn, nothing in flight" \
	test "$(jget "j['services'][1]['state'], j['in_flight']" <<<"$st")" = "withdraw None"
it_summary
