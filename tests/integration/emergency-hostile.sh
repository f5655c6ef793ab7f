#!/usr/bin/env bash
# routectl emergency in a hostile state directory and beside another
# emergency command, against a real BIRD (routectld stopped):
#   - two emergency commands at once: the second waits for the first (it
#     does not take it for routectld, nor change the site from the state it
#     read before the first saved), then applies; both are in the journal,
#     and the state file keeps both changes;
#   - a FIFO where the journal should be: refused at once, naming it,
#     nothing changed (an open of a FIFO would wait for a reader);
#   - a journal larger than routectld adopts: the drain applies, and the
#     command says routectld will not adopt it (not that it will);
#   - routectld with a FIFO for its idempotency file starts and serves
#     (and stops on SIGTERM) instead of hanging in the open;
#   - routectld with a journal it cannot adopt (a symbolic link) says in
#     status why it leaves BIRD alone, and connects once it is gone.
# usage: emergency-hostile.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1 ROUTECTL=$2 PORT=$3
HERE=$(dirname "$0")
it_init
D=$IT_DIR
SITE_IP=127.0.0.161 UP_IP=127.0.0.162
CONF=$D/routectld.json
# The same site with a BIRD that accepts and never answers: a command on it
# holds the site for BIRD's timeout (5 s by default).
HUNG=$D/hung.json

it_site_and_upstream "$SITE_IP" "$UP_IP" "$PORT" "$D/routectl.conf"
sed "s#\"control-socket\": \"$D/site.ctl\"#\"control-socket\": \"$D/hung.ctl\"#" "$CONF" >"$HUNG"

established() { birdc_q up show protocols site | grep -q Established; }
up_has() { birdc_q up show route "$1" protocol site | grep -q "${1%/*}"; }
up_lacks() { ! up_has "$1"; }
state_of() { jget "[s['mode'] for s in j['routectl-state:state']['service'] if s['name']=='$1'][0]" <"$D/state/state.json"; }
intents() { grep -c '"type":"intent"' "$D/state/emergency.jsonl"; }
# run_emerg ARGS: routectl emergency ARGS; output in $OUT, exit code in $RC
run_emerg() {
	RC=0
	OUT=$(timeout 90 "$ROUTECTL" emergency "$@" 2>&1) || RC=$?
	printf '$ routectl emergency %s\n%s\n(exit %s)\n' "$*" "$OUT" "$RC"
}

start_daemon
start_bird site "$D/site.conf"
start_bird up "$D/up.conf"
check "BGP session established" wait_for 30 established
check "the upstream has dns from the site" wait_for 15 up_has 198.51.100.0/24
stop_pid "$DAEMON_PID"

# --- two emergency commands at once ------------------------------------------------
python3 "$HERE/fake_bird.py" "$D/hung.ctl" silent >"$D/fake.log" 2>&1 &
FAKE_PID=$!
IT_PIDS+=("$FAKE_PID")
wait_for 5 test -S "$D/hung.ctl"
"$ROUTECTL" emergency drain --config "$HUNG" --service web --reason "first, BIRD hung" \
	>"$D/first.out" 2>&1 &
FIRST=$!
check "the first command holds the site" wait_for 5 grep -qx "$FIRST routectl" "$D/state/routectld.lock"
run_emerg drain --config "$CONF" --service dns --reason "second, at the same time"
wait "$FIRST" || true
cat "$D/first.out"
check "the second is not told that routectld runs" bash -c "! grep -q 'routectld of site ash is running' <<<\"\$0\"" "$OUT"
check "... it says it waits for the first, by PID" bash -c "grep -q 'another routectl emergency (process $FIRST) is changing site ash' <<<\"\$0\"" "$OUT"
check "... and applies after it: exit 0" test "$RC" = 0
check "the upstream lost dns" wait_for 10 up_lacks 198.51.100.0/24
check "both commands are in the journal" test "$(intents)" = 2
check "the state file has dns withdrawn" test "$(state_of dns)" = withdraw
stop_pid "$FAKE_PID"
mv "$D/state/emergency.jsonl" "$D/journal.kept"

# --- a FIFO where the journal should be ----------------------------------------------
mkfifo "$D/state/emergency.jsonl"
SUM=$(sha256sum "$D/state/state.json")
run_emerg undrain --config "$CONF" --reason "journal is a FIFO"
check "a FIFO journal: refused, exit 1 (not a hang: exit 124)" test "$RC" = 1
check "... the message names the journal as a FIFO" bash -c "grep -q 'emergency.jsonl is a FIFO' <<<\"\$0\"" "$OUT"
check "... nothing changed" test "$(sha256sum "$D/state/state.json")" = "$SUM"
check "... the upstream still lacks dns" up_lacks 198.51.100.0/24
rm "$D/state/emergency.jsonl"

# --- a journal larger than routectld adopts ------------------------------------------------
head -c 17000000 /dev/zero | tr '\0' x >"$D/state/emergency.jsonl"
echo >>"$D/state/emergency.jsonl"
run_emerg drain --config "$CONF" --service web --reason "journal too large"
check "a journal too large to adopt: the drain applies (exit 0)" test "$RC" = 0
check "... the upstream lost web" wait_for 10 up_lacks 192.0.2.0/24
check "... it does not claim routectld adopts it, and says what routectld does" \
	bash -c "! grep -q 'routectld adopts it' <<<\"\$0\" && grep -q 'more than the 16777216 routectld adopts' <<<\"\$0\"" "$OUT"
rm "$D/state/emergency.jsonl"

# --- routectld with a FIFO idempotency file --------------------------------------------
rm -f "$D/state/idempotency.jsonl"
mkfifo "$D/state/idempotency.jsonl"
start_daemon
ready() { python3 "$HERE/api_request.py" "$D/routectld.sock" GET /readyz | grep -q '^200'; }
check "routectld starts and is ready beside a FIFO idempotency file" wait_for 15 ready
check "... it says why Idempotency-Key writes are refused" grep -q 'idempotency.jsonl is a FIFO' "$D/routectld.log"
kill -TERM "$DAEMON_PID"
check "... and stops on SIGTERM" wait_for 10 bash -c "! kill -0 $DAEMON_PID 2>/dev/null"

# --- routectld with a journal it cannot adopt ---------------------------------------------
ln -s "$D/elsewhere.jsonl" "$D/state/emergency.jsonl"
start_daemon
bird_line() { rctl status | grep '^bird'; }
check "routectld with a journal it cannot adopt answers status" wait_for 15 bird_line
STATUS=$(bird_line)
echo "$STATUS"
check "... status says BIRD is left alone for the journal, naming it" bash -c "grep -q 'only once the emergency journal is adopted' <<<"\$0" && grep -q 'emergency.jsonl is a symbolic link' <<<"\$0"" "$STATUS"
rm "$D/state/emergency.jsonl"
check "... once it is gone, routectld connects to BIRD" wait_for 10 bash -c "$(declare -f rctl); ROUTECTL='$ROUTECTL' IT_DIR='$D'; rctl status | grep -q '^bird *connected'"
check "... and the upstream still lacks dns" up_lacks 198.51.100.0/24
stop_pid "$DAEMON_PID"

it_summary
