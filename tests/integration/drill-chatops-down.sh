#!/usr/bin/env bash
# `deploy/lab drill --chatops-down` as a test: the three-site lab on loopback
# (an upstream BIRD; per site a BIRD and a routectld with an out-of-band
# listener), every routectld restarted while its primary API address is
# held by another socket, ash drained and undrained through the out-of-band
# path (--via oob, then the automatic fallback) and checked from the
# upstream, then the primary path restored without a restart. Fails when
# the drill fails.
#
# usage: drill-chatops-down.sh ROUTECTLD ROUTECTL PORT_BASE   (env ROUTECTL_SOURCE_ROOT)
set -euo pipefail

if (($# != 3)); then
	echo "usage: $0 ROUTECTLD ROUTECTL PORT_BASE" >&2
	exit 2
fi
routectld=$(realpath "$1")
routectl=$(realpath "$2")
port=$3
src=${ROUTECTL_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
lab_script=$src/deploy/lab

lab=$(mktemp -d "${TMPDIR:-/tmp}/routectl-lab-test.XXXXXX")
# deploy/lab wants one directory holding both binaries.
bin=$(mktemp -d "${TMPDIR:-/tmp}/routectl-lab-bin.XXXXXX")
ln -s "$routectld" "$bin/routectld"
ln -s "$routectl" "$bin/routectl"

export ROUTECTL_LAB=$lab ROUTECTL_LAB_PORT=$port ROUTECTL_BIN_DIR=$bin

print_logs() {
	local f
	for f in "$lab"/*/*.log "$lab"/*/bird.out; do
		[[ -s $f ]] || continue
		echo "----- $f (last 100 lines)"
		tail -n 100 "$f"
	done
}

# Stops what the lab started, by the PIDs it recorded, even if
# `deploy/lab down` itself fails.
kill_recorded() {
	local f pid i
	for f in "$lab"/*/routectld.pid "$lab"/*/bird.pid "$lab"/*/primary-placeholder.pid; do
		pid=$(cat -- "$f" 2>/dev/null) || continue
		[[ $pid =~ ^[0-9]+$ ]] || continue
		# Only a process that still runs from this lab (PIDs get reused).
		[[ -r /proc/$pid/cmdline ]] || continue
		[[ $(tr '\0' ' ' <"/proc/$pid/cmdline") == *"$lab/"* ]] || continue
		kill -TERM "$pid" 2>/dev/null || continue
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
}

status=1
cleanup() {
	"$lab_script" down >/dev/null 2>&1 || true
	kill_recorded
	if ((status != 0)); then
		echo "drill-chatops-down: FAILED; lab logs follow (lab kept in $lab)"
		print_logs
	else
		rm -rf "$lab"
	fi
	rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$lab_script" drill --chatops-down
"$lab_script" down
# Leaks and other sanitizer findings show in the daemons' logs at exit.
if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$lab"/*/*.log 2>/dev/null; then
	echo "drill-chatops-down: sanitizer reports in the logs above"
	exit 1
fi
status=0
echo "drill-chatops-down: PASS"
