# Helpers for the integration tests: temp dirs, processes stopped by PID,
# checks that count. Source it; then call it_init.
set -euo pipefail

it_init() {
	IT_DIR=$(mktemp -d "${TMPDIR:-/tmp}/routectl-it.XXXXXX")
	IT_PIDS=()
	IT_PASS=0
	IT_FAIL=0
	trap it_cleanup EXIT
	# The routectlds of these tests stand alone (no fleet document): the
	# guards across sites are skipped, and the flap budget is out of the
	# way (a window of 1 s). guards.sh tests the guards.
	IT_POLICY=$IT_DIR/stand-alone-policy.json
	printf '%s\n' '{"routectl-policy:policy": {"guards": {"without-fleet": "stand-alone"},' \
		' "flap-budget": {"changes": 1000, "window": 1}}}' >"$IT_POLICY"
}

it_cleanup() {
	local rc=$?
	for pid in "${IT_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${IT_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	if ((IT_FAIL > 0 || rc != 0)); then
		for f in "$IT_DIR"/*.log "$IT_DIR"/*/*.log; do
			[[ -f $f ]] || continue
			echo "----- $f (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	rm -rf "$IT_DIR"
	exit "$rc"
}

ok() { IT_PASS=$((IT_PASS + 1)); echo "ok - $*"; }
not_ok() { IT_FAIL=$((IT_FAIL + 1)); echo "not ok - $*"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# wait_for SECONDS COMMAND...: polls every 50 ms.
wait_for() {
	local secs=$1
	shift
	local end=$((SECONDS + secs))
	while ((SECONDS <= end)); do
		if "$@" 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	return 1
}

# start_bird NAME CONF: BIRD in the foreground of a background job, by PID.
start_bird() {
	local name=$1 conf=$2
	bird -f -c "$conf" -s "$IT_DIR/$name.ctl" -P "$IT_DIR/$name.pid" \
		>"$IT_DIR/$name.log" 2>&1 &
	IT_PIDS+=($!)
	eval "PID_$name=$!"
	wait_for 10 test -S "$IT_DIR/$name.ctl"
}

stop_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
	kill -KILL "$pid" 2>/dev/null || true
}

# site_bird_conf FILE SITE_IP PEER_IP PORT [INCLUDE [LOG]]: a site BIRD (AS
# 65001) that includes INCLUDE (a path or a glob; default
# $IT_DIR/routectl.conf), logs to LOG (default $IT_DIR/site-bird.log) and has
# one BGP protocol "isp" towards PEER_IP:PORT (from SITE_IP:PORT+1) whose
# export filters call routectl_export().
site_bird_conf() {
	local file=$1 ip=$2 peer=$3 port=$4 include=${5:-$IT_DIR/routectl.conf}
	local log=${6:-$IT_DIR/site-bird.log}
	cat >"$file" <<CONF
router id $ip;
log "$log" all;
include "$include";
protocol bgp isp {
	local $ip port $((port + 1)) as 65001;
	neighbor $peer port $port as 65000;
	multihop;
	strict bind yes;
	connect retry time 1;
	ipv4 { import none; export filter { if proto = "routectl_v4" then { routectl_export(); accept; } reject; }; };
	ipv6 { import none; export filter { if proto = "routectl_v6" then { routectl_export(); bgp_next_hop = 2001:db8:ffff::1; accept; } reject; }; };
}
CONF
}

# same_since A B: passes when two BGP session "since" times are the same
# instant (BIRD may print one instant 1 ms apart; see same_since.py).
same_since() { python3 "$(dirname "${BASH_SOURCE[0]}")/same_since.py" "$1" "$2"; }

# below A B: passes when the number A is less than the number B.
below() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$1" "$2"; }

# jget EXPR: reads JSON on stdin, prints the Python expression EXPR of it (j).
jget() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

birdc_q() { birdc -s "$IT_DIR/$1.ctl" "${@:2}"; }

# it_site_and_upstream SITE_IP UP_IP PORT INCLUDE_PATTERN: writes
# $IT_DIR/site.conf (site_bird_conf), $IT_DIR/up.conf (AS 65000, BGP
# protocol site importing everything), on SITE_IP:PORT+1 and UP_IP:PORT; and
# $IT_DIR/routectld.json for site ash (services web and dns, bgp-protocol
# isp) with its include at $IT_DIR/routectl.conf, or at the path given in
# IT_INCLUDE, reconciling every IT_RECONCILE seconds (default 1).
it_site_and_upstream() {
	local site_ip=$1 up_ip=$2 port=$3 pattern=$4
	site_bird_conf "$IT_DIR/site.conf" "$site_ip" "$up_ip" "$port" "$pattern"
	cat >"$IT_DIR/up.conf" <<CONF
router id $up_ip;
log "$IT_DIR/up-bird.log" all;
protocol bgp site {
	local $up_ip port $port as 65000;
	neighbor $site_ip port $((port + 1)) as 65001;
	multihop;
	strict bind yes;
	connect retry time 1;
	ipv4 { import all; export none; };
	ipv6 { import all; export none; };
}
CONF
	cat >"$IT_DIR/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "ash", "local-as": 65001,
  "bird": {"control-socket": "$IT_DIR/site.ctl", "include": "${IT_INCLUDE:-$IT_DIR/routectl.conf}",
           "bgp-protocol": ["isp"], "configure-timeout": 30, "verify-timeout-ms": 3000},
  "state-dir": "$IT_DIR/state", "policy-file": "$IT_POLICY",
  "console": {"socket": "$IT_DIR/routectld.sock"},
  "reconcile-interval": ${IT_RECONCILE:-1},
  "service": [
    {"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]},
    {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"], "ipv6-prefix": ["2001:db8:2::/48"]}]}}
CONF
}

# it_staged_policy WAIT: a policy with stages of WAIT seconds (prepend 3)
# and no guard or flap budget in the way (one site, no fleet), written to
# $IT_DIR/policy.json and named by $IT_DIR/routectld.json.
it_staged_policy() {
	cat >"$IT_DIR/policy.json" <<CONF
{"routectl-policy:policy": {
  "drain": {"prepend": 3, "wait": $1},
  "undrain": {"prepend": 3, "wait": $1},
  "guards": {"last-site": false, "max-drained-sites": 1000, "without-fleet": "stand-alone"},
  "flap-budget": {"changes": 1000, "window": 1}}}
CONF
	python3 - "$IT_DIR/routectld.json" "$IT_DIR/policy.json" <<'PY'
import json, sys
path, policy = sys.argv[1:3]
with open(path) as f:
    c = json.load(f)
c["routectl-config:routectld"]["policy-file"] = policy
with open(path, "w") as f:
    json.dump(c, f)
PY
}

# The routectld under test: config $IT_DIR/routectld.json, console
# $IT_DIR/routectld.sock, log $IT_DIR/routectld.log; needs ROUTECTLD and ROUTECTL.
start_daemon() {
	"$ROUTECTLD" -c "$IT_DIR/routectld.json" >>"$IT_DIR/routectld.log" 2>&1 &
	DAEMON_PID=$!
	IT_PIDS+=("$DAEMON_PID")
	wait_for 10 test -S "$IT_DIR/routectld.sock"
}
rctl() { "$ROUTECTL" -s "$IT_DIR/routectld.sock" "$@"; }

# Stops what the test started (by PID) and checks that no sanitizer
# reported anything in their logs (leaks show only at exit).
it_stop_and_check_sanitizers() {
	for pid in "${IT_PIDS[@]}"; do
		stop_pid "$pid"
	done
	local reports
	reports=$(grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" \
		"$IT_DIR"/*.log "$IT_DIR"/*/*.log 2>/dev/null || true)
	if [[ -n $reports ]]; then
		not_ok "sanitizer reports in: $reports"
		grep -h -A20 -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" $reports | head -60
	else
		ok "no sanitizer reports in the logs of routectld"
	fi
}

it_summary() {
	it_stop_and_check_sanitizers
	echo "integration: $IT_PASS passed, $IT_FAIL failed"
	((IT_FAIL == 0))
}
