#!/usr/bin/env bash
# No client can lock operators out of the console, and the CLI says what it
# knows. A site BIRD with an eBGP session to an upstream BIRD and a routectld,
# all on loopback:
#  - 500 idle and 100 slowloris connections (a header byte a second) held on
#    the console: status, drain and undrain still succeed, each within a
#    bound, and the drain reaches the upstream; the daemon's descriptors stay
#    bounded and its log is not flooded;
#  - routectld killed (SIGKILL) while a drain is in flight: the CLI says the
#    outcome is unknown (exit 3) and how to find out;
#  - routectld not running: the CLI names the socket and says nothing was
#    applied (exit 1).
# usage: console-abuse.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
HERE=$(cd "$(dirname "$0")" && pwd)
it_init
D=$IT_DIR
SITE_IP=127.0.0.41 UP_IP=127.0.0.42
# Bounds for one CLI command while the console is flooded. Correctness, not
# a benchmark: generous for sanitizer builds on a busy machine, far below
# libmicrohttpd's and the CLI's timeouts that a locked-out console hits.
STATUS_MAX_MS=${STATUS_MAX_MS:-1000}
CHANGE_MAX_MS=${CHANGE_MAX_MS:-3000}

IT_RECONCILE=30 it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"

up_has() { birdc_q up show route "$1" protocol site | grep -q "$1"; }
up_lacks() { ! up_has "$1"; }
established() { birdc_q up show protocols site | grep -q Established; }
ms_now() { date +%s%3N; }

# timed LIMIT_MS DESCRIPTION ROUTECTL-ARGS...: the command succeeds within
# LIMIT_MS; its time is printed.
timed() {
	local limit=$1 what=$2 t0 t1 rc=0 out
	shift 2
	t0=$(ms_now)
	out=$(rctl "$@" 2>&1) || rc=$?
	t1=$(ms_now)
	if ((rc == 0 && t1 - t0 <= limit)); then
		ok "$what: exit 0 in $((t1 - t0)) ms (bound $limit ms)"
	else
		not_ok "$what: exit $rc in $((t1 - t0)) ms (bound $limit ms): ${out:0:300}"
	fi
}

start_daemon
start_bird up "$D/up.conf"
start_bird site "$D/site.conf"
check "BGP session established" wait_for 30 established
check "daemon connects to BIRD" wait_for 10 bash -c "'$ROUTECTL' -s '$D/routectld.sock' --json status | grep -q '\"connected\": *true'"
check "upstream has web from the site" wait_for 10 up_has 192.0.2.0/24

# Unloaded, for comparison with the times under the flood below.
timed "$STATUS_MAX_MS" "status, console idle" status
timed "$CHANGE_MAX_MS" "drain --now, console idle" drain ash --now --reason "baseline"
check "the unloaded drain reaches the upstream" wait_for 5 up_lacks 192.0.2.0/24
timed "$CHANGE_MAX_MS" "undrain --now, console idle" undrain ash --now --reason "baseline"
check "the unloaded undrain reaches the upstream" wait_for 5 up_has 192.0.2.0/24

# --- the console under a flood of idle and slow connections ---------------
# Fifteen processes, as clients that want to lock operators out would open
# them: five hold 100 idle connections each, ten hold 10 slowloris ones each.
# Each reopens what the daemon closes, a second later.
FLOOD_PIDS=()
NFLOOD=15
for i in $(seq $NFLOOD); do
	if ((i <= 5)); then idle=100 slow=0; else idle=0 slow=10; fi
	python3 "$HERE/console_flood.py" "$D/routectld.sock" $idle $slow 120 \
		"$D/flood$i.ready" "$D/flood$i.stats" 2>>"$D/flood.log" &
	FLOOD_PIDS+=($!)
	IT_PIDS+=($!)
done
check "the flood has opened its 600 connections" \
	wait_for 30 bash -c "for i in \$(seq $NFLOOD); do test -s '$D/flood'\$i.ready || exit 1; done"

timed "$STATUS_MAX_MS" "status while 600 connections are held" status
timed "$CHANGE_MAX_MS" "drain --now while 600 connections are held" \
	drain ash --now --reason "console abuse test"
check "the drain reaches the upstream" wait_for 5 up_lacks 192.0.2.0/24
timed "$STATUS_MAX_MS" "status after the drain, still flooded" status
# Outlast the header deadline, so that the slow connections have been timed
# out and reopened at least once.
sleep 6
timed "$STATUS_MAX_MS" "status 6 s into the flood" status
timed "$CHANGE_MAX_MS" "undrain --now while flooded" undrain ash --now --reason "console abuse test"
check "the undrain reaches the upstream" wait_for 5 up_has 192.0.2.0/24
for n in 1 2 3; do
	timed "$STATUS_MAX_MS" "status #$n, still flooded" status
	sleep 0.5
done
nfd=$(ls "/proc/$DAEMON_PID/fd" | wc -l)
check "routectld holds at most ~300 descriptors while 600 connections knock ($nfd)" \
	test "$nfd" -le 320

for pid in "${FLOOD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${FLOOD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
closed_by_daemon() {
	sed -n 's/.*closed_by_daemon=\([0-9]*\).*/\1/p' "$1" 2>/dev/null || true
}
closed=0
for i in $(seq $NFLOOD); do
	c=$(closed_by_daemon "$D/flood$i.stats")
	closed=$((closed + ${c:-0}))
done
check "the daemon closed flood connections ($closed)" test "$closed" -gt 0
check "evictions are logged per uid" grep -q "console: connections of uid $(id -u)" "$D/routectld.log"

# Slowloris alone (fewer than any limit, so nothing evicts them): the header
# deadline closes them, however long they keep trickling.
python3 "$HERE/console_flood.py" "$D/routectld.sock" 0 5 7 "$D/slow.ready" "$D/slow.stats" \
	2>>"$D/flood.log" &
IT_PIDS+=($!)
wait $!
c=$(closed_by_daemon "$D/slow.stats")
check "5 slowloris connections are closed within 7 s ($c closed)" test "${c:-0}" -ge 5
check "slow connections are logged as timed out" \
	wait_for 12 grep -q "closed: request not complete in time" "$D/routectld.log"
nlines=$(grep -c -E "console: connections|http: " "$D/routectld.log" || true)
check "the log is not flooded ($nlines lines about connections)" test "$nlines" -le 60
timed "$STATUS_MAX_MS" "status after the flood" status


# --- many uids at once: the table fills, operators still get in ------------
# Run as root only: six other uids (five processes of 20 connections each)
# reach every limit: per process, per uid and the table's total. The
# operator (root) is none of them and is never the one evicted.
# The system's python3: a per-user one (pyenv under /root) is not for others.
OTHER_PY=/usr/bin/python3
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null &&
	setpriv --reuid=64001 --regid=0 --clear-groups "$OTHER_PY" -c pass 2>/dev/null; then
	mkdir -m 0777 "$D/multi"
	chmod 0711 "$D"   # the others may reach the socket (mode 0660, group root)
	MULTI_PIDS=()
	for uid in 64001 64002 64003 64004 64005 64006; do
		for p in 1 2 3 4 5; do
			setpriv --reuid="$uid" --regid=0 --clear-groups \
				"$OTHER_PY" - "$D/routectld.sock" 20 0 120 "$D/multi/$uid.$p.ready" \
				"$D/multi/$uid.$p.stats" <"$HERE/console_flood.py" 2>>"$D/flood.log" &
			MULTI_PIDS+=($!)
			IT_PIDS+=($!)
		done
	done
	check "six uids have opened their 600 connections" \
		wait_for 30 bash -c "test \$(ls '$D/multi' | grep -c ready) = 30"
	sleep 1
	timed "$STATUS_MAX_MS" "status while six uids hold the table" status
	timed "$CHANGE_MAX_MS" "drain --now while six uids hold the table" \
		drain ash --now --reason "many uids"
	check "the drain reaches the upstream" wait_for 5 up_lacks 192.0.2.0/24
	timed "$CHANGE_MAX_MS" "undrain --now while six uids hold the table" \
		undrain ash --now --reason "many uids"
	check "the undrain reaches the upstream" wait_for 5 up_has 192.0.2.0/24
	nfd=$(ls "/proc/$DAEMON_PID/fd" | wc -l)
	check "routectld holds at most ~300 descriptors with the table full ($nfd)" \
		test "$nfd" -le 320
	for pid in "${MULTI_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${MULTI_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	check "a full table is logged" \
		wait_for 12 grep -q "evicted: connection table full" "$D/routectld.log"
	check "the per-uid limit is logged" \
		wait_for 12 grep -q "evicted: over the per-uid limit" "$D/routectld.log"
	chmod 0700 "$D"
else
	echo "skip - many uids at once: needs root, setpriv and $OTHER_PY"
fi

# --- out of file descriptors ----------------------------------------------
# routectld restarted with 64 descriptors (fewer than its table's total):
# accept(2) fails with EMFILE, and waiting connections must make room
# rather than the operator being turned away.
stop_pid "$DAEMON_PID"
prlimit --nofile=64:64 "$ROUTECTLD" -c "$D/routectld.json" >>"$D/routectld.log" 2>&1 &
DAEMON_PID=$!
IT_PIDS+=("$DAEMON_PID")
check "routectld restarted with 64 descriptors" wait_for 10 test -S "$D/routectld.sock"
check "routectld says its descriptor limit is low" \
	wait_for 5 grep -q "only 64 file descriptors allowed" "$D/routectld.log"
NOFD_PIDS=()
for i in 1 2 3 4 5 6 7 8; do
	python3 "$HERE/console_flood.py" "$D/routectld.sock" 30 0 120 "$D/nofd$i.ready" \
		"$D/nofd$i.stats" 2>>"$D/flood.log" &
	NOFD_PIDS+=($!)
	IT_PIDS+=($!)
done
check "240 connections are knocking" \
	wait_for 30 bash -c "for i in 1 2 3 4 5 6 7 8; do test -s '$D/nofd'\$i.ready || exit 1; done"
sleep 1
for n in 1 2 3; do
	timed "$STATUS_MAX_MS" "status #$n with routectld out of descriptors" status
done
timed "$CHANGE_MAX_MS" "drain --now with routectld out of descriptors" \
	drain ash --now --reason "out of descriptors"
timed "$CHANGE_MAX_MS" "undrain --now with routectld out of descriptors" \
	undrain ash --now --reason "out of descriptors"
for pid in "${NOFD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${NOFD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
check "waiting connections were closed to make room (logged)" \
	wait_for 12 grep -q "evicted: out of file descriptors" "$D/routectld.log"

check "libmicrohttpd's own connection limit (the second fence) was never hit" \
	bash -c "! grep -q 'did not take a new connection' '$D/routectld.log'"

# --- routectld dies while a drain is in flight ----------------------------
# BIRD stopped (SIGSTOP) keeps the drain waiting inside routectld; then
# routectld is killed.
kill -STOP "$PID_site"
rc=0
rctl drain ash --now --reason "killed mid-drain" >"$D/kill.out" 2>"$D/kill.err" &
cli=$!
sleep 1.5
kill -KILL "$DAEMON_PID"
wait "$cli" || rc=$?
kill -CONT "$PID_site"
err=$(cat "$D/kill.err")
check "CLI exits 3 when routectld dies mid-drain (exit $rc)" test "$rc" = 3
check "CLI says the drain may or may not have been applied: $err" \
	grep -q "^routectl: outcome unknown: the drain may or may not have been applied: .*routectld at $D/routectld.sock" "$D/kill.err"
check "CLI says how to find out" \
	grep -qF "run \`routectl -s $D/routectld.sock status\` to see the state" "$D/kill.err"
check "CLI does not blame libcurl's placeholder host" bash -c "! grep -q localhost '$D/kill.err'"

# --- routectld not running ------------------------------------------------
rc=0
out=$(rctl undrain ash --now --reason "daemon down" 2>&1) || rc=$?
check "CLI exits 1 when routectld is not running (exit $rc)" test "$rc" = 1
check "CLI names the socket and says nothing was applied: $out" \
	grep -qF "cannot connect to routectld at $D/routectld.sock: Connection refused (is routectld running?); the undrain was not applied (nothing was sent)" <<<"$out"

it_summary
