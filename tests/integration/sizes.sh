#!/usr/bin/env bash
# Sizes routectld supports (README, "Configuration"): a site of 100,000
# prefixes is accepted by `routectld -n` (config, policy, template and a
# render of the include); one prefix over the limit of 250,000 and a config file over
# 64 MiB are refused with a message that names the limit.
# usage: sizes.sh ROUTECTLD ROUTECTL PORT_BASE
set -euo pipefail
. "$(dirname "$0")/lib.sh"
ROUTECTLD=$1
it_init
D=$IT_DIR
ms() { date +%s%3N; }

# gen N FILE: a config whose services have N prefixes in all: dns 2, web the
# rest, half IPv4 (10.0.0.0/8, then 11.0.0.0/8) and half IPv6.
gen() {
	python3 - "$1" "$2" "$D" <<'PY'
import json, sys
n, out, d = int(sys.argv[1]), sys.argv[2], sys.argv[3]
v4, v6 = [], []
for i in range(n - 2):
    k = i // 2
    if i % 2 == 0:
        net = 10 + k // 65536
        v4.append("%d.%d.%d.0/24" % (net, (k // 256) % 256, k % 256))
    else:
        hi, lo = 0x100 + k // 65536, k % 65536
        v6.append("2001:db8:%x:%x::/64" % (hi, lo) if lo else "2001:db8:%x::/64" % hi)
json.dump({"routectl-config:routectld": {
    "site": "ash", "local-as": 65001,
    "bird": {"control-socket": d + "/bird.ctl", "include": d + "/routectl.conf"},
    "state-dir": d + "/state", "console": {"socket": d + "/routectld.sock"},
    "service": [
        {"name": "dns", "ipv4-prefix": ["198.51.100.0/24"], "ipv6-prefix": ["2001:db8:2::/48"]},
        {"name": "web", "ipv4-prefix": v4, "ipv6-prefix": v6}]}}, open(out, "w"))
PY
}

gen 100000 "$D/100k.json"
t0=$(ms)
out=$("$ROUTECTLD" -n -c "$D/100k.json" 2>&1) || true
echo "# routectld -n with 100,000 prefixes: $(($(ms) - t0)) ms ($(stat -c %s "$D/100k.json") bytes)"
check "routectld -n accepts a site of 100,000 prefixes" grep -q "OK (site ash, 2 services, 100000 prefixes)" <<<"$out"

gen 250001 "$D/over.json"
rc=0; out=$("$ROUTECTLD" -n -c "$D/over.json" 2>&1) || rc=$?
check "a site of 250,001 prefixes is refused" test "$rc" != 0
check "the refusal names the count and the limit" \
	grep -q "the services list 250001 prefixes in all; a site can have at most 250000" <<<"$out"

# 64 MiB and one byte: refused when read, before any parsing.
{ head -c $((64 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' '; } >"$D/huge.json"
rc=0; out=$("$ROUTECTLD" -n -c "$D/huge.json" 2>&1) || rc=$?
check "a config file over 64 MiB is refused" test "$rc" != 0
check "the refusal names the file and the size" grep -q "huge.json: larger than 67108864 bytes" <<<"$out"
rm -f "$D/huge.json"

it_summary
