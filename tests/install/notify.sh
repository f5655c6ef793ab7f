#!/usr/bin/env bash
# notify.sh ROUTECTLD ROUTECTL: what routectld tells systemd (Type=notify)
# through $NOTIFY_SOCKET, read by a stand-in for systemd: READY=1 with a
# STATUS= naming the site and its console; WATCHDOG=1 keep-alives from the
# event loop at half of WATCHDOG_USEC; STATUS= SAFE MODE with the reason when
# it starts with a state file that does not load, and "safe mode ended" once
# SIGHUP finds it loadable again; STOPPING=1 on SIGTERM. No BIRD needed.
source "$(dirname "$0")/../integration/lib.sh"
ROUTECTLD=$1
ROUTECTL=$2
if ! ldd "$ROUTECTLD" | grep -q libsystemd; then
	echo "SKIP: routectld is built without libsystemd"
	exit 77
fi
it_init
D=$IT_DIR
NOTES=$D/notify.txt
: >"$NOTES"

# The stand-in for systemd: one line per datagram (its lines joined by " | ").
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        msg = s.recv(4096).decode("utf-8", "replace")
        out.write(" | ".join(msg.split("\n")) + "\n")
        out.flush()
' "$D/notify.sock" "$NOTES" &
IT_PIDS+=($!)
wait_for 5 test -S "$D/notify.sock"

mkdir -p "$D/state"
cat >"$D/routectld.json" <<CONF
{"routectl-config:routectld": {
  "site": "ash", "local-as": 65001,
  "bird": {"control-socket": "$D/no-bird.ctl", "include": "$D/routectl.conf",
           "bgp-protocol": ["isp"]},
  "state-dir": "$D/state", "policy-file": "$IT_POLICY",
  "console": {"socket": "$D/routectld.sock"},
  "service": [{"name": "web", "ipv4-prefix": ["192.0.2.0/24"]}]}}
CONF

# Runs routectld as systemd would: its own NOTIFY_SOCKET and a 1 s watchdog.
start_notified() {
	NOTIFY_SOCKET=$D/notify.sock WATCHDOG_USEC=1000000 \
		"$ROUTECTLD" -c "$D/routectld.json" >>"$D/routectld.log" 2>&1 &
	DAEMON_PID=$!
	IT_PIDS+=("$DAEMON_PID")
	wait_for 10 test -S "$D/routectld.sock"
}
notes_match() { grep -q -- "$1" "$NOTES"; }
count() { grep -c -- "$1" "$NOTES" || true; }

check "routectld starts" start_notified
check "READY=1 with STATUS= naming the site and console" \
	wait_for 5 notes_match "^READY=1 | STATUS=site ash: serving on $D/routectld.sock$"
check "READY=1 is sent once" test "$(count READY=1)" = 1
sleep 2
n=$(count '^WATCHDOG=1$')
check "WATCHDOG=1 every half watchdog period ($n in about 2 s)" test "$n" -ge 3

kill -TERM "$DAEMON_PID"
check "STOPPING=1 on SIGTERM" wait_for 10 notes_match '^STOPPING=1$'
stop_pid "$DAEMON_PID"

# A state file that does not load: safe mode, and STATUS= says why.
mv "$D/state/state.json" "$D/state.json.saved"
ln -s "$D/not-mounted/state.json" "$D/state/state.json"
rm -f "$D/routectld.sock"
: >"$NOTES"
check "routectld starts with a dangling state file" start_notified
check "STATUS= says SAFE MODE and why" \
	wait_for 5 notes_match "STATUS=site ash: SAFE MODE (no changes are applied): .*symbolic link"
rm "$D/state/state.json"
mv "$D/state.json.saved" "$D/state/state.json"
kill -HUP "$DAEMON_PID"
check "after SIGHUP loads the state: STATUS= says safe mode ended" \
	wait_for 10 notes_match "^STATUS=site ash: serving on $D/routectld.sock (safe mode ended)$"
check "READY=1 is not sent again" test "$(count READY=1)" = 1
echo "    what routectld sent after the restart:"
grep -v '^WATCHDOG=1$' "$NOTES" | sed 's/^/      /'

it_summary
