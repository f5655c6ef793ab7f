#!/usr/bin/env bash
# SIGHUP against a real routectld and real BIRDs (a site and an upstream on
# loopback): a reload is validated as a whole (config, policy, template, the
# token file the new config names) before anything is swapped.
#   good     a new service is announced to the upstream; a new token-file
#            takes effect (the old file's token is refused, the new one's
#            accepted); write-rate and write-burst take effect (429);
#   bad      a syntax error, a YANG error, a changed site name, a bad
#            policy file, a bad token file: each keeps all of the running
#            config (service set, tokens), drains still work, the log says
#            why, status (text and JSON) shows the failure naming the file,
#            routectl check is WARNING and /metrics shows 0;
#   cleared  a good reload after them: ok again, metric 1, check OK; a
#            setting that needs a restart is kept with a warning.
# usage: reload.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
it_init
D=$IT_DIR
SITE_IP=127.0.0.121 UP_IP=127.0.0.122
API_PORT=$((PORT + 10))
API=http://$SITE_IP:$API_PORT
CONSOLE=unix:$D/routectld.sock

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"
cp "$D/routectld.json" "$D/base.json"
# conf.py VARIANT: writes routectld.json (by rename: a reload never reads a
# half-written file) from base.json with the API on TCP, and per VARIANT:
#   start     token-file tokens1
#   mail      token-file tokens2, and a service mail
#   syntax    "mail" plus a trailing comma (JSON syntax)
#   yang      "mail" plus write-burst 0 (out of range) and a service extra
#   site      "mail" with site bos and a service extra
#   policy    "mail" with policy-file bad-policy.json and a service extra
#   tokens    "mail" with token-file tokens-bad and a service extra
#   rates     "mail" with write-rate 1, write-burst 1, max-connections 7
#   nomail    "rates" without the service mail
cat >"$D/conf.py" <<'PY'
import json, os, sys
d, variant = sys.argv[1], sys.argv[2]
api_ip, api_port = sys.argv[3], int(sys.argv[4])
c = json.load(open(d + "/base.json"))
r = c["routectl-config:routectld"]
r["api"] = {"listen": [{"address": api_ip, "port": api_port}], "token-file": d + "/tokens1"}
if variant != "start":
    r["api"]["token-file"] = d + "/tokens2"
if variant not in ("start", "nomail"):
    r["service"].append({"name": "mail", "ipv4-prefix": ["203.0.113.0/24"]})
extra = {"name": "extra", "ipv4-prefix": ["100.64.0.0/24"]}
if variant in ("yang", "site", "policy", "tokens"):
    r["service"].append(extra)
if variant == "yang":
    r["api"]["write-burst"] = 0
if variant == "site":
    r["site"] = "bos"
if variant == "policy":
    r["policy-file"] = d + "/bad-policy.json"
if variant == "tokens":
    r["api"]["token-file"] = d + "/tokens-bad"
if variant in ("rates", "nomail"):
    r["api"].update({"write-rate": 1, "write-burst": 1, "max-connections": 7})
text = json.dumps(c, indent=1)
if variant == "syntax":
    text = text.replace('"mail",', '"mail",,', 1)
with open(d + "/routectld.json.tmp", "w") as f:
    f.write(text)
os.rename(d + "/routectld.json.tmp", d + "/routectld.json")
PY
conf() { python3 "$D/conf.py" "$D" "$1" "$SITE_IP" "$API_PORT"; }
conf start
"$ROUTECTL" token new op1 operator --token-file "$D/tokens1" >"$D/secret1"
"$ROUTECTL" token new op2 operator --token-file "$D/tokens2" >"$D/secret2"
printf 'op3 superuser sha256:%064d\n' 0 >"$D/tokens-bad"
chmod 0600 "$D/tokens-bad"
printf '%s\n' '{"routectl-policy:policy": {"guards": {"without-fleet": "stand-alone",' \
	' "max-drained-sites": 0}}}' >"$D/bad-policy.json"

rctl_quiet() { rctl "$@" >/dev/null; }
call() { python3 "$HERE/http_call.py" "$@"; }
# http_status TOKEN_FILE METHOD PATH [BODY]: the status of a TCP request
http_status() {
	local body=()
	[[ -n ${4:-} ]] && body=(--body "$4")
	call "$API" "$2" "$3" --token "$(cat "$1")" "${body[@]}" | jget "j['status']"
}
status_json() { call "$CONSOLE" GET /v1/status | jget "json.dumps(j['json'])"; }
reload_field() { status_json | jget "j['reload']$1"; }
metric() { call "$CONSOLE" GET /metrics | jget "j['body']" | awk -v m="$1" '$1 == m { print $2 }'; }
up_has() { birdc_q up show route "$1" protocol site | grep -q "${1%/*}"; }
established() { birdc_q up show protocols site | grep -q Established; }
services() { status_json | jget "' '.join(sorted(s['name'] for s in j['services']))"; }
RELOAD_ENDED="reloaded $D/routectld.json|reload of $D/routectld.json: keeping the running config"
# reloads_done: reloads that ended in the log (good or bad)
reloads_done() { grep -c -E "$RELOAD_ENDED" "$D/routectld.log" || true; }
# hup: SIGHUP, then wait until that reload ended (logged when status shows it)
hup() {
	local n
	n=$(reloads_done)
	kill -HUP "$DAEMON_PID"
	wait_for 20 bash -c "test \$(grep -c -E '$RELOAD_ENDED' '$D/routectld.log') -gt $n" ||
		not_ok "routectld ended the reload (log)"
}

start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BGP session established" wait_for 30 established
check "upstream has web" wait_for 15 up_has 192.0.2.0/24
check "upstream has dns" wait_for 15 up_has 198.51.100.0/24

# At start: no reload yet, the config and when it was loaded.
check "status: reload.ok true before any reload" test "$(reload_field "['ok']")" = True
check "status: reload.at null before any reload" test "$(reload_field "['at']")" = None
check "status: reload.config_path names the config" test "$(reload_field "['config_path']")" = "$D/routectld.json"
check "metrics: last reload successful 1 at start" test "$(metric routectl_config_last_reload_successful)" = 1
started_at=$(metric routectl_config_last_reload_success_timestamp_seconds)
check "metrics: the success timestamp is the start" test "$started_at" -gt 1700000000
check "op1 (tokens1) may read over TCP" test "$(http_status "$D/secret1" GET /v1/status)" = 200
check "op2 (tokens2) is refused before the reload" test "$(http_status "$D/secret2" GET /v1/status)" = 401

# A good reload: service mail, token file tokens2.
sleep 1   # the success timestamp (seconds) moves
conf mail
hup
check "good reload: reload.ok" test "$(reload_field "['ok']")" = True
check "good reload: reload.at set" test "$(reload_field "['at']")" != None
check "good reload: error null" test "$(reload_field "['error']")" = None
check "good reload: mail in status" test "$(services)" = "dns mail web"
check "good reload: upstream has mail" wait_for 15 up_has 203.0.113.0/24
check "good reload: the new token file's op2 may read" test "$(http_status "$D/secret2" GET /v1/status)" = 200
check "good reload: the old token file's op1 is refused" test "$(http_status "$D/secret1" GET /v1/status)" = 401
good_at=$(metric routectl_config_last_reload_success_timestamp_seconds)
check "good reload: the success timestamp moved ($started_at -> $good_at)" test "$good_at" -gt "$started_at"
loaded_at=$(reload_field "['config_loaded_at']")

# bad_reload VARIANT WHAT FILE PATTERN: reload with a config of VARIANT; the
# running config stays and every place says why, naming FILE, with PATTERN.
bad_reload() {
	local variant=$1 what=$2 file=$3 pat=$4
	conf "$variant"
	hup
	check "$what: reload.ok false" test "$(reload_field "['ok']")" = False
	local err
	err=$(reload_field "['error']")
	if [[ $err == *"$file"* && $err == *"$pat"* && $err == *"keeping the running config"* ]]; then
		ok "$what: reload.error names $file and says '$pat'"
	else
		not_ok "$what: reload.error should name $file and say '$pat': $err"
	fi
	check "$what: the log says why" grep -q -F -- "$pat" "$D/routectld.log"
	check "$what: config_loaded_at is the last good load" test "$(reload_field "['config_loaded_at']")" = "$loaded_at"
	check "$what: the service set is unchanged" test "$(services)" = "dns mail web"
	check "$what: the upstream has no 100.64.0.0/24" bash -c "! birdc -s '$D/up.ctl' show route 100.64.0.0/24 protocol site | grep -q 100.64.0.0"
	local text
	text=$(rctl status)
	if grep -q "^config reload at .* FAILED: .*$file.*; running the config loaded at $loaded_at$" <<<"$text"; then
		ok "$what: routectl status says the reload FAILED and what runs"
	else
		not_ok "$what: routectl status should say the reload failed: $(head -3 <<<"$text")"
	fi
	local rc=0 line
	line=$(rctl check) || rc=$?
	if [[ $rc == 1 && $line == "ROUTECTL WARNING - "*"config reload at "*"FAILED"* ]]; then
		ok "$what: routectl check is WARNING"
	else
		not_ok "$what: routectl check should be WARNING with the reload: exit $rc: $line"
	fi
	check "$what: metrics last reload successful 0" test "$(metric routectl_config_last_reload_successful)" = 0
	check "$what: metrics success timestamp unchanged" test "$(metric routectl_config_last_reload_success_timestamp_seconds)" = "$good_at"
	check "$what: op2's token still works" test "$(http_status "$D/secret2" GET /v1/status)" = 200
	check "$what: op1's token is still refused" test "$(http_status "$D/secret1" GET /v1/status)" = 401
	check "$what: drain dns works" rctl_quiet drain ash --service dns --now --reason "reload test"
	check "$what: dns is withdrawn" test "$(status_json | jget "[s['state'] for s in j['services'] if s['name'] == 'dns'][0]")" = withdraw
	check "$what: undrain dns works" rctl_quiet undrain ash --service dns --now --reason "reload test"
}

bad_reload syntax "syntax error" "$D/routectld.json" "not valid JSON"
bad_reload yang "YANG error" "$D/routectld.json" "api/write-burst: 0: out of range"
bad_reload site "changed site" "$D/routectld.json" "site changed from 'ash' to 'bos': it can change only with a restart"
bad_reload policy "bad policy" "$D/bad-policy.json" "max-drained-sites: 0: out of range"
bad_reload tokens "bad token file" "$D/tokens-bad" 'line 1: unknown role "superuser"'
check "the upstream lost dns while drained, and has it back" wait_for 15 up_has 198.51.100.0/24

# A good reload clears it; write-rate and write-burst take effect, and
# max-connections (made at start) is kept with a warning.
sleep 1
conf rates
hup
check "cleared: reload.ok" test "$(reload_field "['ok']")" = True
check "cleared: reload.error null" test "$(reload_field "['error']")" = None
check "cleared: metrics last reload successful 1" test "$(metric routectl_config_last_reload_successful)" = 1
check "cleared: the success timestamp moved" test "$(metric routectl_config_last_reload_success_timestamp_seconds)" -gt "$good_at"
check "cleared: routectl status has no FAILED line" bash -c "! '$ROUTECTL' -s '$D/routectld.sock' status | grep -q FAILED"
warn=$(reload_field "['warning']")
if [[ $warn == *"api/max-connections (running 256, new 7)"*"restart"* ]]; then
	ok "cleared: max-connections is kept until a restart, with a warning"
else
	not_ok "cleared: a warning should name api/max-connections: $warn"
fi
check "cleared: the log warns about max-connections" grep -q "api/max-connections (running 256, new 7)" "$D/routectld.log"
rc=0
line=$(rctl check) || rc=$?
if [[ $rc == 0 && $line == "ROUTECTL OK - "* ]]; then ok "cleared: routectl check is OK"; else not_ok "cleared: check should be OK: exit $rc: $line"; fi
drain='{"site": "ash", "services": ["web"], "reason": "rate", "dry_run": true}'
check "write-burst 1: the first write of op2 passes" test "$(http_status "$D/secret2" POST /v1/drain "$drain")" = 200
check "write-burst 1: the second is refused (429)" test "$(http_status "$D/secret2" POST /v1/drain "$drain")" = 429

# A service an operator withdrew, taken out of the config and put back,
# stays withdrawn (it is not announced as new in the config).
svc_field() { status_json | jget "[s['$2'] for s in j['services'] if s['name']=='$1'][0]"; }
check "drain mail" rctl_quiet drain ash --service mail --now --reason "mail cut"
check "the upstream lost mail" wait_for 10 eval '! up_has 203.0.113.0/24'
conf nomail
hup
check "mail left the config" bash -c "test \"\$0\" = 'dns web'" "$(services)"
conf rates
hup
check "mail is back in the config" bash -c "test \"\$0\" = 'dns mail web'" "$(services)"
check "... still withdrawn" test "$(svc_field mail state)" = withdraw
check "... with the operator's reason" test "$(svc_field mail reason)" = "mail cut"
sleep 2
check "... and the upstream still lacks it" eval '! up_has 203.0.113.0/24'
check "undrain mail" rctl_quiet undrain ash --service mail --now --reason "mail back"
check "the upstream has mail again" wait_for 10 up_has 203.0.113.0/24

it_summary
