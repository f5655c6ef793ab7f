#!/usr/bin/env bash
# The apply sequence against real BIRD when things go wrong between the steps:
#   case 4   routectld stalls past configure-timeout between `configure timeout`
#            and `configure confirm`: BIRD undoes the change, the confirm answers
#            0019; routectld sees that the change is not in effect and applies it
#            again (the stall is reproduced by stall_confirm.c, preloaded: it
#            stops routectld as it saves the state, just before the confirm)
#   case 4b  the same stall twice: the confirm of the second attempt answers
#            0019 too. The change is NOT in effect: the CLI says so and exits
#            1, routectld logs the failure, the desired state keeps the drain
#            (it was saved), and the reconciler applies it at once; routectld
#            itself never announces what the drain took away
#   case 5   an operator's own `birdc configure timeout N` trial is confirmed by
#            routectld's confirm, and BIRD shows no pending undo (README, BIRD section)
#   case 12  messages say what happened and where: an error in the operator's
#            bird.conf, in the generated include, BIRD not answering; one line in
#            status
#   and: `configure` with a parse error leaves BIRD's running config alone, which
#   is why routectld sends no separate `configure check`.
# usage: bird-contract-apply.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
SRC=${ROUTECTL_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
STALL_LIB=${ROUTECTL_TEST_STALL_LIB:?built by tests/integration/meson.build}
it_init
D=$IT_DIR
SITE_IP=127.0.0.51 UP_IP=127.0.0.52

cat >"$D/site.conf" <<CONF
router id $SITE_IP;
log "$D/site-bird.log" all;
include "$D/routectl.conf";
protocol bgp isp {
	local $SITE_IP port $((PORT + 1)) as 65001;
	neighbor $UP_IP port $PORT as 65000;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import none; export filter { if proto = "routectl_v4" then { routectl_export(); accept; } reject; }; };
	ipv6 { import none; export filter { if proto = "routectl_v6" then { routectl_export(); bgp_next_hop = 2001:db8:ffff::51; accept; } reject; }; };
}
CONF
cp "$D/site.conf" "$D/site.conf.good"
cat >"$D/up.conf" <<CONF
router id $UP_IP;
log "$D/up-bird.log" all;
protocol bgp site {
	local $UP_IP port $PORT as 65000;
	neighbor $SITE_IP port $((PORT + 1)) as 65001;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import all; export none; };
	ipv6 { import all; export none; };
}
CONF
# configure-timeout 2 s is the least these timeouts allow (300 + 400 + 300 +
# 1000 ms); the reconciler is slow so that only the change itself repairs.
write_config() {
	cat >"$D/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "ash", "local-as": 65001,
  "bird": {"control-socket": "$D/site.ctl", "include": "$D/routectl.conf",${1:-}
           "bgp-protocol": ["isp"], "configure-timeout": 2,
           "command-timeout-ms": 300, "verify-timeout-ms": 400},
  "state-dir": "$D/state", "policy-file": "$IT_POLICY",
  "console": {"socket": "$D/routectld.sock"},
  "reconcile-interval": 3600,
  "service": [
    {"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]},
    {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"]}]}}
CONF
}
write_config

svc_state() { rctl --json status | jget "[s['state'] for s in j['services'] if s['name']=='$1'][0]"; }
has() { birdc_q up show route "$1" protocol site | grep -q "${1%%/*}"; }
lacks() { ! has "$1"; }
# what the site BIRD's export filter toward isp makes of a prefix, now
site_exports() { birdc_q site show route "$1" export isp | grep -q "${1%%/*}"; }
site_withholds() { ! site_exports "$1"; }
established() { birdc_q up show protocols site | grep -q Established; }
last_reconf() { birdc_q site show status | sed -n 's/.*Last reconfiguration on //p'; }
says() { grep -q -- "$2" <<<"$1"; }
run_rctl() {
	rc=0
	out=$(rctl "$@" 2>&1) || rc=$?
	printf '$ routectl %s\n%s\n(exit %s)\n' "$*" "$out" "$rc"
}
proc_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null; }
reload() {
	local n
	n=$(grep -c "reloaded $D/routectld.json" "$D/routectld.log" || true)
	kill -HUP "$DAEMON_PID"
	wait_for 5 bash -c "test \$(grep -c 'reloaded $D/routectld.json' '$D/routectld.log') -gt $n" ||
		not_ok "routectld reloads $D/routectld.json"
}

check "routectld -n accepts configure-timeout 2 with these timeouts" "$ROUTECTLD" -n -c "$D/routectld.json"
# The same config with a verify deadline that does not fit is refused.
sed 's/"verify-timeout-ms": 400/"verify-timeout-ms": 1500/' "$D/routectld.json" >"$D/short.json"
rc=0; out=$("$ROUTECTLD" -n -c "$D/short.json" 2>&1) || rc=$?
check "a configure-timeout without room for verify is refused" test "$rc" = 1
check "... naming both values and the minimum" says "$out" "configure-timeout: 2 s leaves no room.*verify-timeout-ms 1500.*at least 4 s"

# routectld runs with the stall helper preloaded; it stalls only when asked.
ROUTECTL_TEST_STALL_FILE=$D/stall ROUTECTL_TEST_STALL_CONFIRMS=$D/stall-confirms LD_PRELOAD=$STALL_LIB \
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BGP session established" wait_for 30 established
check "upstream has web" wait_for 15 has 192.0.2.0/24

# Case 4: stall between `configure timeout 2` and `configure confirm`.
touch "$D/stall"
rctl drain ash --service web --reason "case 4" --now >"$D/case4.out" 2>&1 &
CLI_PID=$!
check "routectld stops just before it confirms" wait_for 10 bash -c "test \"\$(awk '{print \$3}' /proc/$DAEMON_PID/stat)\" = T"
check "meanwhile BIRD runs the change (web not exported)" wait_for 1 site_withholds 192.0.2.0/24
check "BIRD undoes the change by itself after configure-timeout: web is exported again" wait_for 6 site_exports 192.0.2.0/24
kill -CONT "$DAEMON_PID"
rc=0; wait "$CLI_PID" || rc=$?
out=$(cat "$D/case4.out"); printf '$ routectl drain (case 4)\n%s\n(exit %s)\n' "$out" "$rc"
check "the late confirm found nothing pending, and routectld says so in its log" wait_for 2 grep -q "answered 0019 Nothing to do and BIRD does not export the change" "$D/routectld.log"
check "routectld applied the change again: the drain succeeds (exit 0)" test "$rc" = 0
check "the upstream lost web for good" wait_for 5 lacks 192.0.2.0/24
sleep 2.5
check "... also after another configure-timeout (it was confirmed)" lacks 192.0.2.0/24
check "status says BIRD had undone the first attempt" bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q 'undone the first attempt'"
check "state is withdraw" test "$(svc_state web)" = withdraw

# Case 4b: both confirms of a drain of dns come after BIRD's undo timer (the
# helper stops routectld as it sends `configure confirm`, twice). Each time
# BIRD goes back to announcing dns by itself (its own timer; routectld is
# stopped); routectld must then say the drain is not in effect, keep it as
# the desired state and apply it again, and never announce dns itself.
stopped() { test "$(proc_state "$DAEMON_PID")" = T; }
check "upstream has dns before case 4b" has 198.51.100.0/24
echo 2 >"$D/stall-confirms"
t4b=$SECONDS
rctl drain ash --service dns --reason "case 4b" --now >"$D/case4b.out" 2>&1 &
CLI_PID=$!
for n in 1 2; do
	check "routectld stops as it sends confirm number $n" wait_for 10 stopped
	check "... BIRD runs attempt $n meanwhile (dns not exported)" wait_for 1 site_withholds 198.51.100.0/24
	check "... and undoes it by itself after configure-timeout (dns exported again)" wait_for 6 site_exports 198.51.100.0/24
	check "... the upstream has dns again (BIRD's timer, while routectld is stopped)" wait_for 3 has 198.51.100.0/24
	kill -CONT "$DAEMON_PID"
done
rc=0; wait "$CLI_PID" || rc=$?
out=$(cat "$D/case4b.out"); printf '$ routectl drain (case 4b)\n%s\n(exit %s)\n' "$out" "$rc"
check "the drain fails (exit 1)" test "$rc" = 1
check "the CLI says the change is NOT in effect, and why" says "$out" "the change is NOT in effect: \`configure confirm\` answered 0019 Nothing to do twice, and BIRD does not export the change"
check "... naming BIRD's undo timer" says "$out" "configure-timeout of 2 s ran out before the confirm"
check "... and that the drain is saved and applied again" says "$out" "the desired state is saved and the reconciler applies it again"
check "... and does not claim it was applied" bash -c "! grep -qi 'drained\|applied (' <<<\"\$1\"" _ "$out"
check "routectld logs the failed drain" wait_for 2 grep -q "failed: the change is NOT in effect" "$D/routectld.log"
check "the desired state keeps the drain (dns withdraw)" test "$(svc_state dns)" = withdraw
check "the reconciler drains dns soon after (not after reconcile-interval, an hour)" wait_for 10 lacks 198.51.100.0/24
check "... it logs that it applied the desired state" wait_for 2 grep -q "reconcile (timer): .*repair" "$D/routectld.log"
# The include on disk stayed the saved drain (a BIRD restart meanwhile would
# not announce dns): the reconciler found BIRD's exports wrong, not the file.
check "... the drift it repaired was BIRD's exports, not the include on disk" bash -c "grep 'reconcile (timer): drift' '$D/routectld.log' | grep -q 'dns 198.51.100.0/24 to isp: expected withdrawn' && ! grep -q 'reconcile (timer): drift: $D/routectl.conf differs' '$D/routectld.log'"
check "last_apply is the reconciler's, and it worked" bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | python3 -c \"import json,sys; a=json.load(sys.stdin)['last_apply']; sys.exit(0 if a['trigger']=='reconcile' and a['result']=='ok' else 1)\""
sleep 2.5
check "... the drain stays in effect past another configure-timeout (confirmed)" lacks 198.51.100.0/24
check "web stays withdrawn throughout" lacks 192.0.2.0/24
check "case 4b took under 30 s" test $((SECONDS - t4b)) -lt 30
check "dns back for the next cases" rctl undrain ash --service dns --reason "after case 4b" --now
check "upstream has dns again" wait_for 5 has 198.51.100.0/24

# Case 5: an operator tries something with a timeout of their own; routectld
# applies and confirms a change in the meantime. BIRD has one undo slot and
# no way to show a pending undo: the operator's trial is confirmed too.
cat "$D/site.conf.good" >"$D/site.conf"
echo "protocol static trial { ipv4; route 203.0.113.0/24 blackhole; }" >>"$D/site.conf"
birdc_q site configure timeout 3 >/dev/null
trial_at=$SECONDS
check "the operator's trial is running" bash -c "birdc -s '$D/site.ctl' show protocols trial | grep -q trial"
check "BIRD's status shows no pending undo (nothing routectld could look at)" bash -c "! birdc -s '$D/site.ctl' show status | grep -qi undo"
run_rctl undrain ash --service web --reason "case 5" --now
check "routectld's change is applied" test "$rc" = 0
while ((SECONDS < trial_at + 5)); do sleep 0.2; done
check "routectld's confirm confirmed the operator's trial too (still there past its own timer)" bash -c "birdc -s '$D/site.ctl' show protocols trial | grep -q trial"
run_rctl drain ash --service web --reason "case 5" --now
cat "$D/site.conf.good" >"$D/site.conf"
birdc_q site configure >/dev/null

# Case 12, and the proof behind dropping `configure check`: a typo in the
# operator's bird.conf. BIRD's `configure` parses first and keeps running
# the old config; the message names the operator's file, not the include.
echo "this is not bird syntax;" >>"$D/site.conf"
reconf0=$(last_reconf)
run_rctl undrain ash --service web --reason "typo in bird.conf" --now
check "undrain fails while bird.conf has a typo (exit 1)" test "$rc" = 1
check "the message names the operator's file and line" says "$out" "error in $D/site.conf, which is not routectl's include"
check "... with BIRD's own words" says "$out" "site.conf:[0-9]*:[0-9]* syntax error"
check "... and does not blame the generated include" bash -c "! grep -q 'generated include' <<<\"\$1\"" _ "$out"
check "BIRD's running config is untouched by the parse error" test "$reconf0" = "$(last_reconf)"
check "BIRD still exports what it did (web withdrawn, dns announced)" bash -c "$(declare -f has lacks birdc_q); IT_DIR='$IT_DIR'; lacks 192.0.2.0/24 && has 198.51.100.0/24"
check "state kept" test "$(svc_state web)" = withdraw
st=$(rctl status)
printf '$ routectl status\n%s\n' "$st"
check "status shows the failure on one line, without '?' for line breaks" bash -c "grep '^last apply' <<<\"\$1\" | grep -q FAILED && ! grep '^last apply' <<<\"\$1\" | grep -q '?'" _ "$st"
check "status JSON carries the message without line breaks" bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | python3 -c \"import json,sys; m=json.load(sys.stdin)['last_apply']['message']; sys.exit(0 if m and '\\n' not in m and 'which is not routectl' in m else 1)\""
cp "$D/site.conf.good" "$D/site.conf"

# An error in the generated include itself (here from a broken template).
{ cat "$SRC/bird-templates/routectl.conf.tmpl"; echo "this is not bird syntax either;"; } >"$D/broken.tmpl"
write_config "\"template\": \"$D/broken.tmpl\","
reload
run_rctl undrain ash --service web --reason "broken include" --now
check "undrain fails when BIRD rejects the include (exit 1)" test "$rc" = 1
check "the message says BIRD rejected the generated include, by path" says "$out" "BIRD rejected the generated include $D/routectl.conf"
check "no doubled prefixes in the message" bash -c "! grep -qE '(verify|configure timeout [0-9]+|BIRD): \\1:' <<<\"\$1\" && ! grep -q 'verify: verify' <<<\"\$1\"" _ "$out"
check "state kept" test "$(svc_state web)" = withdraw
write_config
reload

# BIRD does not answer (stopped): the message says so, and where.
kill -STOP "$PID_site"
run_rctl undrain ash --service web --reason "bird stopped" --now
kill -CONT "$PID_site"
check "undrain fails while BIRD does not answer (exit 1)" test "$rc" = 1
check "the message says BIRD did not answer in time and nothing was changed" bash -c "grep -q 'in time' <<<\"\$1\" && grep -q 'nothing was changed' <<<\"\$1\"" _ "$out"
check "... and does not say BIRD rejected anything" bash -c "! grep -q 'rejected' <<<\"\$1\"" _ "$out"
check "routectld reconnects" wait_for 10 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"connected\": *true'"
check "undrain works again" rctl undrain ash --service web --reason "bird back" --now
check "upstream has web again" wait_for 5 has 192.0.2.0/24

it_summary
