#!/usr/bin/env bash
# What routectld changes on its own is in the audit log and in `routectl
# history`, against real BIRD (a site BIRD with an eBGP session to an
# upstream BIRD, on loopback):
#  - the withdraw that follows a staged drain's prepend is a "staged-step"
#    record: actor routectld, on the drain's change, prepend 3 -> withdraw;
#  - the drain was made with confirm_within and not confirmed: its revert is
#    a "confirm-revert" record, on the drain's change, withdraw -> announce,
#    with the change id status shows for the service;
#  - the announce that follows a staged undrain's prepend is a
#    "staged-step" record too (prepend 3 -> announce);
#  - `routectl history` shows each with its move and the change it follows.
# usage: auto-audit.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
it_init
D=$IT_DIR
SITE_IP=127.0.0.151 UP_IP=127.0.0.152

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"
# Stages of seconds, and no guard or flap budget in the way (one site, no
# fleet).
it_staged_policy 2

api() { python3 "$(dirname "$0")/api_request.py" "$D/routectld.sock" "$@"; }
status_json() { api GET /v1/status | cut -d' ' -f2-; }
svc_field() { status_json | jget "[s for s in j['services'] if s['name']=='$1'][0]$2"; }
up_has() { birdc_q up show route "$1" protocol site | grep -q "$1"; }
up_lacks() { ! up_has "$1"; }
established() { birdc_q up show protocols site | grep -q Established; }
connected() { status_json | grep -q '"connected": *true'; }
# audit_rec ACTION FOLLOWS: the record of the audit log with that action that
# follows change FOLLOWS, as JSON (exit 1 when there is none).
audit_rec() {
	python3 - "$D/state/audit.log" "$1" "$2" <<'PY'
import json, sys
path, action, follows = sys.argv[1:4]
found = None
with open(path) as f:
    for line in f:
        r = json.loads(line)
        if r.get("action") == action and r.get("follows_change_id") == follows:
            found = r
if not found:
    sys.exit(1)
print(json.dumps(found))
PY
}
has_rec() { audit_rec "$1" "$2" >/dev/null; }
# rec_is JSON EXPR: EXPR (Python, over the record r) is true.
rec_is() { python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$1"; }

start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BGP session established" wait_for 30 established
check "routectld connects to BIRD" wait_for 10 connected
check "upstream has web from the site" wait_for 10 up_has 192.0.2.0/24

# ---- a staged drain with a confirm deadline that nobody confirms -------------
out=$(api POST /v1/drain '{"site": "ash", "services": ["web"], "reason": "audit drill", "confirm_within": 6}')
check "a staged drain with confirm_within is taken (200)" test "${out%% *}" = 200
DRAIN=$(jget "j['change_id']" <<<"${out#* }")
check "the staged withdraw happens" wait_for 10 up_lacks 192.0.2.0/24
check "the audit log has the staged step" wait_for 5 has_rec staged-step "$DRAIN"
step=$(audit_rec staged-step "$DRAIN" || echo '{}')
check "the step is routectld's, through routectld, an outcome" rec_is "$step" \
	"r['actor'] == 'routectld' and r['transport'] == 'routectld' and r['phase'] == 'outcome'"
check "the step names who asked for the drain" rec_is "$step" "'uid' in r['follows_actor']"
check "the step went through" rec_is "$step" "r['result'] == 'ok' and r['error'] is None"
check "the step: web prepend 3 -> withdraw" rec_is "$step" \
	"r['before']['web'] == {'state': 'prepend', 'prepend': 3} and r['after']['web']['state'] == 'withdraw'"
check "the step has a change id of its own, not the drain's" rec_is "$step" \
	"r['change_id'] not in (None, '$DRAIN') and r['request_id'] == r['change_id']"
check "the step keeps the drain's reason" rec_is "$step" "r['reason'] == 'audit drill'"
STEP=$(jget "j['change_id']" <<<"$step")

check "the revert at the deadline brings web back" wait_for 15 up_has 192.0.2.0/24
check "the audit log has the confirm revert" wait_for 5 has_rec confirm-revert "$DRAIN"
rev=$(audit_rec confirm-revert "$DRAIN" || echo '{}')
REVERT=$(svc_field web "['change_id']")
check "the revert: web withdraw -> announce" rec_is "$rev" \
	"r['before']['web']['state'] == 'withdraw' and r['after']['web']['state'] == 'announce'"
check "the revert's change id is the one status shows for web ($REVERT)" rec_is "$rev" \
	"r['change_id'] == '$REVERT' and r['change_id'] not in ('$DRAIN', '$STEP')"
check "the revert is routectld's, ok, and says why" rec_is "$rev" \
	"r['actor'] == 'routectld' and r['result'] == 'ok' and '$DRAIN' in r['reason'] and 'not confirmed' in r['reason']"

# ---- a staged undrain ------------------------------------------------------------
out=$(api POST /v1/drain '{"site": "ash", "services": ["dns"], "reason": "dns away", "now": true}')
check "drain dns at once (200)" test "${out%% *}" = 200
check "dns is withdrawn" wait_for 10 up_lacks 198.51.100.0/24
out=$(api POST /v1/undrain '{"site": "ash", "services": ["dns"], "reason": "dns back"}')
check "a staged undrain is taken (200)" test "${out%% *}" = 200
UNDRAIN=$(jget "j['change_id']" <<<"${out#* }")
check "the audit log has the undrain's step" wait_for 10 has_rec staged-step "$UNDRAIN"
ustep=$(audit_rec staged-step "$UNDRAIN" || echo '{}')
check "the undrain's step: dns prepend 3 -> announce" rec_is "$ustep" \
	"r['before']['dns'] == {'state': 'prepend', 'prepend': 3} and r['after']['dns']['state'] == 'announce' and r['services'] == ['dns']"
check "dns is announced again" wait_for 10 up_has 198.51.100.0/24

# ---- routectl history -------------------------------------------------------------
hist=$(rctl history -n 20)
check "history shows the staged step with its move and the drain it follows" \
	grep -E -q "routectld \(after $DRAIN of .*\) +staged-step +ash +web prepend 3 -> withdraw +ok +$STEP +audit drill" <<<"$hist"
check "history shows the confirm revert with its move and change id" \
	grep -E -q "routectld \(after $DRAIN of .*\) +confirm-revert +ash +web withdraw -> announce +ok +$REVERT " <<<"$hist"
check "history shows the undrain's step" \
	grep -E -q "staged-step +ash +dns prepend 3 -> announce +ok" <<<"$hist"
hist=$(rctl --json history --service web -n 20)
check "history --json has the step and the revert, newest first" python3 -c "
import json, sys
h = json.loads(sys.argv[1])['history']
acts = [(r['action'], r['change_id']) for r in h if r.get('transport') == 'routectld']
sys.exit(0 if acts == [('confirm-revert', '$REVERT'), ('staged-step', '$STEP')] else 1)" "$hist"
check "no automatic record failed" bash -c "! grep -q '\"result\":\"failed\"' '$D/state/audit.log'"

it_summary
