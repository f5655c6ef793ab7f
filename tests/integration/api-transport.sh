#!/usr/bin/env bash
# The API over TCP, plain and TLS, beside the console. A site BIRD with an
# eBGP session to an upstream BIRD and a routectld with api/listen on
# 127.0.0.1 and ::1 (plain HTTP, one port) and on 127.0.0.1 with TLS:
#  - a certificate path that does not exist, or a file that is no
#    certificate: routectld refuses to start and names the file;
#  - one log line per listener; GET /healthz over each (TLS with --cacert);
#  - X-Request-Id echoed when sent, 32 hex digits when not (or when the one
#    sent is unusable), on error replies too;
#  - a 40 KB header: 431 with a JSON error (plain and TLS), and the daemon
#    keeps answering; a 100 KB body: 413;
#  - more idle connections from 127.0.0.1 than max-connections-per-address:
#    a new request from there is still answered (the oldest idle one goes);
#  - a client trickling its headers is closed after the header deadline
#    while others are served.
# usage: api-transport.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
it_init
D=$IT_DIR
SITE_IP=127.0.0.71 UP_IP=127.0.0.72
HTTP_PORT=$((PORT + 10)) TLS_PORT=$((PORT + 11)) BAD_PORT=$((PORT + 12))
PER_ADDRESS=4
# A correctness bound for one request while others abuse the daemon, with
# room for sanitizer builds on a busy machine.
REQ_MAX_MS=${REQ_MAX_MS:-1000}

IT_RECONCILE=30 it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"

mkdir -p "$D/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$D/tls/key.pem" -out "$D/tls/cert.pem" 2>"$D/openssl.log"

# with_api IN OUT CHANGES: OUT is the config IN with api settings merged in
# (CHANGES: Python statements on `api` and `c`, the routectld container).
with_api() {
	python3 - "$1" "$2" "$3" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
c = doc["routectl-config:routectld"]
api = c.setdefault("api", {})
exec(sys.argv[3])
json.dump(doc, open(sys.argv[2], "w"), indent=1)
PY
}

# --- a TLS file that cannot be used stops the start -------------------------
mkdir -p "$D/bad"
bad_start() {   # bad_start NAME CERT KEY: runs routectld, which must fail
	local name=$1 cert=$2 key=$3
	with_api "$D/routectld.json" "$D/bad/$name.json" "
c['state-dir'] = '$D/bad/state-$name'
c['console']['socket'] = '$D/bad/$name.sock'
c['bird']['include'] = '$D/bad/$name-routectl.conf'
api['listen'] = [{'address': '127.0.0.1', 'port': $BAD_PORT,
                  'tls-certificate': '$cert', 'tls-key': '$key'}]"
	local rc=0
	timeout 20 "$ROUTECTLD" -c "$D/bad/$name.json" >"$D/bad/$name.log" 2>&1 || rc=$?
	echo "$rc"
}
rc=$(bad_start missing "$D/tls/nothing-here.pem" "$D/tls/key.pem")
check "a missing certificate file stops routectld (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "... and the message names the file" grep -q "nothing-here.pem" "$D/bad/missing.log"
check "... and the console socket is not left behind" test ! -e "$D/bad/missing.sock"
echo "not a certificate" >"$D/tls/garbage.pem"
rc=$(bad_start garbage "$D/tls/garbage.pem" "$D/tls/key.pem")
check "a file that is no certificate stops routectld (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "... and the message names the file" grep -q "garbage.pem: not a PEM certificate" \
	"$D/bad/garbage.log"
rc=$(bad_start keyless "$D/tls/cert.pem" "$D/tls/garbage.pem")
check "a key file that is no key stops routectld (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "... and the message names the key file" grep -q "TLS key $D/tls/garbage.pem" \
	"$D/bad/keyless.log"

# --- the daemon with three listeners ----------------------------------------
with_api "$D/routectld.json" "$D/routectld.json" "
api['max-connections-per-address'] = $PER_ADDRESS
api['listen'] = [
  {'address': '127.0.0.1', 'port': $HTTP_PORT},
  {'address': '::1', 'port': $HTTP_PORT},
  {'address': '127.0.0.1', 'port': $TLS_PORT,
   'tls-certificate': '$D/tls/cert.pem', 'tls-key': '$D/tls/key.pem'}]"
start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "one log line per listener" bash -c "
	grep -q 'api: listening on 127.0.0.1:$HTTP_PORT (http)' '$D/routectld.log' &&
	grep -q 'api: listening on \[::1\]:$HTTP_PORT (http)' '$D/routectld.log' &&
	grep -q 'api: listening on 127.0.0.1:$TLS_PORT (https)' '$D/routectld.log'"

V4="http://127.0.0.1:$HTTP_PORT" V6="http://[::1]:$HTTP_PORT" TLS="https://127.0.0.1:$TLS_PORT"
CURL=(curl -sS --max-time 10 --cacert "$D/tls/cert.pem")

# req NAME URL [CURL-ARGS...]: status in $D/NAME.status, headers in
# $D/NAME.hdr, body in $D/NAME.body.
req() {
	local name=$1 url=$2
	shift 2
	"${CURL[@]}" -o "$D/$name.body" -D "$D/$name.hdr" -w '%{http_code}' "$@" "$url" \
		>"$D/$name.status" 2>"$D/$name.err" || true
}
status_is() { [[ $(cat "$D/$1.status") == "$2" ]]; }
# the value of header $2 in $D/$1.hdr
header() { sed -n "s/^$2: *\(.*\)\r\$/\1/Ip" "$D/$1.hdr" | head -n1; }
header_is() { [[ $(header "$1" "$2") == "$3" ]]; }
hex32() { [[ $(header "$1" X-Request-Id) =~ ^[0-9a-f]{32}$ ]]; }
json_error() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['error']['code'] and j['error']['message']" "$D/$1.body"; }
healthy() { req h "$1/healthz" && status_is h 200 && grep -q '"ok": *true' "$D/h.body"; }

check "GET /healthz over 127.0.0.1 (http)" wait_for 10 healthy "$V4"
check "GET /healthz over ::1 (http)" healthy "$V6"
check "GET /healthz over 127.0.0.1 (https, --cacert)" healthy "$TLS"
req plain-tls "$TLS/healthz" --cacert /dev/null
check "https is refused without the right CA" status_is plain-tls 000
check "the console still answers" rctl status

# --- request ids ---------------------------------------------------------------
req id-sent "$V4/healthz" -H "X-Request-Id: chatops-4711"
check "X-Request-Id echoed when sent" header_is id-sent X-Request-Id chatops-4711
check "Cache-Control: no-store" header_is id-sent Cache-Control no-store
req id-none "$V6/healthz"
check "X-Request-Id made when not sent: 32 hex digits ($(header id-none X-Request-Id))" hex32 id-none
req id-none2 "$V6/healthz"
check "... and a new one for each request" \
	test "$(header id-none X-Request-Id)" != "$(header id-none2 X-Request-Id)"
req id-long "$V4/healthz" -H "X-Request-Id: $(printf 'x%.0s' $(seq 129))"
check "an X-Request-Id of 129 characters is replaced" hex32 id-long
req id-space "$V4/healthz" -H "X-Request-Id: two words"
check "an X-Request-Id with a space is replaced" hex32 id-space
req err-id "$TLS/v1/status" -H "X-Request-Id: err-42"
status_and_json() { status_is "$1" "$2" && json_error "$1"; }
check "an error reply (401 over https) is JSON" status_and_json err-id 401
check "... and carries the X-Request-Id sent" header_is err-id X-Request-Id err-42
req err-404 "$V4/no/such/thing"
check "an error reply without a sent id carries a made one" hex32 err-404

# --- limits: head and body -------------------------------------------------------
BIG=$(head -c 30000 /dev/zero | tr '\0' a)$(head -c 10000 /dev/zero | tr '\0' b)
req big "$V4/healthz" -H "X-Big: $BIG"
check "a 40 KB header: 431 (http)" status_is big 431
check "... with a JSON error" json_error big
check "... and an X-Request-Id" hex32 big
req big-tls "$TLS/healthz" -H "X-Big: $BIG" -H "X-Request-Id: big-tls"
check "a 40 KB header: 431 (https)" status_is big-tls 431
check "... with a JSON error" json_error big-tls
has_id() { [[ -n $(header "$1" X-Request-Id) ]]; }
check "... and an X-Request-Id" has_id big-tls
check "the daemon still answers after them (http)" healthy "$V4"
check "... (https)" healthy "$TLS"
head -c 100000 /dev/zero | tr '\0' '{' >"$D/body.bin"
req body "$V4/v1/drain" -X POST -H "Content-Type: application/json" -H "X-Request-Id: body-1" \
	--data-binary "@$D/body.bin"
check "a 100 KB body: 413" status_is body 413
check "... with a JSON error" json_error body
check "... and the X-Request-Id sent" header_is body X-Request-Id body-1

# --- per-address limit -------------------------------------------------------------
ms_now() { date +%s%3N; }
# timed_healthy URL DESCRIPTION: /healthz answers 200 within REQ_MAX_MS.
timed_healthy() {
	local url=$1 what=$2 t0 t1
	t0=$(ms_now)
	if healthy "$url"; then
		t1=$(ms_now)
		if ((t1 - t0 <= REQ_MAX_MS)); then
			ok "$what: 200 in $((t1 - t0)) ms (bound $REQ_MAX_MS ms)"
			return
		fi
		not_ok "$what: 200 in $((t1 - t0)) ms (bound $REQ_MAX_MS ms)"
		return
	fi
	not_ok "$what: $(cat "$D/h.status") $(cat "$D/h.err")"
}
python3 "$HERE/tcp_clients.py" idle 127.0.0.1 "$HTTP_PORT" $((2 * PER_ADDRESS)) 3 \
	"$D/idle.ready" >"$D/idle.out" 2>"$D/idle.log" &
IDLE_PID=$!
IT_PIDS+=("$IDLE_PID")
check "$((2 * PER_ADDRESS)) idle connections from 127.0.0.1 are open" wait_for 10 test -s "$D/idle.ready"
timed_healthy "$V4" "a request from 127.0.0.1 beyond its $PER_ADDRESS connections"
timed_healthy "$V6" "a request from ::1 meanwhile"
wait "$IDLE_PID" || true
closed=$(sed -n 's/^closed_by_daemon=//p' "$D/idle.out")
check "the daemon closed the idle connections over the limit ($closed of $((2 * PER_ADDRESS)))" \
	test "${closed:-0}" -ge $((PER_ADDRESS + 1))
check "the evictions are logged per address" \
	wait_for 15 grep -q "api 127.0.0.1:$HTTP_PORT: connections from 127.0.0.1: .*over the per-address limit" \
	"$D/routectld.log"

# --- slowloris -------------------------------------------------------------------------
python3 "$HERE/tcp_clients.py" slow 127.0.0.1 "$HTTP_PORT" 12 >"$D/slow.out" 2>"$D/slow.log" &
SLOW_PID=$!
IT_PIDS+=("$SLOW_PID")
python3 "$HERE/tcp_clients.py" slow ::1 "$HTTP_PORT" 12 >"$D/slow6.out" 2>"$D/slow6.log" &
SLOW6_PID=$!
IT_PIDS+=("$SLOW6_PID")
for n in 1 2 3; do
	sleep 1
	timed_healthy "$V4" "request #$n while two clients trickle their headers"
	timed_healthy "$TLS" "request #$n over https meanwhile"
done
wait "$SLOW_PID" || true
wait "$SLOW6_PID" || true
for f in slow slow6; do
	t=$(sed -n 's/^closed_after_ms=//p' "$D/$f.out")
	check "a client trickling its headers ($f) is closed after the 5 s header deadline (${t:-never} ms)" \
		bash -c "[[ -n '$t' ]] && ((t = $t, t >= 4500 && t <= 8000))"
done
timed_healthy "$V4" "a request after the slowloris"

it_summary
