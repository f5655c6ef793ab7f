#!/usr/bin/env bash
# kill -9 in the middle of an apply, of `routectl emergency` and of
# routectld, caught at one instant with the stall helper (stall_confirm.c:
# the process stops itself as it renames the new state file into place,
# after BIRD took the change with `configure timeout` and verified it,
# before `configure confirm`). After each, routectld (re)started: the
# desired state it shows and what the upstream receives agree, also once
# BIRD's undo timer would have fired.
#   A. routectl emergency drain killed mid-apply: its intent (no outcome) is
#      the operator's last word; routectld adopts it and applies it.
#   B. routectld started while an emergency command holds the site lock:
#      it waits for the command, then adopts it.
#   C. routectld killed mid-apply of a normal drain: the old state stays
#      (the new one was never saved) and BIRD is brought back to it.
# usage: kill9.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
STALL_LIB=${ROUTECTL_TEST_STALL_LIB:?built by tests/integration/meson.build}
it_init
D=$IT_DIR
SITE_IP=127.0.0.141 UP_IP=127.0.0.142
CONF=$D/routectld.json
UNDO_S=3

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"
# A short configure timeout: BIRD's undo of an unconfirmed change comes
# within the test.
sed -i "s/\"configure-timeout\": 30, \"verify-timeout-ms\": 3000/\"configure-timeout\": $UNDO_S, \"command-timeout-ms\": 500, \"verify-timeout-ms\": 800/" "$CONF"
check "routectld -n accepts the config" "$ROUTECTLD" -n -c "$CONF"

export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
established() { birdc_q up show protocols site | grep -q Established; }
up_has() { birdc_q up show route "$1" protocol site | grep -q "${1%/*}"; }
up_lacks() { ! up_has "$1"; }
agree_announced() { up_has 192.0.2.0/24 && up_has 198.51.100.0/24; }
prefix_of() { case $1 in web) echo 192.0.2.0/24 ;; dns) echo 198.51.100.0/24 ;; esac; }
svc_field() { rctl --json status | jget "[s['$2'] for s in j['services'] if s['name']=='$1'][0]"; }
ready() { python3 "$(dirname "$0")/api_request.py" "$D/routectld.sock" GET /readyz | grep -q '^200'; }
proc_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null; }
stopped() { test "$(proc_state "$1")" = T; }
# agree: for web and dns, routectld's desired state and the upstream agree
# (withdraw: the upstream has no route; announce: it has one).
agree() {
	local svc want
	for svc in web dns; do
		want=$(svc_field "$svc" state) || return 1
		if [[ $want == withdraw ]]; then
			! up_has "$(prefix_of "$svc")" || return 1
		else
			up_has "$(prefix_of "$svc")" || return 1
		fi
	done
}
show_agreement() {
	local svc
	for svc in web dns; do
		printf '  %s: desired %s, upstream %s\n' "$svc" "$(svc_field "$svc" state)" \
			"$(up_has "$(prefix_of "$svc")" && echo has it || echo lacks it)"
	done
}
# start_routectld_bg: routectld without waiting for its console
start_routectld_bg() {
	"$ROUTECTLD" -c "$CONF" >>"$D/routectld.log" 2>&1 &
	DAEMON_PID=$!
	IT_PIDS+=("$DAEMON_PID")
}

start_daemon   # writes the include the site BIRD needs
start_bird site "$D/site.conf"
start_bird up "$D/up.conf"
check "BGP session established" wait_for 30 established
check "the upstream has web and dns" wait_for 15 agree_announced
stop_pid "$DAEMON_PID"

# --- A: routectl emergency killed mid-apply ------------------------------------------------
touch "$D/stall"
ROUTECTL_TEST_STALL_FILE=$D/stall LD_PRELOAD=$STALL_LIB \
	"$ROUTECTL" emergency drain --config "$CONF" --reason "A: killed mid-apply" >"$D/a.out" 2>&1 &
CLI=$!
check "A: routectl emergency stops mid-apply (after verify, before confirm)" wait_for 20 stopped "$CLI"
check "A: meanwhile BIRD runs the drain: the upstream lost web" wait_for 5 up_lacks 192.0.2.0/24
kill -KILL "$CLI"
wait "$CLI" 2>/dev/null || true
check "A: the journal holds the intent, and no outcome" \
	bash -c "grep -q '\"type\":\"intent\"' '$D/state/emergency.jsonl' && ! grep -q '\"type\":\"outcome\"' '$D/state/emergency.jsonl'"
check "A: BIRD undoes the unconfirmed drain by itself: the upstream has web again" wait_for $((UNDO_S + 5)) up_has 192.0.2.0/24
out=$("$ROUTECTL" emergency status --config "$CONF" 2>&1) || true
printf '$ routectl emergency status\n%s\n' "$out"
check "A: emergency status shows the command with no outcome" grep -q "drain by emergency: .*: unknown; reason: A: killed mid-apply" <<<"$out"
start_daemon
check "A: routectld ready (the killed command's lock is gone with it)" wait_for 10 ready
check "A: desired web is withdraw (the intent adopted)" test "$(svc_field web state)" = withdraw
check "A: attributed to the emergency reason" test "$(svc_field web reason)" = "A: killed mid-apply"
check "A: BIRD and the desired state agree" wait_for 10 agree
sleep $((UNDO_S + 1))
check "A: ... also after BIRD's undo timer (the apply was confirmed)" agree
show_agreement
check "A: audited with result unknown" wait_for 5 bash -c \
	"grep '\"action\":\"emergency-drain\"' '$D/state/audit.log' | grep -q '\"result\":\"unknown\"'"
stop_pid "$DAEMON_PID"

# --- B: routectld starts while an emergency command holds the lock --------------------------
touch "$D/stall"
ROUTECTL_TEST_STALL_FILE=$D/stall LD_PRELOAD=$STALL_LIB \
	"$ROUTECTL" emergency undrain --config "$CONF" --reason "B: routectld waits" >"$D/b.out" 2>&1 &
CLI=$!
check "B: routectl emergency stops mid-apply, holding the site lock" wait_for 20 stopped "$CLI"
start_routectld_bg
check "B: routectld waits for the lock, and says so" wait_for 10 grep -q "waiting up to 30 s" "$D/routectld.log"
sleep 1
check "B: ... without serving meanwhile" test ! -S "$D/routectld.sock"
kill -CONT "$CLI"
rc=0; wait "$CLI" || rc=$?
cat "$D/b.out"
check "B: the emergency undrain finishes (exit 0)" test "$rc" = 0
check "B: then routectld starts" wait_for 10 ready
check "B: desired web is announce, from the emergency" test "$(svc_field web reason)" = "B: routectld waits"
check "B: BIRD and the desired state agree" wait_for 10 agree
show_agreement
stop_pid "$DAEMON_PID"

# --- C: routectld killed mid-apply of a normal drain ------------------------------------------
ROUTECTL_TEST_STALL_FILE=$D/stall LD_PRELOAD=$STALL_LIB start_daemon
check "C: routectld ready" wait_for 10 ready
touch "$D/stall"
rctl drain ash --service dns --now --reason "C: routectld killed" >"$D/c.out" 2>&1 &
CLI=$!
check "C: routectld stops mid-apply (after verify, before confirm)" wait_for 20 stopped "$DAEMON_PID"
check "C: meanwhile BIRD runs the drain: the upstream lost dns" wait_for 5 up_lacks 198.51.100.0/24
kill -KILL "$DAEMON_PID"
wait "$CLI" 2>/dev/null || true
rm -f "$D/stall"
start_daemon
check "C: routectld ready after kill -9" wait_for 10 ready
check "C: desired dns is still announce (the new state was never saved)" test "$(svc_field dns state)" = announce
check "C: BIRD and the desired state agree" wait_for 10 agree
sleep $((UNDO_S + 1))
check "C: ... also after BIRD's undo timer" agree
show_agreement
check "C: a drain works after the kill" rctl drain ash --service dns --now --reason "C: after the kill"
check "C: BIRD and the desired state agree after it" wait_for 10 agree

it_summary
