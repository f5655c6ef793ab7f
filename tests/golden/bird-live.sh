#!/bin/sh
# Proves the generated include with real BIRD: a site BIRD (AS 65001) that
# includes the render and calls routectl_export() from its export filters, and
# an upstream BIRD (AS 65000) that imports what the site exports. For each
# state (announce, prepend 3, withdraw, back) it checks what the site exports
# and what the upstream sees, then does the same with 10,000 prefixes and with
# the graceful-shutdown template of tests/golden/cases/custom-template, and
# checks that the BGP session was never reset. At 10,000 prefixes it also
# checks the churn: a change to a 2-prefix service sends the upstream exactly
# 2 BGP updates or withdrawals, and BIRD reloads no channel.
#
#   bird-live.sh GOLDEN_BINARY [PORT]
#
# Everything runs as the current user on 127.0.0.31/32, PORT and PORT+1, in a
# temp dir; the BIRDs are stopped by PID.
set -eu

GOLDEN=$1
PORT=${2:-26900}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SITE_IP=127.0.0.31
UP_IP=127.0.0.32
BIRD=${ROUTECTL_BIRD:-bird}
BIRDC=${ROUTECTL_BIRDC:-birdc}

if ! command -v "$BIRD" >/dev/null 2>&1; then
	echo "SKIP: bird not installed"
	exit 77
fi

DIR=$(mktemp -d /tmp/bird-live.XXXXXX)
cleanup() {
	for p in "$DIR"/site.pid "$DIR"/up.pid; do
		[ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
	done
	sleep 0.2
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

fail() {
	echo "FAIL: $*"
	echo "--- site log"; tail -20 "$DIR/site.log" 2>/dev/null || true
	echo "--- upstream log"; tail -20 "$DIR/up.log" 2>/dev/null || true
	exit 1
}

site() { "$BIRDC" -s "$DIR/site.ctl" "$@"; }
up() { "$BIRDC" -s "$DIR/up.ctl" "$@"; }
ms() { date +%s%3N; }

# --- configs -------------------------------------------------------------
# The site: the snippets of bird-templates/bird.conf.example, on loopback.
cat > "$DIR/site.conf" <<EOF
router id $SITE_IP;
log "$DIR/site.log" all;

include "$DIR/routectl.conf";

protocol device { }

protocol bgp upstream {
	local $SITE_IP port $PORT as 65001;
	neighbor $UP_IP port $((PORT + 1)) as 65000;
	multihop;
	strict bind yes;
	ipv4 {
		import none;
		export filter {
			if proto = "routectl_v4" then { routectl_export(); accept; }
			reject;
		};
	};
	ipv6 {
		import none;
		export filter {
			if proto = "routectl_v6" then {
				routectl_export();
				bgp_next_hop = 2001:db8:ffff::31;
				accept;
			}
			reject;
		};
	};
}
EOF

cat > "$DIR/up.conf" <<EOF
router id $UP_IP;
log "$DIR/up.log" all;

protocol device { }

protocol bgp site {
	local $UP_IP port $((PORT + 1)) as 65000;
	neighbor $SITE_IP port $PORT as 65001;
	multihop;
	strict bind yes;
	ipv4 { import all; export none; };
	ipv6 { import all; export none; };
}
EOF

# case WEB_MODE WEB_PREPEND DNS_MODE DNS_PREPEND EXTRA_WEB_V4 [TEMPLATE]
# writes a golden case and renders it into routectl.conf
render() {
	mkdir -p "$DIR/case"
	rm -f "$DIR/case/template.tmpl"
	[ $# -ge 6 ] && cp "$6" "$DIR/case/template.tmpl"
	{
		printf '{ "site": "ash", "local_as": 65001, "generation": %s, "services": [\n' "$(ms)"
		printf '{ "name": "web", "mode": "%s", "prepend": %s, "actor": "bird-live", "reason": "test",' "$1" "$2"
		printf ' "since": "2026-11-25T10:00:00Z", "change_id": "0000000000000001",\n'
		printf '  "prefixes": ["192.0.2.0/24", "2001:db8:1::/48"'
		awk -v n="$5" 'BEGIN { for (i = 0; i < n; i++) printf(",\n\"10.%d.%d.0/24\"", int(i / 256), i % 256) }'
		printf '] },\n'
		printf '{ "name": "dns", "mode": "%s", "prepend": %s, "actor": "bird-live", "reason": "test",' "$3" "$4"
		printf ' "since": "2026-11-25T10:00:00Z", "change_id": "0000000000000002",\n'
		printf '  "prefixes": ["198.51.100.0/24", "2001:db8:2::/48"] }\n] }\n'
	} > "$DIR/case/case.json"
	"$GOLDEN" --render "$DIR/case" > "$DIR/routectl.conf.new" || fail "render"
	mv "$DIR/routectl.conf.new" "$DIR/routectl.conf"
}

# The AS path the upstream has for a prefix, or "absent".
up_path() {
	out=$(up show route "$1" all) || true
	if echo "$out" | grep -q "BGP.as_path:"; then
		echo "$out" | sed -n 's/^[[:space:]]*BGP.as_path: *//p' | head -1
	else
		echo absent
	fi
}

site_export_path() {
	out=$(site show route "$1" export upstream all) || true
	if echo "$out" | grep -q "BGP.as_path:"; then
		echo "$out" | sed -n 's/^[[:space:]]*BGP.as_path: *//p' | head -1
	else
		echo absent
	fi
}

up_count() {
	up show route count | sed -n 's/.*Total: \([0-9]*\) of.*/\1/p'
}

# wait_for DESCRIPTION COMMAND EXPECTED: polls (which also wakes BIRD's loop)
wait_for() {
	start=$(ms)
	while :; do
		got=$(eval "$2")
		[ "$got" = "$3" ] && break
		[ $(( $(ms) - start )) -gt 15000 ] && fail "$1: got '$got', want '$3'"
		site show status >/dev/null
		sleep 0.01
	done
	echo "  $1: $got ($(( $(ms) - start )) ms)"
}

apply() {
	site configure check | grep -q "Configuration OK" || { site configure check; fail "configure check"; }
	t0=$(ms)
	site configure | grep -q "Reconfigured" || fail "configure"
	echo "  configure: $(( $(ms) - t0 )) ms"
}

# "UPDATES WITHDRAWS": BGP route updates and withdrawals the upstream has
# received from the site, summed over its channels (show protocols all).
up_counters() {
	up show protocols all site | awk '
		/Import updates:/ { u += $3 }
		/Import withdraws:/ { w += $3 }
		END { print u + 0, w + 0 }'
}

# Keeps BIRD's loops awake for a second, so that anything still queued
# (a channel re-export would be) reaches the upstream before counting.
settle() {
	start=$(ms)
	while [ $(( $(ms) - start )) -lt 1000 ]; do
		site show status >/dev/null
		up show status >/dev/null
		sleep 0.02
	done
}

# check_churn WHAT BEFORE AFTER UPDATES WITHDRAWS
check_churn() {
	du=$(( $(echo "$3" | cut -d' ' -f1) - $(echo "$2" | cut -d' ' -f1) ))
	dw=$(( $(echo "$3" | cut -d' ' -f2) - $(echo "$2" | cut -d' ' -f2) ))
	[ "$du" = "$4" ] && [ "$dw" = "$5" ] ||
		fail "$1: the upstream received $du updates and $dw withdraws, want $4 and $5"
	echo "  $1: the upstream received $du updates, $dw withdraws"
}

# Same instant, allowing BIRD's 1 ms of jitter in printed since times.
same_since() { python3 "$(dirname "$0")/../integration/same_since.py" "$1" "$2"; }

session_since() {
	site show protocols upstream | awk '$1 == "upstream" { print $5 }'
}

# --- start ---------------------------------------------------------------
render announce 0 announce 0 0
"$BIRD" -p -c "$DIR/site.conf" || fail "site config does not parse"
"$BIRD" -c "$DIR/site.conf" -s "$DIR/site.ctl" -P "$DIR/site.pid"
"$BIRD" -c "$DIR/up.conf" -s "$DIR/up.ctl" -P "$DIR/up.pid"

start=$(ms)
until site show protocols upstream | grep -q Established; do
	[ $(( $(ms) - start )) -gt 30000 ] && fail "no BGP session after 30 s"
	sleep 0.2
done
SINCE=$(session_since)
echo "session established in $(( $(ms) - start )) ms (since $SINCE)"

A4=192.0.2.0/24 A6=2001:db8:1::/48 D4=198.51.100.0/24 D6=2001:db8:2::/48

echo "announce"
wait_for "upstream web v4" "up_path $A4" "65001"
wait_for "upstream web v6" "up_path $A6" "65001"
wait_for "upstream dns v4" "up_path $D4" "65001"
wait_for "upstream dns v6" "up_path $D6" "65001"

echo "web prepend 3"
render prepend 3 announce 0 0
apply
[ "$(site_export_path $A4)" = "65001 65001 65001" ] || fail "site export of $A4: $(site_export_path $A4)"
wait_for "upstream web v4" "up_path $A4" "65001 65001 65001 65001"
wait_for "upstream web v6" "up_path $A6" "65001 65001 65001 65001"
wait_for "upstream dns v4" "up_path $D4" "65001"

echo "web withdraw, dns prepend 1"
render withdraw 0 prepend 1 0
apply
[ "$(site_export_path $A4)" = "absent" ] || fail "site still exports $A4"
wait_for "upstream web v4" "up_path $A4" "absent"
wait_for "upstream web v6" "up_path $A6" "absent"
wait_for "upstream dns v6" "up_path $D6" "65001 65001"
# The route stays in the site's table: only the export changed.
site show route "$A4" | grep -q routectl_v4 || fail "static route $A4 gone from the site"

echo "back to announce"
render announce 0 announce 0 0
apply
wait_for "upstream web v4" "up_path $A4" "65001"
wait_for "upstream dns v6" "up_path $D6" "65001"

echo "10,000 prefixes (9,998 IPv4 + 2 IPv6), announce"
render announce 0 announce 0 9996
apply
wait_for "upstream routes" "up_count" "10000"
echo "10,000 prefixes, web withdraw"
render withdraw 0 announce 0 9996
apply
wait_for "upstream routes" "up_count" "2"
echo "10,000 prefixes, web prepend 3"
render prepend 3 announce 0 9996
apply
wait_for "upstream routes" "up_count" "10000"
wait_for "upstream 10.39.11.0/24" "up_path 10.39.11.0/24" "65001 65001 65001 65001"

# Churn: the state travels as a route attribute and routectl_export() keeps
# its body, so a change to the 2-prefix service dns makes the site send BGP
# messages for those 2 prefixes only (not a re-export of all 10,000), and
# BIRD reloads no channel.
echo "churn: dns (2 prefixes) withdrawn and announced again at 10,000 prefixes"
reloads0=$(grep -c 'Reloading channel' "$DIR/site.log" || true)
before=$(up_counters)
render prepend 3 withdraw 0 9996
apply
wait_for "upstream routes" "up_count" "9998"
settle
after=$(up_counters)
check_churn "dns withdraw" "$before" "$after" 0 2
before=$after
render prepend 3 announce 0 9996
apply
wait_for "upstream routes" "up_count" "10000"
settle
after=$(up_counters)
check_churn "dns announce" "$before" "$after" 2 0
reloads1=$(grep -c 'Reloading channel' "$DIR/site.log" || true)
[ "$reloads1" = "$reloads0" ] || fail "BIRD reloaded channels for a change of state ($reloads0 -> $reloads1 'Reloading channel' lines)"
same_since "$SINCE" "$(session_since)" || fail "the BGP session was reset by the churn check (since $SINCE, now $(session_since))"
for s in 240.0.0.1/32 100::1/128; do
	[ "$(up_path $s)" = "absent" ] || fail "the sentinel $s reached the upstream"
	site show route "$s" | grep -q routectl_v || fail "the sentinel $s is not in the site's table"
done
echo "  sentinels 240.0.0.1/32 and 100::1/128 in the site's table, never exported"

# BIRD 2.0.12 compares an unset attribute as neither > 10 nor >= 1, so
# without the defined() test a route that lost its value (a hand edit) would
# be exported as announced.
echo "a route without routectl_state is not exported"
render announce 0 announce 0 0
sed -i "s|route $D4 blackhole { routectl_state = routectl_s[0-9]*; };|route $D4 blackhole;|" "$DIR/routectl.conf"
grep -q "route $D4 blackhole;" "$DIR/routectl.conf" || fail "the hand edit did not apply"
apply
wait_for "upstream dns v4" "up_path $D4" "absent"
wait_for "upstream dns v6" "up_path $D6" "65001"

echo "graceful-shutdown template, web prepend 2"
render prepend 2 announce 0 0 "$SRC/tests/golden/cases/custom-template/template.tmpl"
apply
wait_for "upstream routes" "up_count" "4"
wait_for "upstream web v4" "up_path $A4" "65001 65001 65001"
up show route "$A4" all | grep -q "BGP.community: (65535,0)" || fail "no GRACEFUL_SHUTDOWN on $A4"
if up show route "$D4" all | grep -q "BGP.community"; then fail "community on announced $D4"; fi
echo "  upstream $A4: community (65535,0)"

same_since "$SINCE" "$(session_since)" || fail "the BGP session was reset (since $SINCE, now $(session_since))"
if grep -Eq "BGP session closed|Down|Error" "$DIR/site.log"; then fail "session trouble in the site log"; fi
echo "session never reset (since $SINCE); site log: $(grep -c 'Reloading channel' "$DIR/site.log") channel reloads"
echo "PASS"
