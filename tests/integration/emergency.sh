#!/usr/bin/env bash
# routectl emergency against a real BIRD (a site and an upstream on
# loopback) and a real routectld:
#   - refused while routectld runs (exit 1, names the normal path), nothing
#     changed, no journal record;
#   - bad arguments (no reason, an unknown service, a config that is not
#     there): a clear error each, nothing changed;
#   - with routectld stopped: emergency drain, the upstream loses the routes
#     (time printed); emergency status shows the journal record and BIRD;
#   - routectld restarted: it adopts the journal (status shows the emergency
#     actor and reason, the audit log has the record, the journal is set
#     aside), and the upstream still lacks the routes after reconciles and a
#     SIGHUP; undrain through the normal path brings them back;
#   - --force beside a running routectld: the drain is not reverted by its
#     next reconciles, and it is adopted and audited;
#   - the guards are judged before the intent is written: a command
#     interrupted while another site is asked leaves no intent, and one
#     they refuse leaves its intent and refusal together, never adopted.
# usage: emergency.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
it_init
D=$IT_DIR
SITE_IP=127.0.0.131 UP_IP=127.0.0.132
CONF=$D/routectld.json

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"

established() { birdc_q up show protocols site | grep -q Established; }
up_has() { birdc_q up show route "$1" protocol site | grep -q "${1%/*}"; }
up_lacks() { ! up_has "$1"; }
both_lack() { up_lacks 192.0.2.0/24 && up_lacks 198.51.100.0/24; }
both_have() { up_has 192.0.2.0/24 && up_has 198.51.100.0/24; }
says() { grep -q -- "$2" <<<"$1"; }
svc_field() { rctl --json status | jget "[s['$2'] for s in j['services'] if s['name']=='$1'][0]"; }
ready() { python3 "$(dirname "$0")/api_request.py" "$D/routectld.sock" GET /readyz | grep -q '^200'; }
# emergency_actor SERVICE: its desired state was set by routectl emergency
emergency_actor() { [[ $(svc_field "$1" actor) == "emergency: "*" (uid $(id -u)) on "* ]]; }
emerg() { "$ROUTECTL" emergency "$@"; }
# run_emerg ARGS: routectl emergency ARGS; output in $OUT, exit code in $RC
run_emerg() {
	RC=0
	OUT=$(emerg "$@" 2>&1) || RC=$?
	printf '$ routectl emergency %s\n%s\n(exit %s)\n' "$*" "$OUT" "$RC"
}
include_sum() { sha256sum "$D/routectl.conf" | cut -d' ' -f1; }

start_daemon
start_bird site "$D/site.conf"
start_bird up "$D/up.conf"
check "BGP session established" wait_for 30 established
check "the upstream has web and dns from the site" wait_for 15 both_have

# --- refused while routectld runs ---------------------------------------------------
run_emerg drain --config "$CONF" --reason "routectld is up"
check "refused while routectld runs: exit 1" test "$RC" = 1
check "... says routectld runs and names the normal path" \
	bash -c "grep -q 'routectld of site ash is running' <<<\"\$0\" && grep -q 'normal path' <<<\"\$0\" && grep -q 'drain ash --now' <<<\"\$0\"" "$OUT"
check "... no journal record" test ! -e "$D/state/emergency.jsonl"
check "... the upstream keeps the routes" both_have
run_emerg status --config "$CONF"
check "emergency status says routectld runs" says "$OUT" "routectld: RUNNING"

# --- routectld stopped -------------------------------------------------------------------
stop_pid "$DAEMON_PID"
check "routectld stopped" bash -c "! kill -0 $DAEMON_PID 2>/dev/null"
sum0=$(include_sum)
state0=$(cat "$D/state/state.json")

run_emerg drain --config "$CONF"
check "no --reason: exit 2" test "$RC" = 2
check "... says the reason is required" says "$OUT" "reason is required"
run_emerg drain --config "$CONF" --service nope --reason "wrong service"
check "an unknown service: exit 1" test "$RC" = 1
check "... names it and the site's services" says "$OUT" "no service 'nope' at site 'ash' (services: dns, web)"
run_emerg drain --config "$D/missing.json" --reason "wrong config"
check "a config that is not there: exit 1" test "$RC" = 1
check "... names the file" says "$OUT" "$D/missing.json"
run_emerg frobnicate --config "$CONF"
check "an unknown emergency command: exit 2" test "$RC" = 2
check "after the bad commands: no journal record" test ! -e "$D/state/emergency.jsonl"
check "... the include is unchanged" test "$(include_sum)" = "$sum0"
check "... the state file is unchanged" test "$(cat "$D/state/state.json")" = "$state0"
check "... the upstream keeps the routes" both_have

run_emerg status --config "$CONF"
check "emergency status: routectld not running" says "$OUT" "routectld: not running"
check "... BIRD exports web as announced" bash -c "grep -qE '^  web +announce' <<<\"\$0\"" "$OUT"

# The command keeps BIRD awake for a while after it applied (so that the
# upstream gets every update now): the upstream is watched meanwhile.
start=$(date +%s%N)
emerg drain --config "$CONF" --reason "fiber cut, chat-ops down" >"$D/drain.out" 2>&1 &
cmd=$!
wait_for 10 both_lack || true
seen=$(date +%s%N)
RC=0
wait "$cmd" || RC=$?
OUT=$(cat "$D/drain.out")
printf '$ routectl emergency drain\n%s\n(exit %s)\n' "$OUT" "$RC"
echo "emergency drain: the upstream lost the routes $(((seen - start) / 1000000)) ms after the command started"
check "emergency drain: exit 0" test "$RC" = 0
check "... says applied, with the change id" says "$OUT" "emergency drain of site ash: applied in"
check "the upstream lost web and dns" both_lack
check "the journal has the intent and the outcome" \
	bash -c "grep -c '\"type\":\"intent\"' '$D/state/emergency.jsonl' | grep -qx 1 && grep -q '\"result\":\"applied\"' '$D/state/emergency.jsonl'"
id=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['id'])" "$D/state/emergency.jsonl")
run_emerg status --config "$CONF"
check "emergency status lists the command not adopted yet" says "$OUT" "1 command(s) not adopted by routectld yet"
check "... with its id and reason" bash -c "grep -q '$id drain' <<<\"\$0\" && grep -q 'fiber cut' <<<\"\$0\"" "$OUT"
check "... and BIRD withdrawing web" bash -c "grep -qE '^  web +withdraw' <<<\"\$0\"" "$OUT"
check "... and the include as the render of the desired state" says "$OUT" "the render of the desired state"

# --- routectld adopts ---------------------------------------------------------------------
start_daemon
check "routectld ready after the emergency" wait_for 10 ready
check "status: web withdrawn" test "$(svc_field web state)" = withdraw
check "status: dns withdrawn" test "$(svc_field dns state)" = withdraw
check "status: the emergency actor" emergency_actor web
check "status: the emergency reason" test "$(svc_field web reason)" = "fiber cut, chat-ops down"
check "status: the emergency change id" test "$(svc_field web change_id)" = "$id"
check "the journal is set aside" bash -c "test ! -e '$D/state/emergency.jsonl' && ls '$D'/state/emergency.jsonl.adopted-* >/dev/null"
check "the audit log has the adopted command" wait_for 5 bash -c \
	"grep '\"action\":\"emergency-drain\"' '$D/state/audit.log' | grep '\"transport\":\"emergency\"' | grep '\"phase\":\"outcome\"' | grep -q '$id'"
check "routectld's log says what it adopted" grep -q "emergency journal adopted" "$D/routectld.log"
sleep 2.5   # reconcile-interval 1: at least two reconciles
check "the upstream still lacks the routes after reconciles" both_lack
kill -HUP "$DAEMON_PID"
check "routectld reloaded" wait_for 10 grep -q "reloaded $CONF" "$D/routectld.log"
sleep 1
check "... and still after a SIGHUP" both_lack
check "undrain through the normal path" rctl undrain ash --now --reason "fiber repaired"
check "the upstream has the routes again" wait_for 10 both_have

# --- --force beside a running routectld -----------------------------------------------------
run_emerg drain --service web --config "$CONF" --reason "forced beside routectld" --force
check "--force beside routectld: exit 0" test "$RC" = 0
check "... warns that routectld runs and adopts it" says "$OUT" "going on because of --force"
check "the upstream lost web" wait_for 10 up_lacks 192.0.2.0/24
check "routectld adopts it" wait_for 5 bash -c "test ! -e '$D/state/emergency.jsonl'"
check "status: web withdrawn by the emergency" emergency_actor web
sleep 3   # three reconcile ticks
check "the drain is not reverted by routectld's reconciles" up_lacks 192.0.2.0/24
check "dns stays announced" up_has 198.51.100.0/24
check "the audit log has the forced command" wait_for 5 bash -c \
	"grep '\"action\":\"emergency-drain\"' '$D/state/audit.log' | grep -q 'forced beside routectld'"
check "undrain web through the normal path" rctl undrain ash --service web --now --reason "done"
check "the upstream has web again" wait_for 10 up_has 192.0.2.0/24

# --- the guards are judged before the intent is written ------------------------------------
# A fleet whose other site (chi) accepts connections and never answers: the
# guards wait ask-timeout-ms for it, then refuse (unreachable). A command
# interrupted while it waits, and one the guards refuse, must leave no
# intent that routectld would adopt (it would drain without the guards).
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.133", int(sys.argv[1]))); s.listen(64)
time.sleep(3600)' "$((PORT + 7))" &
HOLE_PID=$!
IT_PIDS+=("$HOLE_PID")
echo "secret-of-chi" >"$D/chi-token"
chmod 600 "$D/chi-token"
cat >"$D/fleet.json" <<FLEET
{"routectl-fleet:fleet": {"site": [
  {"name": "ash", "router": [{"name": "ash-r1", "api-url": "http://$SITE_IP:1", "token": {"file": "$D/chi-token"}}]},
  {"name": "chi", "router": [{"name": "chi-r1", "api-url": "http://127.0.0.133:$((PORT + 7))", "token": {"file": "$D/chi-token"}}]}]}}
FLEET
printf '%s\n' '{"routectl-policy:policy": {"guards": {"ask-timeout-ms": 3000},' \
	' "flap-budget": {"changes": 1000, "window": 1}}}' >"$D/fleet-policy.json"
cp "$CONF" "$D/routectld.json.no-fleet"
python3 - "$CONF" "$D/fleet.json" "$D/fleet-policy.json" <<'PY'
import json, sys
path, fleet, policy = sys.argv[1:4]
c = json.load(open(path))
c["routectl-config:routectld"]["fleet-file"] = fleet
c["routectl-config:routectld"]["policy-file"] = policy
json.dump(c, open(path, "w"), indent=1)
PY
stop_pid "$DAEMON_PID"
rm -f "$D/state/emergency.jsonl"
sum0=$(include_sum)
"$ROUTECTL" emergency drain --service web --config "$CONF" --reason "interrupted" \
	>"$D/int.out" 2>&1 &
cmd=$!
sleep 1
# SIGTERM: a background job of a script ignores SIGINT (what Ctrl-C sends)
kill -TERM "$cmd"
RC=0
wait "$cmd" || RC=$?
cat "$D/int.out"
check "interrupted while the other sites are asked: killed by the signal (exit $RC)" test "$RC" = 143
check "... no intent in the journal" bash -c "! grep -qs '\"interrupted\"' '$D/state/emergency.jsonl'"
check "... the include is unchanged" test "$(include_sum)" = "$sum0"
run_emerg drain --service web --config "$CONF" --reason "chi does not answer"
check "refused by the unreachable guard: exit 1" test "$RC" = 1
check "... says refused and names the site not answering" \
	bash -c "grep -q 'refused' <<<\"\$0\" && grep -q 'chi' <<<\"\$0\"" "$OUT"
check "... the journal has its intent and its refusal, in order" python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mine = [r for r in recs if r.get("reason") == "chi does not answer"]
assert len(mine) == 1, mine
i = recs.index(mine[0])
assert recs[i + 1]["type"] == "outcome" and recs[i + 1]["id"] == mine[0]["id"], recs
assert recs[i + 1]["result"] == "refused", recs[i + 1]' "$D/state/emergency.jsonl"
check "... the include is unchanged" test "$(include_sum)" = "$sum0"
cp "$D/routectld.json.no-fleet" "$CONF"
start_daemon
check "routectld ready again" wait_for 10 ready
check "the refused command is not adopted: web announced" test "$(svc_field web state)" = announce
check "... and audited as refused" wait_for 5 bash -c \
	"grep '\"action\":\"emergency-drain\"' '$D/state/audit.log' | grep 'chi does not answer' | grep -q '\"result\":\"refused\"'"
check "the upstream keeps web" up_has 192.0.2.0/24
stop_pid "$HOLE_PID"

# --- a lost state file: safe mode, as routectld would be ---------------------------------------
stop_pid "$DAEMON_PID"
mv "$D/state/state.json" "$D/state-aside.json"
run_emerg drain --config "$CONF" --reason "state lost"
check "with the state file lost: refused, exit 1" test "$RC" = 1
check "... says safe mode and why" says "$OUT" "refused: the site is in safe mode: the desired state is lost"
check "... no journal record" test ! -e "$D/state/emergency.jsonl"
check "... the upstream keeps the routes" both_have

it_summary
