#!/usr/bin/env bash
# routectld against real BIRD: a site BIRD with an eBGP session to an upstream
# BIRD, both on loopback. Checks drain/undrain reach the upstream without a
# session reset, and that every failure (BIRD rejecting the config, BIRD down,
# a bad state file, a hand-edited include) gives a clear error and loses nothing.
# usage: daemon-apply.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
SRC=${ROUTECTL_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
it_init
D=$IT_DIR
SITE_IP=127.0.0.21 UP_IP=127.0.0.22

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"

svc_state() { rctl --json status | jget "[s['state'] for s in j['services'] if s['name']=='$1'][0]"; }
# routes the upstream has from the site, for one prefix
up_has() { birdc_q up show route "$1" protocol site | grep -q "$1"; }
up_path() { birdc_q up show route "$1" protocol site all | sed -n 's/.*BGP.as_path: //p' | head -1; }
session_since() { birdc_q up show protocols site | awk '$1=="site"{print $5" "$6}'; }
established() { birdc_q up show protocols site | grep -q Established; }

check "routectld -n accepts the config" "$ROUTECTLD" -n -c "$D/routectld.json"

# The daemon starts first and writes the include BIRD needs to start.
start_daemon
check "routectld writes the include at start" test -s "$D/routectl.conf"
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BGP session established" wait_for 30 established
check "daemon connects to BIRD" wait_for 10 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"connected\": *true'"
check "upstream has web v4 from the site" wait_for 10 up_has 192.0.2.0/24
check "upstream has web v6 from the site" wait_for 10 up_has 2001:db8:1::/48
since0=$(session_since)

# Refusals: wrong site, no reason, unknown service.
rc=0; out=$(rctl drain chi --reason x --now 2>&1) || rc=$?
check "drain of another site is refused (exit 1)" test "$rc" = 1
check "refusal names the site this daemon serves" grep -q "ash" <<<"$out"
rc=0; rctl drain ash --now >/dev/null 2>&1 || rc=$?
check "drain without a reason is a usage error (exit 2)" test "$rc" = 2
rc=0; out=$(rctl drain ash --service nosuch --reason x --now 2>&1) || rc=$?
check "unknown service is refused and named" bash -c "test $rc = 1 && grep -q nosuch <<<'$out'"

# Bad API input: each gets a JSON error that names what is wrong.
api() { python3 "$(dirname "$0")/api_request.py" "$D/routectld.sock" "$@"; }
# api_expect STATUS PATTERN ARGS...
api_expect() {
	local want=$1 pat=$2 out
	shift 2
	out=$(api "$@")
	if [[ ${out%% *} == "$want" ]] && grep -q -- "$pat" <<<"$out"; then
		ok "API $1 $2 ${3:-}: $want"
	else
		not_ok "API $1 $2 ${3:-}: expected $want and '$pat', got: ${out:0:300}"
	fi
}
api_expect 400 "not JSON" POST /v1/drain '{"site": "ash", '
api_expect 400 "must be a JSON object" POST /v1/drain '[1, 2]'
api_expect 400 "unknown field 'colour'" POST /v1/drain '{"site": "ash", "reason": "x", "colour": 1}'
api_expect 400 "'now' must be true or false" POST /v1/drain '{"site": "ash", "reason": "x", "now": "yes"}'
api_expect 400 "'reason' is required" POST /v1/drain '{"site": "ash"}'
api_expect 400 "reason is required" POST /v1/drain '{"site": "ash", "reason": "   "}'
api_expect 400 "'prepend' must be 1..10" POST /v1/set '{"site": "ash", "service": "web", "state": "prepend", "prepend": 11, "reason": "x"}'
api_expect 400 "'state' must be" POST /v1/set '{"site": "ash", "service": "web", "state": "sideways", "reason": "x"}'
api_expect 400 "not JSON" POST /v1/drain '{"site": "ash", "site": "chi", "reason": "x"}'
api_expect 400 "control character (0x0a)" POST /v1/drain '{"site": "ash", "reason": "two\nlines"}'
api_expect 400 "at most 1024" POST /v1/drain "{\"site\": \"ash\", \"reason\": \"$(head -c 2000 /dev/zero | tr '\0' r)\"}"
api_expect 413 "larger than" POST /v1/drain @100000
api_expect 404 "no such endpoint" GET /v1/nothing
api_expect 405 "takes POST" GET /v1/drain
api_expect 200 '"ready": *true' GET /readyz
big_header="X-Big: $(head -c 40000 /dev/zero | tr '\0' a)"
out=$(api GET /v1/status "" "$big_header")
check "an oversized header is refused, not served" test "${out%% *}" != 200
check "the daemon still answers after bad input" rctl status

# Dry run changes nothing and shows the diff.
before=$(md5sum <"$D/routectl.conf")
out=$(rctl drain ash --service web --reason "dry" --now --dry-run)
check "dry run shows the include diff" grep -q "^+define routectl_s[0-9]* = 1000;" <<<"$out"
check "dry run leaves the include alone" test "$before" = "$(md5sum <"$D/routectl.conf")"
check "dry run leaves the state alone" test "$(svc_state web)" = announce

# Drain web now: the upstream loses it, dns stays.
check "drain ash --service web --now succeeds" rctl drain ash --service web --reason "integration drain" --now
actor=$(rctl --json status | jget "[s['actor'] for s in j['services'] if s['name']=='web'][0]")
check "the change is attributed to the caller by name and uid ($actor)" \
	test "$actor" = "$(id -un) (uid $(id -u)) via console"
check "state is withdraw" test "$(svc_state web)" = withdraw
check "upstream lost web v4" wait_for 10 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site | grep -q 192.0.2.0"
check "upstream lost web v6" wait_for 10 bash -c "! birdc -s '$D/up.ctl' show route 2001:db8:1::/48 protocol site | grep -q 2001:db8:1::"
check "upstream keeps dns" up_has 198.51.100.0/24

# Prepend dns 3 times.
check "set dns prepend 3" rctl set ash dns prepend 3 --reason "integration prepend"
check "upstream sees dns with 3 prepends" wait_for 10 bash -c "birdc -s '$D/up.ctl' show route 198.51.100.0/24 protocol site all | grep -q 'as_path: 65001 65001 65001 65001'"

# BIRD rejects the config: the daemon restores the include and keeps its state.
cp "$D/site.conf" "$D/site.conf.good"
echo "this is not bird syntax;" >>"$D/site.conf"
before=$(md5sum <"$D/routectl.conf")
rc=0; out=$(rctl undrain ash --service web --reason "should fail" --now 2>&1) || rc=$?
check "undrain fails when BIRD rejects its config (exit 1)" test "$rc" = 1
check "the error carries BIRD's words (file:line)" grep -q "site.conf:" <<<"$out"
check "include restored after the rejection" test "$before" = "$(md5sum <"$D/routectl.conf")"
check "state kept after the rejection" test "$(svc_state web)" = withdraw
check "status reports the failed apply" bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"failed\"'"
cp "$D/site.conf.good" "$D/site.conf"

# BIRD down: clear error, nothing lost; BIRD back: reconnect.
stop_pid "$PID_site"
rc=0; out=$(rctl undrain ash --service web --reason "bird is down" --now 2>&1) || rc=$?
check "undrain fails while BIRD is down (exit 1)" test "$rc" = 1
check "the error says BIRD is unreachable" grep -qi "bird" <<<"$out"
check "state kept while BIRD is down" test "$(svc_state web)" = withdraw
start_bird site "$D/site.conf"
check "daemon reconnects after BIRD restarts" wait_for 15 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"connected\": *true'"
check "BGP session re-established" wait_for 30 established
since0=$(session_since)

check "undrain web now succeeds" rctl undrain ash --service web --reason "integration undrain" --now
check "upstream has web again" wait_for 10 up_has 192.0.2.0/24

# Drift: someone edits the include by hand to reject everything and
# reconfigures BIRD; the reconciler puts the desired state back.
awk '{print} /^function routectl_export\(\)$/ {getline; print; print "\treject; # hand edit"}' \
	"$D/routectl.conf" >"$D/edited.conf"
cp "$D/edited.conf" "$D/routectl.conf"
birdc_q site configure >/dev/null
check "reconciler rewrites the hand-edited include" wait_for 10 bash -c "! grep -q '# hand edit' '$D/routectl.conf'"
check "upstream has web again after the repair" wait_for 10 up_has 192.0.2.0/24
check "the repair is logged" wait_for 5 grep -q "drift: .*routectl.conf differs" "$D/routectld.log"

# BIRD takes the config but does not export what was asked (here: a site
# template that leaves out the export cases): verify fails, BIRD is told to
# undo, the include is restored, the state kept. Also exercises SIGHUP reload.
sed '/{{export_body}}/d' "$SRC/bird-templates/routectl.conf.tmpl" >"$D/noop.tmpl"
cp "$D/routectld.json" "$D/routectld.json.good"
sed -i "s|\"bgp-protocol\"|\"template\": \"$D/noop.tmpl\", \"bgp-protocol\"|" "$D/routectld.json"
check "config with the site template is valid" "$ROUTECTLD" -n -c "$D/routectld.json"
# What BIRD runs now: every apply with the new template fails its verify and
# puts this include back.
before=$(md5sum <"$D/routectl.conf")
kill -HUP "$DAEMON_PID"
check "SIGHUP reloads the config" wait_for 5 grep -q "reloaded $D/routectld.json" "$D/routectld.log"
# The drain runs after the reconcile that the reload brings.
check "nothing in flight before the drain" wait_for 10 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"in_flight\": *null'"
rc=0; out=$(rctl drain ash --service web --reason "verify must fail" --now 2>&1) || rc=$?
check "drain fails when BIRD does not export what was asked (exit 1)" test "$rc" = 1
check "the error names the prefix and the peer" grep -q "web 192.0.2.0/24 to isp: expected withdrawn" <<<"$out"
check "BIRD was told to undo, and the error says so" grep -q "configure undo" <<<"$out"
# The reconciler keeps retrying the desired state with this template (it
# fails the same way and puts the include back each time): the include is
# compared once no retry is writing it.
check "include restored after the failed verify" wait_for 10 bash -c "test '$before' = \"\$(md5sum <'$D/routectl.conf')\""
check "state kept after the failed verify" test "$(svc_state web)" = announce
check "upstream still has web" up_has 192.0.2.0/24
cp "$D/routectld.json.good" "$D/routectld.json"
kill -HUP "$DAEMON_PID"
check "the include is back to the built-in template" wait_for 10 bash -c "grep -q 'routectl_export' '$D/routectl.conf' && '$ROUTECTL' -s '$D/routectld.sock' drain ash --service web --reason 'verify works again' --now --dry-run | grep -q '^+define routectl_s[0-9]* = 1000;'"

check "no BGP session reset across drains" same_since "$since0" "$(session_since)"

# A state file that does not load: safe mode, BIRD untouched, writes refused.
stop_pid "$DAEMON_PID"
echo '{"routectl-state:state": {"site": "ash", "generation": "x"' >"$D/state/state.json"
before=$(md5sum <"$D/routectl.conf")
start_daemon
check "bad state file: status shows safe mode" wait_for 5 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"reason\"'"
rc=0; out=$(rctl drain ash --reason x --now 2>&1) || rc=$?
check "safe mode refuses writes (exit 1)" test "$rc" = 1
check "the refusal says safe mode and names the file" bash -c "grep -qi 'safe mode' <<<'$out' && grep -q state.json <<<'$out'"
sleep 1.5
check "safe mode does not touch the include" test "$before" = "$(md5sum <"$D/routectl.conf")"
check "upstream still has web (BIRD untouched)" up_has 192.0.2.0/24

it_summary
