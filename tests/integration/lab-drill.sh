#!/usr/bin/env bash
# The lab drill as a test: the three-site lab on loopback (deploy/lab: an
# upstream BIRD, and per site a BIRD and a routectld), a staged drain and
# undrain of ash checked from the upstream, the guards across sites (chi may
# be drained too, the last announcing site sea is refused and the upstream
# keeps its routes), and no BGP session reset. Fails when the drill fails.
#
# Arguments after PORT_BASE go to `deploy/lab drill` (--daemon-dead: ash's
# routectld killed and ash drained with routectl emergency; --chatops-down:
# every primary API address held by another socket and ash drained through
# the out-of-band listeners).
#
# usage: lab-drill.sh ROUTECTLD ROUTECTL PORT_BASE [DRILL_ARG...]   (env ROUTECTL_SOURCE_ROOT)
set -euo pipefail

if (($# < 3)); then
	echo "usage: $0 ROUTECTLD ROUTECTL PORT_BASE [DRILL_ARG...]" >&2
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
		# Not $(<"$f"): BIRD deletes its pidfile as it exits, and a failed
		# $(<file) ends a `set -e` script even here.
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
		echo "lab-drill: FAILED; lab logs follow (lab kept in $lab)"
		print_logs
	else
		rm -rf "$lab"
	fi
	rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$lab_script" drill "${@:4}"
"$lab_script" down
# Leaks and other sanitizer findings show in the daemons' logs at exit.
if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$lab"/*/*.log 2>/dev/null; then
	echo "lab-drill: sanitizer reports in the logs above"
	exit 1
fi
status=0
echo "lab-drill: PASS"
