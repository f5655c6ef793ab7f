#!/usr/bin/env bash
# The BIRD contract on routers shaped unlike the lab, with real BIRD: a site BIRD
# with an IPv4 session that carries both families (isp), a native IPv6-only session
# (isp6), and two sessions to a second upstream whose export filters are wrong: one
# ignores routectl_export() (bad), one prepends on its own after it (pre).
#   case 1  a session that carries one family
#   case 7  an up session that is not listed (and the refuse-drain policy)
#   case 8  a misspelled protocol name, found before BIRD is touched
#   case 2  a local AS that is not BIRD's; the prepended AS itself is verified
#   case 6  a peer filter that ignores routectl (found before any change; a drain
#           stands where it took effect) and one that prepends on its own
# usage: bird-contract-peers.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
SRC=${ROUTECTL_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
it_init
D=$IT_DIR
SITE_IP=127.0.0.41 UP_IP=127.0.0.42 UP2_IP=127.0.0.43

# The base of the templates below: the built-in one, whose include has one
# sentinel route per family (240.0.0.1/32, 100::1/128) that routectl_export()
# always rejects.
BASE_TMPL=$D/base.tmpl TEMPLATE=
cp "$SRC/bird-templates/routectl.conf.tmpl" "$BASE_TMPL"

v4_filter='if proto = "routectl_v4" then { routectl_export(); accept; } reject;'
cat >"$D/site.conf" <<CONF
router id $SITE_IP;
log "$D/site-bird.log" all;
include "$D/routectl.conf";
protocol bgp isp {
	local $SITE_IP port $((PORT + 1)) as 65001;
	neighbor $UP_IP port $PORT as 65000;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import none; export filter { $v4_filter }; };
	ipv6 { import none; export filter { if proto = "routectl_v6" then { routectl_export(); bgp_next_hop = 2001:db8:ffff::41; accept; } reject; }; };
}
protocol bgp isp6 {
	local ::1 port $((PORT + 3)) as 65001;
	neighbor ::1 port $((PORT + 2)) as 65000;
	multihop; strict bind yes; connect retry time 1;
	# BIRD refuses a next hop equal to the neighbor's address (::1 here, on loopback).
	ipv6 { import none; export filter { if proto = "routectl_v6" then { routectl_export(); bgp_next_hop = 2001:db8:ffff::41; accept; } reject; }; };
}
protocol bgp bad {
	local $SITE_IP port $((PORT + 5)) as 65001;
	neighbor $UP2_IP port $((PORT + 4)) as 65002;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import none; export filter { if proto = "routectl_v4" then accept; reject; }; };
}
protocol bgp pre {
	local $SITE_IP port $((PORT + 7)) as 65001;
	neighbor $UP2_IP port $((PORT + 6)) as 65002;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import none; export filter { if proto = "routectl_v4" then { routectl_export(); bgp_path.prepend(65001); accept; } reject; }; };
}
CONF
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
protocol bgp site6 {
	local ::1 port $((PORT + 2)) as 65000;
	neighbor ::1 port $((PORT + 3)) as 65001;
	multihop; strict bind yes; connect retry time 1;
	ipv6 { import all; export none; };
}
CONF
cat >"$D/up2.conf" <<CONF
router id $UP2_IP;
log "$D/up2-bird.log" all;
# Both start disabled here (the site's config is re-read on every change, the
# upstream's is not): the test enables them one at a time.
protocol bgp from_bad {
	disabled yes;
	local $UP2_IP port $((PORT + 4)) as 65002;
	neighbor $SITE_IP port $((PORT + 5)) as 65001;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import all; export none; };
}
protocol bgp from_pre {
	disabled yes;
	local $UP2_IP port $((PORT + 6)) as 65002;
	neighbor $SITE_IP port $((PORT + 7)) as 65001;
	multihop; strict bind yes; connect retry time 1;
	ipv4 { import all; export none; };
}
CONF

# write_config LOCAL_AS PROTOCOLS [EXTRA]: PROTOCOLS is a JSON list; the
# template is $TEMPLATE if set.
write_config() {
	local tmpl_line=""
	[[ -z ${TEMPLATE:-} ]] || tmpl_line="\"template\": \"$TEMPLATE\","
	cat >"$D/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "ash", "local-as": $1,
  "bird": {"control-socket": "$D/site.ctl", "include": "$D/routectl.conf",
           $tmpl_line
           "bgp-protocol": $2, "configure-timeout": 30, "verify-timeout-ms": 2000}${3:-", \"policy-file\": \"$IT_POLICY\""},
  "state-dir": "$D/state",
  "console": {"socket": "$D/routectld.sock"},
  "reconcile-interval": 1,
  "service": [
    {"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]},
    {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"], "ipv6-prefix": ["2001:db8:2::/48"]}]}}
CONF
}
reload() {
	local n
	n=$(grep -c "reloaded $D/routectld.json" "$D/routectld.log" || true)
	kill -HUP "$DAEMON_PID"
	wait_for 5 bash -c "test \$(grep -c 'reloaded $D/routectld.json' '$D/routectld.log') -gt $n" ||
		not_ok "routectld reloads $D/routectld.json"
	sleep 1.2   # one reconcile, which runs the precheck
}

svc_state() { rctl --json status | jget "[s['state'] for s in j['services'] if s['name']=='$1'][0]"; }
peer_field() { rctl --json status | jget "[p['$2'] for p in (j['bird']['peers'] or []) if p['name']=='$1']"; }
# has ROUTER PROTO PREFIX: the upstream BIRD ROUTER has PREFIX from its protocol PROTO
has() { birdc_q "$1" show route "$3" protocol "$2" | grep -q "${3%%/*}"; }
path_of() { birdc_q "$1" show route "$3" protocol "$2" all | sed -n 's/.*BGP.as_path: //p' | head -1; }
established() { birdc_q site show protocols "$1" | grep -q Established; }
last_reconf() { birdc_q site show status | sed -n 's/.*Last reconfiguration on //p'; }
md5() { md5sum <"$D/routectl.conf"; }
# says TEXT PATTERN: TEXT (a command's output) has PATTERN
says() { grep -q -- "$2" <<<"$1"; }
# run_rctl ARGS...: sets rc and out, and shows the output in the log
run_rctl() {
	rc=0
	out=$(rctl "$@" 2>&1) || rc=$?
	printf '$ routectl %s\n%s\n(exit %s)\n' "$*" "$out" "$rc"
}

write_config 65001 '["isp", "isp6"]'
check "routectld -n accepts the config" "$ROUTECTLD" -n -c "$D/routectld.json"
start_daemon
start_bird up "$D/up.conf"
start_bird up2 "$D/up2.conf"
start_bird site "$D/site.conf"
both_established() { established isp && established isp6; }
check "sessions isp and isp6 established" wait_for 30 both_established
check "upstream has web v4 (isp)" wait_for 15 has up site 192.0.2.0/24
check "upstream has web v6 (isp6)" wait_for 15 has up site6 2001:db8:1::/48

# Case 1: isp6 carries IPv6 only; verify expects only IPv6 there.
check "status names the families of each listed session" wait_for 5 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | python3 -c \"import json,sys; p={x['name']: x['families'] for x in json.load(sys.stdin)['bird']['peers']}; sys.exit(0 if p=={'isp': ['ipv4','ipv6'], 'isp6': ['ipv6']} else 1)\""
check "status says the sentinel routes are in BIRD (peer filters can be checked)" bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | python3 -c \"import json,sys; sys.exit(0 if json.load(sys.stdin)['bird']['sentinels']=={'ipv4': True, 'ipv6': True} else 1)\""
run_rctl drain ash --service web --reason "case 1" --now
check "drain with an IPv6-only session listed succeeds (exit 0)" test "$rc" = 0
check "state is withdraw" test "$(svc_state web)" = withdraw
check "upstream lost web v4 (isp)" wait_for 5 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site | grep -q 192.0.2.0"
check "upstream lost web v6 over the IPv6-only session" wait_for 5 bash -c "! birdc -s '$D/up.ctl' show route 2001:db8:1::/48 protocol site6 | grep -q 2001:db8:1::"
repairs0=$(rctl --json status | jget "j['repairs']")
sleep 3
check "the reconciler does not reconfigure BIRD again and again" test "$(rctl --json status | jget "j['repairs']")" = "$repairs0"
check "undrain with an IPv6-only session listed succeeds" rctl undrain ash --service web --reason "case 1" --now
check "upstream has web v6 again over isp6" wait_for 5 has up site6 2001:db8:1::/48

# Case 7: isp6 exports routectl's routes but is not listed.
write_config 65001 '["isp"]'
reload
check "status names the unlisted session that exports routectl's routes" wait_for 5 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q unlisted-exporter"
check "... and it is isp6" test "$(peer_field isp6 listed)" = "[False]"
run_rctl drain ash --service web --reason "case 7" --now
check "drain while an unlisted session exports: exit 1" test "$rc" = 1
check "the result says it is partial" says "$out" "IN PART"
check "... and names isp6" says "$out" "unlisted isp6 still exports"
check "the drain stands at the listed session (state withdraw)" test "$(svc_state web)" = withdraw
check "upstream lost web v4 at the listed session" wait_for 5 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site | grep -q 192.0.2.0"
rctl undrain ash --service web --reason "case 7" --now >/dev/null 2>&1 || true
check "web announced again" wait_for 5 test "$(svc_state web)" = announce
printf '{"routectl-policy:policy": {"unlisted-exporter": "refuse-drain", "guards": {"without-fleet": "stand-alone"}}}\n' >"$D/policy.json"
write_config 65001 '["isp"]' ", \"policy-file\": \"$D/policy.json\""
reload
before=$(md5); reconf0=$(last_reconf)
run_rctl drain ash --service web --reason "case 7 policy" --now
check "policy refuse-drain: the drain is refused (exit 1)" test "$rc" = 1
check "the refusal names the policy" says "$out" "refuse-drain"
check "... and isp6" says "$out" "isp6: not in bird/bgp-protocol"
check "refused before touching BIRD: include and BIRD's config unchanged" bash -c "test '$before' = \"\$(md5sum <'$D/routectl.conf')\" && test '$reconf0' = \"\$(birdc -s '$D/site.ctl' show status | sed -n 's/.*Last reconfiguration on //p')\""
check "state kept (announce)" test "$(svc_state web)" = announce

# Case 8: a misspelled protocol name is found before BIRD is touched.
write_config 65001 '["isp", "isp6", "ips"]'
reload
check "status names the missing protocol" wait_for 5 bash -c "test \"\$('$ROUTECTL' -s '$D/routectld.sock' --json status | python3 -c \"import json,sys; print([p['problems'] for p in json.load(sys.stdin)['bird']['peers'] if p['name']=='ips'])\")\" = \"[['missing']]\""
before=$(md5); reconf0=$(last_reconf)
run_rctl drain ash --service web --reason "case 8" --now
check "drain with a misspelled protocol is refused (exit 1)" test "$rc" = 1
check "the refusal names 'ips'" says "$out" "no protocol 'ips'"
check "... and says BIRD was not touched" says "$out" "before touching BIRD"
check "include unchanged" test "$before" = "$(md5)"
check "BIRD was not reconfigured" test "$reconf0" = "$(last_reconf)"
check "upstream kept web" has up site 192.0.2.0/24

# Case 2: the config's local AS is not BIRD's.
write_config 65009 '["isp", "isp6"]'
reload
reconf0=$(last_reconf)
run_rctl set ash web prepend 2 --reason "case 2"
check "prepend with a local-as BIRD does not have is refused (exit 1)" test "$rc" = 1
check "the refusal names both ASes" says "$out" "Local AS of 'isp' is 65001, but the config's local-as is 65009"
check "BIRD was not reconfigured (not even by the reconciler)" test "$reconf0" = "$(last_reconf)"
check "the peer never sees AS 65009" bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site all | grep -q 65009"
check "state kept (announce)" test "$(svc_state web)" = announce

# The prepended AS itself is verified, not only the path's length: a
# template whose function swaps the prepends of dns for another AS.
sed 's#^\([[:space:]]*\){{export_\(cases\|body\)}}#&\n\1if net = 198.51.100.0/24 \&\& bgp_path.len = 2 then { bgp_path.delete(65001); bgp_path.prepend(65010); bgp_path.prepend(65010); }#' \
	"$BASE_TMPL" >"$D/wrong-as.tmpl"
check "the template with another AS differs from the base" bash -c "! cmp -s '$BASE_TMPL' '$D/wrong-as.tmpl'"
TEMPLATE=$D/wrong-as.tmpl write_config 65001 '["isp", "isp6"]'
reload
run_rctl set ash dns prepend 2 --reason "wrong AS"
check "prepends of another AS fail verify (exit 1)" test "$rc" = 1
check "the error names the AS that was prepended" grep -q "expected 2 prepends of AS 65001 (local-as), exported with AS 65010 prepended" <<<"$out"
check "the message does not say 'verify' twice" bash -c "! grep -q 'verify: verify' <<<\"\$1\"" _ "$out"
check "... and says how long verify looked" says "$out" "did not export what was asked within verify-timeout-ms (2000 ms"

check "rolled back: the peer does not see AS 65010" wait_for 5 bash -c "! birdc -s '$D/up.ctl' show route 198.51.100.0/24 protocol site all | grep -q 65010"
check "state kept (announce)" test "$(svc_state dns)" = announce

# Case 6a: a listed peer whose filter ignores routectl_export() is named
# before any change.
write_config 65001 '["isp", "isp6", "bad"]'
reload
birdc_q up2 enable from_bad >/dev/null
check "session bad established" wait_for 30 established bad
check "status names bad as ignoring routectl_export() before any change" wait_for 5 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q ignores-routectl-export"
check "... with the sentinel in the message" bash -c "rctl() { '$ROUTECTL' -s '$D/routectld.sock' \"\$@\"; }; rctl --json status | grep -q 'exports the sentinel route 240.0.0.1/32'"
check "the second upstream has web from bad" wait_for 10 has up2 from_bad 192.0.2.0/24
text=$(rctl status)
printf '$ routectl status (case 6a)\n%s\n' "$text"
check "text status has a peers block naming bad and its problem" says "$text" "^  bad  *ipv4 *ignores-routectl-export: .*sentinel route 240.0.0.1/32"
check "... and the correctly configured isp as ok, with its families" says "$text" "^  isp  *ipv4,ipv6 *ok$"

# Case 6b: a drain stands where it took effect; partial, exit 1, bad named.
run_rctl drain ash --service web --reason "case 6" --now
check "drain with a peer that ignores routectl: exit 1" test "$rc" = 1
check "the result says partial" says "$out" "IN PART"
check "... and names bad" says "$out" "bad does not export what was asked"
check "the drain stands: state withdraw" test "$(svc_state web)" = withdraw
check "the correctly configured peer lost web" wait_for 5 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site | grep -q 192.0.2.0"
sleep 3
check "... and it is not re-announced there (no rollback, reconciler included)" bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site | grep -q 192.0.2.0"
check "status shows the last apply as applied in part, naming bad" bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q 'applied in part: bad'"
rc=0; out=$(rctl --json undrain ash --service web --reason "case 6" --now) || rc=$?
printf '$ routectl --json undrain (case 6)\n%s\n(exit %s)\n' "$out" "$rc"
check "undrain succeeds (bad announces anyway)" test "$rc" = 0
check "the change's result names bad with its problem" python3 -c "import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if j['apply']['result']=='ok' and any(p['name']=='bad' and 'ignores-routectl-export' in p['problems'] for p in j['peers']) else 1)" "$out"
check "web is back at the correct peer" wait_for 5 has up site 192.0.2.0/24

# The same for a peer that prepends on its own: changes are not blocked.
birdc_q up2 disable from_bad >/dev/null
write_config 65001 '["isp", "isp6", "pre"]'
reload
birdc_q up2 enable from_pre >/dev/null
check "session pre established" wait_for 30 established pre
run_rctl set ash dns prepend 2 --reason "case 6 prepend"
check "prepend with a peer that prepends on its own: exit 1, not blocked" test "$rc" = 1
check "the result says partial" says "$out" "IN PART"
check "... and names pre as altering routectl's result" says "$out" "pre does not export what was asked.*other than routectl_export() made them"
check "state is prepend 2" test "$(svc_state dns)" = prepend
check "the correct peer sees 2 prepends" wait_for 5 bash -c "birdc -s '$D/up.ctl' show route 198.51.100.0/24 protocol site all | grep -q 'as_path: 65001 65001 65001\$'"
check "status names pre with alters-routectl-export" wait_for 5 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q alters-routectl-export"
run_rctl set ash dns announce --reason "case 6 prepend"
check "announce again is applied (partial at pre)" test "$(svc_state dns)" = announce
check "the correct peer sees dns without prepends" wait_for 5 bash -c "birdc -s '$D/up.ctl' show route 198.51.100.0/24 protocol site all | grep -q 'as_path: 65001\$'"

it_summary
