#!/usr/bin/env bash
# `routectld -n -c FILE`: exit 0 for a good config; for a bad one, exit
# non-zero and print every error with its path and reason.
# usage: config-check.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1
it_init
D=$IT_DIR

# conf NAME SERVICES_JSON [EXTRA_TOP_LEVEL_JSON]
conf() {
	cat >"$D/$1.json" <<CONF
{"routectl-config:routectld": {
  "site": "ash", "local-as": 65001,
  "bird": {"control-socket": "/run/bird/bird.ctl", "include": "/etc/bird/routectl.conf"},
  "state-dir": "/var/lib/routectl",
  "console": {"socket": "/run/routectl/routectld.sock"}${3:-},
  "service": $2}}
CONF
}
# expect_bad NAME PATTERN...: exit 1 and every pattern found in the output.
expect_bad() {
	local name=$1 out rc=0
	shift
	out=$("$ROUTECTLD" -n -c "$D/$name.json" 2>&1) || rc=$?
	if [[ $rc -eq 0 ]]; then not_ok "$name: accepted"; return; fi
	for p in "$@"; do
		if ! grep -qF -- "$p" <<<"$out"; then
			not_ok "$name: message lacks '$p': $out"
			return
		fi
	done
	ok "$name: refused with: $(head -c 200 <<<"$out" | tr '\n' ' ')"
}

conf good '[{"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "ipv6-prefix": ["2001:db8:1::/48"]}]'
check "good config accepted" "$ROUTECTLD" -n -c "$D/good.json"

conf bad-prefix '[{"name": "web", "ipv4-prefix": ["192.0.2.300/24"]}]'
expect_bad bad-prefix "ipv4-prefix" "192.0.2.300/24"
conf host-bits '[{"name": "web", "ipv4-prefix": ["192.0.2.1/24"]}]'
expect_bad host-bits "192.0.2.1/24" "host bits"
conf dup-service '[{"name": "web", "ipv4-prefix": ["192.0.2.0/24"]}, {"name": "web", "ipv4-prefix": ["198.51.100.0/24"]}]'
expect_bad dup-service "web"
conf shared-prefix '[{"name": "web", "ipv4-prefix": ["192.0.2.0/24"]}, {"name": "dns", "ipv4-prefix": ["192.0.2.0/24"]}]'
expect_bad shared-prefix "192.0.2.0/24" "web" "dns"
conf unknown-key '[{"name": "web", "ipv4-prefix": ["192.0.2.0/24"], "colour": "red"}]'
expect_bad unknown-key "colour"
conf two-errors '[{"name": "web", "ipv4-prefix": ["192.0.2.1/24"]}, {"name": "dns", "ipv6-prefix": ["2001:db8::/200"]}]'
expect_bad two-errors "192.0.2.1/24" "2001:db8::/200"
printf '{"routectl-config:routectld": {"site": "ash",' >"$D/truncated.json"
expect_bad truncated "truncated.json"
rc=0; "$ROUTECTLD" -n -c "$D/does-not-exist.json" >"$D/out" 2>&1 || rc=$?
check "missing file refused" test "$rc" != 0
check "missing file named" grep -q "does-not-exist.json" "$D/out"
rc=0; "$ROUTECTLD" -n --bogus >/dev/null 2>&1 || rc=$?
check "unknown option is a usage error (exit 2)" test "$rc" = 2

it_summary
