#!/usr/bin/env bash
# routectld's event loop never waits on BIRD: with a BIRD control socket that
# accepts and never answers, or answers a byte a second, `status` over the
# console answers at once, the log has one line for BIRD being unreachable
# (not one per attempt), and once a real BIRD listens at that path routectld
# connects (backoff capped) and applies the desired state. Also: every log
# line has its time and level (a message with newlines stays one record),
# and a staged step that comes due while BIRD is down waits for BIRD instead
# of failing (and logging) every few seconds.
# usage: daemon-nonblocking.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${ROUTECTL_SOURCE_ROOT:-$(cd "$HERE/../.." && pwd)}
it_init
D=$IT_DIR
SITE_IP=127.0.0.23
# A correctness bound ("does not block"), far below the 1 s a blocked loop
# costs per attempt, with room for sanitizer builds on a busy machine.
STATUS_MAX_MS=200

site_bird_conf "$D/site.conf" $SITE_IP 127.0.0.24 "$PORT"
cat >"$D/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "ash", "local-as": 65001,
  "bird": {"control-socket": "$D/site.ctl", "include": "$D/routectl.conf",
           "bgp-protocol": ["isp"], "configure-timeout": 30,
           "command-timeout-ms": 1000, "verify-timeout-ms": 3000},
  "state-dir": "$D/state", "policy-file": "$D/policy.json",
  "console": {"socket": "$D/routectld.sock"},
  "reconcile-interval": 1,
  "service": [
    {"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]}]}}
CONF

cat >"$D/policy.json" <<CONF
{"routectl-policy:policy": {"drain": {"prepend": 3, "wait": 3}, "undrain": {"prepend": 3, "wait": 3},
 "guards": {"without-fleet": "stand-alone"}, "flap-budget": {"changes": 1000, "window": 1}}}
CONF
probe() { python3 "$HERE/status_probe.py" "$D/routectld.sock" "$@"; }
unreachable_lines() { grep -c "BIRD at .* is not reachable" "$D/routectld.log" || true; }
connected() { rctl --json status | jget "j['bird']['connected']" | grep -qx True; }

start_fake() {
	python3 "$HERE/fake_bird.py" "$D/site.ctl" "$1" >"$D/fake-$1.log" 2>&1 &
	FAKE_PID=$!
	IT_PIDS+=("$FAKE_PID")
	wait_for 10 test -S "$D/site.ctl"
}

# --- a BIRD that accepts and never answers -----------------------------------
start_fake silent
start_daemon
sleep 3   # several connection attempts, each waiting out the 1 s command timeout
out=$(probe --count 40 --interval-ms 20)
echo "silent BIRD: $out"
max=$(jget "j['max_ms']" <<<"$out")
check "status answers in under $STATUS_MAX_MS ms while BIRD is silent (max $max ms)" \
	below "$max" "$STATUS_MAX_MS"
check "every status call answered" test "$(jget "j['errors']" <<<"$out")" = 0
st=$(rctl --json status)
check "status says BIRD is not connected, and why" \
	test "$(jget "j['bird']['connected'], bool(j['bird']['error'])" <<<"$st")" = "False True"
# healthz and readyz answer too
check "healthz answers while BIRD is silent" \
	bash -c "python3 '$HERE/api_request.py' '$D/routectld.sock' GET /healthz | grep -q '^200 '"
check "readyz says not ready while BIRD is silent" \
	bash -c "python3 '$HERE/api_request.py' '$D/routectld.sock' GET /readyz | grep -q '^503 .*not connected'"
n=$(unreachable_lines)
check "one log line for BIRD being unreachable, not one per attempt (got $n)" test "$n" = 1

# A drain while BIRD is silent fails with a clear message; status stays fast meanwhile.
rc=0
rctl drain ash --reason "silent bird" --now >"$D/drain-silent.out" 2>&1 &
DRAIN_PID=$!
out=$(probe --count 20 --interval-ms 20)
wait "$DRAIN_PID" || rc=$?
check "a drain while BIRD is silent fails (exit 1)" test "$rc" = 1
check "status stays fast while that drain waits on BIRD (max $(jget "j['max_ms']" <<<"$out") ms)" \
	below "$(jget "j['max_ms']" <<<"$out")" "$STATUS_MAX_MS"
check "the desired state is unchanged after the failed drain" \
	test "$(rctl --json status | jget "j['services'][0]['state']")" = announce

# --- a BIRD that answers a byte a second ------------------------------------
stop_pid "$FAKE_PID"
start_fake slow
sleep 3
out=$(probe --count 40 --interval-ms 20)
echo "slow BIRD: $out"
max=$(jget "j['max_ms']" <<<"$out")
check "status answers in under $STATUS_MAX_MS ms while BIRD answers a byte a second (max $max ms)" \
	below "$max" "$STATUS_MAX_MS"
n=$(unreachable_lines)
check "still one log line for BIRD being unreachable (got $n)" test "$n" -le 2
check "no line per attempt: at most 3 BIRD lines in the log" \
	test "$(grep -c 'BIRD' "$D/routectld.log")" -le 3

# --- then a real BIRD at that path -------------------------------------------
stop_pid "$FAKE_PID"
rm -f "$D/site.ctl"
start_bird site "$D/site.conf"
# The backoff is capped at 30 s.
check "routectld connects to the real BIRD" wait_for 40 connected
check "and applies the desired state" wait_for 10 bash -c \
	"'$ROUTECTL' -s '$D/routectld.sock' --json status | python3 -c \"import json,sys; j=json.load(sys.stdin); sys.exit(0 if j['last_apply'] and j['last_apply']['result']=='ok' else 1)\""
check "log says connected once" test "$(grep -c 'connected to BIRD' "$D/routectld.log")" = 1
check "a drain now works" rctl drain ash --reason "real bird" --now
check "BIRD exports nothing of web after the drain" bash -c \
	"! birdc -s '$D/site.ctl' show route protocol routectl_v4 filter { routectl_export\(\)\; accept\; } | grep -q 192.0.2.0/24"

# --- one record per line (messages with newlines are escaped) ---------------
# A reload with a config of several errors logs them all in one record.
cp "$D/routectld.json" "$D/routectld.json.good"
cp "$SRC/tests/data/conf/many-errors.json" "$D/routectld.json"
kill -HUP "$DAEMON_PID"
check "a bad config on reload is logged" wait_for 10 grep -q "keeping the running config" "$D/routectld.log"
cp "$D/routectld.json.good" "$D/routectld.json"
check "the errors of the bad config are in one record" \
	grep -q "got the string .*\\\\nconfig .*not an absolute path" "$D/routectld.log"
check "every line of routectld's log has its time and level" python3 - "$D/routectld.log" <<'PY'
import re, sys
bad = [l for l in open(sys.argv[1], errors="replace")
       if not re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info|warn|error): ", l)]
for l in bad[:5]:
    print("line without time and level: %r" % l)
sys.exit(1 if bad else 0)
PY
check "routectld still answers after the bad reload" rctl status

# --- a staged step that comes due while BIRD is down waits for it -----------
web_state() { rctl --json status | jget "[s['state'] for s in j['services'] if s['name']=='web'][0]"; }
web_is() { test "$(web_state)" = "$1"; }
check "undrain (now) works" rctl undrain ash --reason "back" --now
check "staged drain: web goes to prepend first" rctl drain ash --reason "staged while BIRD stops"
check "web is at prepend" web_is prepend
stop_pid "$PID_site"
sleep 8   # the withdraw step comes due after 3 s; a failing step retried every 5 s
check "while BIRD is down the due step does not run" web_is prepend
n=$(grep -c "staged .* failed" "$D/routectld.log" || true)
check "and does not fill the log with failures (got $n lines)" test "$n" = 0
start_bird site "$D/site.conf"
check "BIRD back: routectld reconnects" wait_for 40 connected
check "and then runs the due step (web withdrawn)" wait_for 10 web_is withdraw
it_summary
