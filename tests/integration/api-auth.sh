#!/usr/bin/env bash
# The chat-ops API against a real routectld and real BIRD, on loopback: the
# auth matrix (every route x no token, bad token, viewer, operator, admin, on
# TCP and on the console), the audit log (every write attempt, accepted or
# refused, with who, on whose behalf, why and what), Idempotency-Key replays
# (also after a restart), a write whose audit record cannot be written,
# rate limits, bad input of every kind, /metrics (promtool) and
# `routectl history`.
# usage: api-auth.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
it_init
D=$IT_DIR
SITE_IP=127.0.0.71 UP_IP=127.0.0.72
API_PORT=$((PORT + 10)) METRICS_PORT=$((PORT + 11))
API=http://$SITE_IP:$API_PORT
API6=http://[::1]:$API_PORT
CONSOLE=unix:$D/routectld.sock

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"
# The API on TCP (IPv4 and IPv6), a metrics-only address, tokens, and a
# console every local user may reach (the role decides what they may do).
python3 - "$D/routectld.json" "$SITE_IP" "$API_PORT" "$METRICS_PORT" "$D" <<'EOF'
import json, sys
path, ip, port, mport, d = sys.argv[1:]
c = json.load(open(path))
r = c["routectl-config:routectld"]
r["console"]["mode"] = "0666"
r["api"] = {"listen": [{"address": ip, "port": int(port)},
                       {"address": "::1", "port": int(port)},
                       {"address": ip, "port": int(mport), "metrics-only": True}],
            "token-file": d + "/tokens", "write-rate": 60, "write-burst": 20}
json.dump(c, open(path, "w"), indent=1)
EOF

# Tokens: printed once by `routectl token new`, only hashes in the file.
for t in viewer:viewer bot:operator boss:admin flood:operator; do
	"$ROUTECTL" token new "${t%%:*}" "${t#*:}" --token-file "$D/tokens" >"$D/secret-${t%%:*}"
done
VIEWER=$(cat "$D/secret-viewer") OPERATOR=$(cat "$D/secret-bot") ADMIN=$(cat "$D/secret-boss")
check "token file keeps hashes, not secrets" bash -c "! grep -qF '$OPERATOR' '$D/tokens' && grep -q '^bot operator sha256:' '$D/tokens'"
check "token file is mode 0600" test "$(stat -c %a "$D/tokens")" = 600

established() { birdc_q up show protocols site | grep -q Established; }
up_has() { birdc_q up show route "$1" protocol site | grep -q "$1"; }
start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BGP session established" wait_for 30 established
check "routectld connected to BIRD" wait_for 10 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"connected\": *true'"
check "upstream has web from the site" wait_for 10 up_has 192.0.2.0/24
check "TCP listener answers" wait_for 10 bash -c "python3 '$HERE/http_call.py' '$API' GET /healthz | grep -q '\"status\": 200'"

call() { python3 "$HERE/http_call.py" "$@"; }
# field EXPR: a Python expression over j (the call's output) on stdin.
field() { jget "$1"; }

# ---- the auth matrix ----
# route: METHOD PATH BODY WRITE NEED (the role needed; open = none)
ROUTES=(
	"GET|/v1/status||0|viewer"
	"GET|/v1/services||0|viewer"
	"GET|/v1/services/web||0|viewer"
	"GET|/v1/history||0|viewer"
	"GET|/metrics||0|viewer"
	"GET|/healthz||0|open"
	"GET|/readyz||0|open"
	"POST|/v1/drain|{\"site\":\"ash\",\"services\":[\"web\"],\"reason\":\"matrix\",\"dry_run\":true}|1|operator"
	"POST|/v1/undrain|{\"site\":\"ash\",\"services\":[\"web\"],\"reason\":\"matrix\",\"dry_run\":true}|1|operator"
	"POST|/v1/set|{\"site\":\"ash\",\"service\":\"web\",\"state\":\"prepend\",\"prepend\":2,\"reason\":\"matrix\",\"dry_run\":true}|1|operator"
	"PUT|/v1/services/web|{\"state\":\"prepend\",\"prepend\":2,\"reason\":\"matrix\",\"dry_run\":true}|1|operator"
	"POST|/v1/adopt|{\"site\":\"ash\",\"reason\":\"matrix\",\"dry_run\":true}|1|admin"
)
rank() { case $1 in none) echo 0 ;; viewer) echo 1 ;; operator) echo 2 ;; admin) echo 3 ;; open) echo 0 ;; esac; }
unexpected=0 refused_writes=() n=0
matrix_case() {   # TRANSPORT TARGET CRED_NAME ROLE TOKEN_ARGS... -- route
	local tname=$1 target=$2 cname=$3 role=$4
	shift 4
	local route=$1 method path body write need
	IFS='|' read -r method path body write need <<<"$route"
	n=$((n + 1))
	local rid="matrix-$tname-$cname-$n"
	local args=("$target" "$method" "$path" --header "X-Request-Id: $rid")
	[[ -n $TOKEN ]] && args+=(--token "$TOKEN")
	[[ -n $body ]] && args+=(--body "$body")
	local out status
	out=$(call "${args[@]}")
	status=$(field "j['status']" <<<"$out")
	local echoed
	echoed=$(field "j['headers'].get('x-request-id','')" <<<"$out")
	local want
	if [[ $need == open ]]; then
		want="200|503"
	elif [[ $role == none ]]; then
		want=401
	elif (($(rank "$role") < $(rank "$need"))); then
		want=403
	else
		want="ok"
	fi
	local good=0
	case $want in
	ok) [[ $status != 401 && $status != 403 && $status != 0 && $status != 404 && $status != 405 ]] && good=1 ;;
	*) [[ "|$want|" == *"|$status|"* ]] && good=1 ;;
	esac
	[[ $echoed == "$rid" ]] || good=0
	if ((good == 0)); then
		unexpected=$((unexpected + 1))
		echo "# unexpected: $tname $cname $method $path -> $status (want $want, request id '$echoed'): $(field "j['body'][:200]" <<<"$out")"
	fi
	if [[ $write == 1 && $want != ok ]]; then
		refused_writes+=("$rid:$status")
	fi
}
for cred in none:none bad:none viewer:viewer operator:operator admin:admin; do
	cname=${cred%%:*} role=${cred#*:}
	case $cname in
	none) TOKEN= ;; bad) TOKEN="rct_not-a-token-at-all-aaaaaaaaaaaaaaaaaaaaaaaaa" ;;
	viewer) TOKEN=$VIEWER ;; operator) TOKEN=$OPERATOR ;; admin) TOKEN=$ADMIN ;;
	esac
	for r in "${ROUTES[@]}"; do
		matrix_case tcp "$API" "$cname" "$role" "$r"
	done
done
# The console: root is admin (tokens are not looked at); another local user
# is a viewer.
TOKEN=
for r in "${ROUTES[@]}"; do
	matrix_case console "$CONSOLE" root admin "$r"
done
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null && [[ -x /usr/bin/python3 ]]; then
	# nobody reaches the socket (mode 0666) through the test directory, and
	# runs the system's python3 and a copy of the client it can read.
	chmod 0755 "$D"
	cp "$HERE/http_call.py" "$D/http_call.py"
	chmod 0644 "$D/http_call.py"
	call() { setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 "$D/http_call.py" "$@"; }
	for r in "${ROUTES[@]}"; do
		matrix_case console "$CONSOLE" nobody viewer "$r"
	done
	call() { python3 "$HERE/http_call.py" "$@"; }
	nobody_cases=1
else
	echo "# not root: the console's viewer case (another uid) is not run"
	nobody_cases=0
fi
check "auth matrix: $n cases, no unexpected accept or refusal" test "$unexpected" = 0
out=$(call "$API" GET /v1/status)
check "401 carries the Bearer challenge (RFC 6750)" bash -c "grep -q '\"www-authenticate\": \"Bearer realm' <<<'$out'"
out=$(call "$API" POST /v1/drain --token rct_bad --body '{}')
check "a bad token's 401 says invalid_token" grep -q 'invalid_token' <<<"$out"
check "the matrix ran over IPv6 too" bash -c "python3 '$HERE/http_call.py' '$API6' GET /v1/status --token '$VIEWER' | grep -q '\"status\": 200'"

# Every refused write is in the audit log, with its request id and status.
AUDIT=$D/state/audit.log
missing=0
for rs in "${refused_writes[@]}"; do
	rid=${rs%%:*} st=${rs#*:}
	if ! python3 - "$AUDIT" "$rid" "$st" <<'EOF'; then
import json, sys
path, rid, st = sys.argv[1:]
for line in open(path):
    r = json.loads(line)
    if r["request_id"] == rid and r["result"] == "refused" and r["status"] == int(st) \
            and r["phase"] == "outcome" and r["action"] and r["transport"] and r["remote"]:
        sys.exit(0)
sys.exit(1)
EOF
		missing=$((missing + 1))
		echo "# not audited: $rs"
	fi
done
check "every refused write (${#refused_writes[@]}) is in the audit log with its status" test "$missing" = 0

# ---- a bot drains and undrains over HTTP, on behalf of a human ----
out=$(call "$API" POST /v1/drain --token "$OPERATOR" --header "X-Actor: alice" \
	--header "X-Request-Id: bot-drain-1" \
	--body '{"site":"ash","services":["web"],"reason":"fiber cut","now":true}')
check "operator token drains web over HTTP (200)" test "$(field "j['status']" <<<"$out")" = 200
check "the upstream lost web" wait_for 10 bash -c "$(declare -f birdc_q up_has); IT_DIR=$D; ! up_has 192.0.2.0/24"
change_id=$(field "j['json']['change_id']" <<<"$out")
check "status names the bot and the human" bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q 'bot via http from 127.0.0.1 for alice'"
check "audit: intent then outcome, with who, for whom, why, before and after" python3 - "$AUDIT" "$change_id" <<'EOF'
import json, sys
path, cid = sys.argv[1:]
recs = [json.loads(l) for l in open(path) if '"bot-drain-1"' in l]
assert [r["phase"] for r in recs] == ["intent", "outcome"], recs
o = recs[1]
assert o["actor"].startswith("bot via http") and o["on_behalf_of"] == "alice", o
assert o["role"] == "operator" and o["transport"] == "http" and o["remote"].startswith("127.0.0.1:"), o
assert o["action"] == "drain" and o["services"] == ["web"] and o["reason"] == "fiber cut", o
assert o["before"]["web"]["state"] == "announce" and o["after"]["web"]["state"] == "withdraw", o
assert o["result"] == "ok" and o["status"] == 200 and o["change_id"] == cid, o
EOF
out=$(call "$API" POST /v1/drain --token "$VIEWER" --header "X-Actor: mallory" \
	--body '{"site":"ash","services":["dns"],"reason":"not allowed","now":true}')
check "a viewer cannot drain (403)" test "$(field "j['status']" <<<"$out")" = 403
check "the viewer's attempt is audited as refused" grep -q '"on_behalf_of":"mallory".*"result":"refused"' "$AUDIT"
check "dns still announced" up_has 198.51.100.0/24
out=$(call "$API" POST /v1/undrain --token "$OPERATOR" --header "X-Actor: alice" \
	--body '{"site":"ash","services":["web"],"reason":"fiber fixed","now":true}')
check "operator token undrains web (200)" test "$(field "j['status']" <<<"$out")" = 200
check "the upstream has web again" wait_for 10 up_has 192.0.2.0/24

# ---- the chat-ops bot, against this routectld ----
BOT=$HERE/../../deploy/chatops/routectl-bot
export ROUTECTL_API_ASH=$API
rc=0; reply=$(ROUTECTL_TOKEN=$OPERATOR "$BOT" --user carol --message-id m-1 drain ash --now dns -- bot drill) || rc=$?
check "bot (operator token) drains dns from a chat message (exit 0)" test "$rc" = 0
check "the upstream lost dns" wait_for 10 bash -c "$(declare -f birdc_q up_has); IT_DIR=$D; ! up_has 198.51.100.0/24"
check "the audit log says the bot did it for carol" grep -q '"actor":"bot via http from 127.0.0.1 for carol".*"phase":"outcome".*"reason":"bot drill"' "$AUDIT"
rc=0; reply=$(ROUTECTL_TOKEN=$VIEWER "$BOT" --user mallory undrain ash --now dns -- not allowed) || rc=$?
check "bot with a viewer token cannot undrain (exit 1, the API's words)" bash -c "test $rc = 1 && grep -q 'operator role' <<<'$reply'"
check "dns still withdrawn" bash -c "$(declare -f birdc_q up_has); IT_DIR=$D; ! up_has 198.51.100.0/24"
rc=0; ROUTECTL_TOKEN=$OPERATOR "$BOT" --user carol --message-id m-2 undrain ash --now dns -- bot drill over >/dev/null || rc=$?
check "bot undrains dns (exit 0)" test "$rc" = 0
check "the upstream has dns again" wait_for 10 up_has 198.51.100.0/24

# ---- routectl history ----
hist=$("$ROUTECTL" -s "$D/routectld.sock" history -n 10)
check "routectl history shows the undrain first, then the drain" python3 -c "
import sys; t = sys.argv[1]; u = t.find('fiber fixed'); d = t.find('fiber cut')
sys.exit(0 if 0 <= u < d else 1)" "$hist"
check "routectl history names the human" grep -q alice <<<"$hist"
hist=$("$ROUTECTL" -s "$D/routectld.sock" --json history --service dns -n 50)
check "history --service dns has only dns records" python3 -c "
import json, sys; h = json.loads(sys.argv[1])['history']
sys.exit(0 if h and all('dns' in (r['services'] or []) for r in h) else 1)" "$hist"
out=$(call "$API" GET "/v1/history?limit=1" --token "$VIEWER")
check "GET /v1/history?limit=1 gives one record" test "$(field "len(j['json']['history'])" <<<"$out")" = 1
out=$(call "$API" GET "/v1/history?limit=0" --token "$VIEWER")
check "GET /v1/history?limit=0 is 400 naming limit" bash -c "grep -q '\"status\": 400' <<<'$out' && grep -q limit <<<'$out'"

# ---- Idempotency-Key ----
idem_set() {
	call "$API" PUT /v1/services/dns --token "$OPERATOR" --header "Idempotency-Key: $1" \
		--body "{\"state\":\"prepend\",\"prepend\":$2,\"reason\":\"idem\",\"now\":true}"
}
first=$(idem_set key-1 2)
check "PUT with an Idempotency-Key applies (200)" test "$(field "j['status']" <<<"$first")" = 200
cid1=$(field "j['json']['change_id']" <<<"$first")
again=$(idem_set key-1 2)
check "the retry returns the first answer" test "$(field "j['json']['change_id']" <<<"$again")" = "$cid1"
check "the retry changed nothing twice (one outcome in the audit log)" test "$(grep -c '"idempotency_key":"key-1".*"phase":"outcome"\|"phase":"outcome".*"idempotency_key":"key-1"' "$AUDIT")" = 1
other=$(idem_set key-1 3)
check "the same key with another body is 422" test "$(field "j['status']" <<<"$other")" = 422
stop_pid "$DAEMON_PID"
start_daemon
check "routectld back after a restart" wait_for 10 bash -c "python3 '$HERE/http_call.py' '$API' GET /healthz | grep -q '\"status\": 200'"
again=$(idem_set key-1 2)
check "after a restart the retry still returns the first answer" test "$(field "j['json']['change_id']" <<<"$again")" = "$cid1"
check "... and changed nothing" test "$("$ROUTECTL" -s "$D/routectld.sock" --json status | jget "[s['change_id'] for s in j['services'] if s['name']=='dns'][0]")" = "$cid1"

# ---- bad input: each gets its documented error; the daemon keeps answering ----
expect() {   # STATUS PATTERN call-args...
	local want=$1 pat=$2 out
	shift 2
	out=$(call "$@")
	if [[ $(field "j['status']" <<<"$out") == "$want" ]] && grep -q -- "$pat" <<<"$out"; then
		ok "$2 $3 ($pat): $want"
	else
		not_ok "$2 $3: expected $want and '$pat', got: ${out:0:300}"
	fi
}
W=(--token "$OPERATOR")
expect 400 "not JSON" "$API" POST /v1/drain "${W[@]}" --body '{"site": "ash", '
expect 400 "field 'reason' must be a string" "$API" POST /v1/drain "${W[@]}" --body '{"site":"ash","reason":5}'
expect 400 "unknown field 'colour'" "$API" POST /v1/drain "${W[@]}" --body '{"site":"ash","reason":"x","colour":"red"}'
expect 400 "field 'state'" "$API" PUT /v1/services/web "${W[@]}" --body '{"state":"sideways","reason":"x"}'
printf '{"site":"ash","reason":"\xff\xfe"}' >"$D/bad-utf8.json"
expect 400 "invalid" "$API" POST /v1/drain "${W[@]}" --body-file "$D/bad-utf8.json"
head -c 100000 /dev/zero | tr '\0' ' ' >"$D/big.json"
expect 413 "" "$API" POST /v1/drain "${W[@]}" --body-file "$D/big.json"
expect 415 "application/json" "$API" POST /v1/drain "${W[@]}" --header "Content-Type: text/plain" --body '{"site":"ash","reason":"x"}'
expect 404 "no such endpoint" "$API" GET /v1/nothing --token "$VIEWER"
expect 404 "no service" "$API" GET /v1/services/nosuch --token "$VIEWER"
expect 405 "takes GET, PUT" "$API" DELETE /v1/services/web "${W[@]}"
expect 400 "X-Actor" "$API" POST /v1/drain "${W[@]}" --header "X-Actor: $(head -c 300 /dev/zero | tr '\0' a)" --body '{"site":"ash","reason":"x","dry_run":true}'
expect 401 "not 'Bearer" "$API" GET /v1/status --header "Authorization: Basic dXNlcjpwYXNz"
expect 404 "serves /metrics" "http://$SITE_IP:$METRICS_PORT" GET /v1/status
python3 - "$SITE_IP" "$API_PORT" <<'EOF' >"$D/huge-header.out" || true
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
print(s.recv(200).decode(errors="replace").split("\r\n")[0])
EOF
check "huge headers: 431" grep -q " 431 " "$D/huge-header.out"
check "the daemon keeps answering after all that" bash -c "python3 '$HERE/http_call.py' '$API' GET /v1/status --token '$VIEWER' | grep -q '\"status\": 200'"

# ---- rate limit of writes, per token ----
# 30 dry-run drains at once from one client (one process, so that the
# bucket has no time to refill): the burst is 20.
python3 - "$API" "$(cat "$D/secret-flood")" >"$D/flood.out" <<'EOF'
import http.client, json, sys
url, token = sys.argv[1:]
host, port = url.split("://")[1].rsplit(":", 1)
limited, retry = 0, ""
for i in range(30):
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request("POST", "/v1/drain", body=json.dumps({"site": "ash", "services": ["web"],
              "reason": "flood", "dry_run": True}),
              headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status == 429:
        limited += 1
        retry = r.getheader("Retry-After") or ""
    c.close()
print(limited, retry)
EOF
read -r limited retry <"$D/flood.out" || true
check "a token over its write burst gets 429 (${limited:-0} of 30)" test "${limited:-0}" -ge 5
check "429 carries Retry-After (${retry:-none} s)" test -n "${retry:-}"
out=$(call "$API" POST /v1/drain --token "$OPERATOR" --body '{"site":"ash","services":["web"],"reason":"other token","dry_run":true}')
check "another token is not limited by it" test "$(field "j['status']" <<<"$out")" = 200

# ---- SIGHUP: a new token is taken, the audit log reopened (logrotate) ----
"$ROUTECTL" token new late viewer --token-file "$D/tokens" >"$D/secret-late" 2>/dev/null
LATE=$(cat "$D/secret-late")
out=$(call "$API" GET /v1/status --token "$LATE")
check "a token added after start is not known yet (401)" test "$(field "j['status']" <<<"$out")" = 401
mv "$AUDIT" "$AUDIT.1"
kill -HUP "$DAEMON_PID"
check "after SIGHUP the new token works" wait_for 5 bash -c "python3 '$HERE/http_call.py' '$API' GET /v1/status --token '$LATE' | grep -q '\"status\": 200'"
call "$API" POST /v1/drain --token "$OPERATOR" --header "X-Request-Id: after-rotate" \
	--body '{"site":"ash","services":["web"],"reason":"rotated","dry_run":true}' >/dev/null
check "after SIGHUP the audit log is written at its path again" grep -q '"request_id":"after-rotate"' "$AUDIT"
check "... and the rotated file got nothing new" bash -c "! grep -q after-rotate '$AUDIT.1'"
echo "garbage line" >>"$D/tokens"
kill -HUP "$DAEMON_PID"
sleep 0.5
check "a token file that does not load on SIGHUP keeps the old tokens" bash -c "python3 '$HERE/http_call.py' '$API' GET /v1/status --token '$LATE' | grep -q '\"status\": 200'"
check "... and says why in the log" wait_for 5 grep -q "tokens.*line" "$D/routectld.log"
sed -i '$d' "$D/tokens"

# ---- /metrics ----
call "$API" GET /v1/status --token "rct_not-a-token-at-all-bbbbbbbbbbbbbbbbbbbbbbbbb" >/dev/null
call "$API" GET /metrics --token "$VIEWER" >"$D/metrics.json"
field "j['body']" <"$D/metrics.json" >"$D/metrics.txt"
check "/metrics with a viewer token (200, text/plain)" bash -c "grep -q '\"status\": 200' '$D/metrics.json' && grep -q 'text/plain' '$D/metrics.json'"
check "promtool check metrics accepts /metrics" bash -c "promtool check metrics <'$D/metrics.txt'"
check "metrics: state of web is announce" grep -q 'routectl_service_state{.*service="web".*state="announce".*} 1' "$D/metrics.txt"
check "metrics: BIRD up" grep -q '^routectl_bird_up{.*} 1' "$D/metrics.txt"
check "metrics: auth failures counted" grep -q '^routectl_auth_failures_total{reason="invalid"} [1-9]' "$D/metrics.txt"
check "metrics: rate-limited counted" grep -q '^routectl_rate_limited_total [1-9]' "$D/metrics.txt"
check "metrics: HTTP requests by route and status" grep -q '^routectl_http_requests_total{.*route="/v1/drain".*status="200".*} [1-9]' "$D/metrics.txt"
check "metrics: applies and their duration" bash -c "grep -q '^routectl_applies_total{.*result=\"ok\".*} [1-9]' '$D/metrics.txt' && grep -q '^routectl_apply_duration_seconds_count' '$D/metrics.txt'"
check "metrics-only address: /metrics without a token" bash -c "python3 '$HERE/http_call.py' 'http://$SITE_IP:$METRICS_PORT' GET /metrics | grep -q '\"status\": 200'"

# ---- an audit log that cannot be written: the change is refused, nothing changes ----
gen0=$("$ROUTECTL" -s "$D/routectld.sock" --json status | jget "j['generation']")
stop_pid "$DAEMON_PID"
python3 - "$D/routectld.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["routectl-config:routectld"]["api"]["audit-log"] = "/dev/full"
json.dump(c, open(sys.argv[1], "w"), indent=1)
EOF
start_daemon
check "routectld connected again" wait_for 10 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"connected\": *true'"
out=$(call "$API" POST /v1/drain --token "$OPERATOR" --body '{"site":"ash","services":["web"],"reason":"no audit","now":true}')
check "a full audit log: the drain is refused with 503" test "$(field "j['status']" <<<"$out")" = 503
check "... and the message says the audit record cannot be written" grep -q "audit record cannot be written" <<<"$out"
gen1=$("$ROUTECTL" -s "$D/routectld.sock" --json status | jget "j['generation']")
check "... nothing changed (generation $gen0 before, $gen1 after)" test "$gen1" = "$gen0"
check "... web still announced at the upstream" up_has 192.0.2.0/24
rc=0; "$ROUTECTL" -s "$D/routectld.sock" drain ash --service web --reason "no audit" --now >/dev/null 2>&1 || rc=$?
check "... also from the console (routectl exits 1)" test "$rc" = 1
check "reads still work" bash -c "python3 '$HERE/http_call.py' '$API' GET /v1/status --token '$VIEWER' | grep -q '\"status\": 200'"

it_summary
