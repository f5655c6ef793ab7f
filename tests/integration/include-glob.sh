#!/usr/bin/env bash
# A router whose bird.conf includes a whole directory by glob
# (`include "DIR/*";`), with the generated include in that directory. A write
# that died before its rename leaves a temp file there; if the glob matched it,
# every later configure would fail with "Symbol ... already defined". Checks
# that routectld removes the leftovers of a crashed write at start (those of
# older versions, named INCLUDE.tmp.PID, too, and those in its state dir), that
# its own temp names are hidden from the glob, and that changes then apply.
# usage: include-glob.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
it_init
D=$IT_DIR
SITE_IP=127.0.0.51 UP_IP=127.0.0.52
mkdir -p "$D/routectl.d" "$D/state"

IT_INCLUDE="$D/routectl.d/routectl.conf" it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.d/*"

up_has() { birdc_q up show route "$1" protocol site | grep -q "$1"; }
established() { birdc_q up show protocols site | grep -q Established; }
# A PID that no process has: a reaped child's.
sh -c 'exit 0' &
DEAD=$!
wait "$DEAD" || true

# What a kill -9 between write and rename left behind, in every naming:
# this version's (hidden) and an older version's (matched by the glob), beside
# the include and in the state dir. Each holds the symbols of the include.
leftover='protocol static routectl_v4 { ipv4; }
protocol static routectl_v6 { ipv6; }
function routectl_export() { reject; }'
echo "$leftover" >"$D/routectl.d/routectl.conf.tmp.$DEAD"
echo "$leftover" >"$D/routectl.d/.routectl.conf.tmp.$DEAD.Ab12Cd"
echo '{"routectl-state:state": {' >"$D/state/state.json.tmp.$DEAD"
echo '{"routectl-state:state": {' >"$D/state/.state.json.tmp.$DEAD.Ab12Cd"
# Someone else's file in the shared directory is not routectld's to remove.
echo "# not routectl's" >"$D/routectl.d/zz-other.conf"

start_daemon
check "routectld writes the include at start" test -s "$D/routectl.d/routectl.conf"
check "the older version's leftover beside the include is removed" test ! -e "$D/routectl.d/routectl.conf.tmp.$DEAD"
check "the hidden leftover beside the include is removed" test ! -e "$D/routectl.d/.routectl.conf.tmp.$DEAD.Ab12Cd"
check "the leftovers in the state dir are removed" \
	bash -c "test ! -e '$D/state/state.json.tmp.$DEAD' && test ! -e '$D/state/.state.json.tmp.$DEAD.Ab12Cd'"
check "other files in the include's directory are kept" test -e "$D/routectl.d/zz-other.conf"
check "the removal is logged" grep -q "routectl.conf.tmp.$DEAD, a temp file left by process $DEAD" "$D/routectld.log"
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BIRD starts with the directory included by glob" wait_for 10 birdc_q site show status
check "BGP session established" wait_for 30 established
check "daemon connects to BIRD" wait_for 10 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"connected\": *true'"
check "upstream has web from the site" wait_for 10 up_has 192.0.2.0/24

# A write that dies now leaves a hidden temp: the glob skips it, so the
# next change applies.
echo "$leftover" >"$D/routectl.d/.routectl.conf.tmp.$DEAD.Xy34Zw"
check "drain web applies with a hidden leftover in the directory" \
	rctl drain ash --service web --reason "glob test" --now
check "upstream no longer has web" wait_for 10 bash -c "! birdc -s '$D/up.ctl' show route 192.0.2.0/24 protocol site | grep -q 192.0.2.0"
check "the change's own temp file is gone" \
	bash -c "test \$(ls -A '$D/routectl.d' | grep -c tmp) = 1"
check "undrain web applies" rctl undrain ash --service web --reason "glob test" --now
check "upstream has web again" wait_for 10 up_has 192.0.2.0/24

# routectld restarts: the crashed write's hidden temp goes too.
stop_pid "$DAEMON_PID"
start_daemon
check "a restart removes the hidden leftover" wait_for 5 test ! -e "$D/routectl.d/.routectl.conf.tmp.$DEAD.Xy34Zw"
check "drain dns applies after the restart" rctl drain ash --service dns --reason "glob test" --now
check "BIRD's config still parses" bash -c "birdc -s '$D/site.ctl' configure check | grep -q 'Configuration OK'"

it_summary
