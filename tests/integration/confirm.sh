#!/usr/bin/env bash
# Commit-confirm and staged drains against real BIRD (a site BIRD with an
# eBGP session to an upstream BIRD, on loopback), across restarts of
# routectld:
#  - a drain made with confirm_within and not confirmed reverts by itself at
#    the deadline (the upstream has the routes again), and a late confirm is
#    refused (409) saying so; an unknown id is 404;
#  - the same across a restart of routectld: stopped before the deadline and
#    started after it, it reverts at once; restarted before it, at the
#    deadline;
#  - a confirmed drain stays past its deadline;
#  - a later change of the service supersedes the pending revert;
#  - a staged drain whose routectld is restarted between the stages resumes:
#    the withdraw happens at the planned time, not earlier, not much later.
# usage: confirm.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
it_init
D=$IT_DIR
SITE_IP=127.0.0.61 UP_IP=127.0.0.62

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"
# Stages of seconds, and no guard or flap budget in the way: this test makes
# many changes of one service at a site with no fleet.
it_staged_policy 4

api() { python3 "$(dirname "$0")/api_request.py" "$D/routectld.sock" "$@"; }
status_json() { api GET /v1/status | cut -d' ' -f2-; }
svc_field() { status_json | jget "[s for s in j['services'] if s['name']=='$1'][0]$2"; }
up_has() { birdc_q up show route "$1" protocol site | grep -q "$1"; }
up_lacks() { ! up_has "$1"; }
up_prepended() {
	birdc_q up show route 192.0.2.0/24 protocol site all | grep -q 'as_path: 65001 65001 65001 65001'
}
established() { birdc_q up show protocols site | grep -q Established; }
connected() { status_json | grep -q '"connected": *true'; }
epoch() { python3 -c "import sys,datetime; print(int(datetime.datetime.fromisoformat(sys.argv[1].replace('Z','+00:00')).timestamp()))" "$1"; }

# drain_web WITHIN [now]: drains web with confirm_within WITHIN seconds;
# sets CHANGE and DEADLINE (epoch seconds).
drain_web() {
	local now=${2:-true} out
	out=$(api POST /v1/drain "{\"site\": \"ash\", \"services\": [\"web\"], \"reason\": \"confirm test\", \"now\": $now, \"confirm_within\": $1}")
	if [[ ${out%% *} != 200 ]]; then
		not_ok "drain web with confirm_within $1: ${out:0:400}"
		return 1
	fi
	CHANGE=$(jget "j['change_id']" <<<"${out#* }")
	DEADLINE=$(epoch "$(jget "j['confirm_deadline']" <<<"${out#* }")")
}
confirm() { api POST "/v1/changes/$1/confirm" "${2:-}"; }

start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BGP session established" wait_for 30 established
check "routectld connects to BIRD" wait_for 10 connected
check "upstream has web from the site" wait_for 10 up_has 192.0.2.0/24

# ---- an unconfirmed drain reverts at its deadline --------------------------
drain_web 4
check "the drain takes web away at the upstream" wait_for 10 up_lacks 192.0.2.0/24
pending=$(status_json | jget "[p['change_id'] for p in j['pending_confirms']]")
check "status lists the pending confirmation" grep -q "$CHANGE" <<<"$pending"
check "status gives web's revert target" test "$(svc_field web "['confirm']['revert_to']['state']")" = announce
check "dns is not part of it" test "$(svc_field dns "['confirm']")" = None
wait_until() { local t=$(($1 - $(date +%s))); if ((t > 0)); then sleep "$t"; fi; }
wait_until $((DEADLINE - 1))
check "still withdrawn a second before the deadline" up_lacks 192.0.2.0/24
check "the upstream has web again after the deadline" wait_for 15 up_has 192.0.2.0/24
check "the revert came no earlier than the deadline" test "$(date +%s)" -ge "$DEADLINE"
check "status: web is announced again" test "$(svc_field web "['state']")" = announce
check "the revert is attributed to routectld and the change" \
	test "$(svc_field web "['actor']")" = "routectld (confirm deadline of $CHANGE passed)"
check "nothing pending any more" test "$(status_json | jget "len(j['pending_confirms'])")" = 0
out=$(confirm "$CHANGE")
check "a late confirm is a conflict (409)" test "${out%% *}" = 409
check "that says the change was reverted" grep -q "reverted" <<<"$out"
out=$(confirm 0123456789abcdef)
check "confirming an unknown change is 404" test "${out%% *}" = 404
check "the log names the revert" grep -q "confirm deadline of $CHANGE passed without a confirm" "$D/routectld.log"

# ---- a confirmed drain stays (through the CLI) --------------------------------
out=$(rctl drain ash --service web --reason "confirm test" --now --confirm-within 3s)
check "the CLI says how to confirm" grep -q "unless confirmed: routectl confirm" <<<"$out"
CHANGE=$(sed -n 's/.*routectl confirm \([0-9a-f]*\).*/\1/p' <<<"$out")
DEADLINE=$(epoch "$(status_json | jget "j['pending_confirms'][0]['deadline']")")
check "the drain takes web away" wait_for 10 up_lacks 192.0.2.0/24
out=$(rctl status)
check "status (text) shows the pending confirmation" \
	grep -q "change $CHANGE reverts web at .* unless confirmed: routectl confirm $CHANGE" <<<"$out"
check "status (text) shows what web goes back to" grep -q "unconfirmed: back to announce" <<<"$out"
out=$(rctl confirm "$CHANGE" --reason "as planned")
check "routectl confirm in time is taken" grep -q "confirmed change $CHANGE" <<<"$out"
wait_until $((DEADLINE + 2))
check "past the deadline the confirmed drain stays" up_lacks 192.0.2.0/24
check "status: web still withdrawn" test "$(svc_field web "['state']")" = withdraw
out=$(confirm "$CHANGE")
check "a second confirm is a conflict (409)" test "${out%% *}" = 409
rc=0; out=$(rctl confirm "$CHANGE" 2>&1) || rc=$?
check "routectl confirm of it exits 1 and says why" \
	bash -c "test $rc = 1 && grep -q 'confirmed already' <<<'$out'"
check "the audit log has the confirm" grep -q '"action":"confirm"' "$D/state/audit.log"
rctl undrain ash --reason back --now >/dev/null
check "undrain brings web back" wait_for 10 up_has 192.0.2.0/24

# ---- a later change supersedes the revert ----------------------------------
drain_web 3
first=$CHANGE
check "drain web" wait_for 10 up_lacks 192.0.2.0/24
out=$(api POST /v1/set '{"site": "ash", "service": "web", "state": "prepend", "prepend": 2, "reason": "half way", "now": true}')
check "a set of web without a confirm (200)" test "${out%% *}" = 200
wait_until $((DEADLINE + 2))
check "past the old deadline web stays as the later change put it" \
	test "$(svc_field web "['state']")" = prepend
out=$(confirm "$first")
check "confirming the superseded change says so (409)" \
	bash -c "test '${out%% *}' = 409 && grep -q replaced <<<'$out'"
api POST /v1/undrain '{"site": "ash", "reason": "back", "now": true}' >/dev/null
check "undrain brings web back unprepended" wait_for 10 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site all | grep -q 'as_path: 65001 65001'"

# ---- across a restart: stopped before the deadline, started after it --------
drain_web 3
check "drain web (restart case 1)" wait_for 10 up_lacks 192.0.2.0/24
stop_pid "$DAEMON_PID"
check "the pending confirmation is in the state file" grep -q "\"change-id\": \"$CHANGE\"" "$D/state/state.json"
wait_until $((DEADLINE + 2))
check "with routectld down, BIRD keeps the drain past the deadline" up_lacks 192.0.2.0/24
start_daemon
check "routectld started after the deadline reverts at once" wait_for 10 up_has 192.0.2.0/24
check "attributed to the confirm deadline" \
	test "$(svc_field web "['actor']")" = "routectld (confirm deadline of $CHANGE passed)"

# ---- across a restart: restarted before the deadline -------------------------
drain_web 6
check "drain web (restart case 2)" wait_for 10 up_lacks 192.0.2.0/24
stop_pid "$DAEMON_PID"
start_daemon
wait_for 10 connected
check "the restarted routectld lists the pending confirmation" \
	wait_for 5 bash -c "python3 '$(dirname "$0")/api_request.py' '$D/routectld.sock' GET /v1/status | grep -q '$CHANGE'"
check "and keeps the drain until the deadline" up_lacks 192.0.2.0/24
check "then reverts it" wait_for 15 up_has 192.0.2.0/24
check "not before the deadline" test "$(date +%s)" -ge "$DEADLINE"

# ---- a staged drain restarted between the stages resumes ----------------------
out=$(api POST /v1/drain '{"site": "ash", "services": ["web"], "reason": "staged test"}')
check "a staged drain is taken (200)" test "${out%% *}" = 200
at=$(epoch "$(jget "j['changes'][0]['next']['at']" <<<"${out#* }")")
check "the upstream sees the prepended path first" wait_for 10 up_prepended
check "status shows the next stage (withdraw)" test "$(svc_field web "['next']['state']")" = withdraw
in_s=$(svc_field web "['next']['in_s']")
check "status shows the time to the next stage ($in_s s)" test "$in_s" -ge 1 -a "$in_s" -le 4
check "status (text) shows the stage and the time to it" \
	bash -c "'$ROUTECTL' -s '$D/routectld.sock' status | grep -E -q 'prepend 3 .* withdraw at [0-9:]+Z \(in [0-9]+s\)'"
stop_pid "$DAEMON_PID"
start_daemon
wait_for 10 connected
check "after the restart the plan is still there" test "$(svc_field web "['next']['state']")" = withdraw
check "and web is still only prepended" up_prepended
check "the withdraw happens after the restart" wait_for 15 up_lacks 192.0.2.0/24
done_at=$(date +%s)
check "at the planned time, not before ($done_at >= $at)" test "$done_at" -ge "$at"
check "nor much later ($done_at <= $at + 4)" test "$done_at" -le $((at + 4))
check "status: withdrawn, no next stage" \
	bash -c "test '$(svc_field web "['state']")' = withdraw && test '$(svc_field web "['next']")' = None"

it_summary
