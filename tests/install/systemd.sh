#!/usr/bin/env bash
# systemd.sh UNIT SYSUSERS TMPFILES: the unit passes `systemd-analyze verify`
# without a single message (systemd only warns, exit 0, about unknown keys
# or values), says what the install promises (Type=notify, the watchdog, its
# own user, the hardening), and the sysusers.d and tmpfiles.d snippets do
# what they say in a scratch root. Each check is also run on a broken copy,
# which must fail: a check that cannot fail proves nothing.
# Skips (77) without systemd's tools.
set -euo pipefail
unit=$(realpath "$1") sysusers=$(realpath "$2") tmpfiles=$(realpath "$3")
for t in systemd-analyze systemd-sysusers systemd-tmpfiles; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not found (Debian package systemd)"; exit 77; }
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/routectl-systemd.XXXXXX")
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $*"; }

# verify FILE: 0 when systemd-analyze verify exits 0 and prints nothing. The
# documentation lines name man pages that are not installed here (--man=no).
verify() {
	local out rc=0
	out=$(systemd-analyze verify --man=no "$1" 2>&1) || rc=$?
	[[ -n $out ]] && printf '    %s\n' "$out"
	((rc == 0)) && [[ -z $out ]]
}

if verify "$unit"; then ok "systemd-analyze verify routectld.service"; else not_ok "systemd-analyze verify routectld.service"; fi
mkdir "$dir/broken"
for broken in 's/^Type=notify$/Type=notifyy/' 's/^WatchdogSec=/WatchdogSecs=/' \
	's|^ExecStart=.*/routectld |ExecStart=/nonexistent/routectld |'; do
	sed "$broken" "$unit" >"$dir/broken/routectld.service"
	if cmp -s "$unit" "$dir/broken/routectld.service"; then
		not_ok "the unit has no line for '$broken' to break"
	elif verify "$dir/broken/routectld.service" >/dev/null; then
		not_ok "verify accepts a unit broken with '$broken'"
	else
		ok "verify refuses a unit broken with '$broken'"
	fi
done

# The promises of the unit, as systemd reads them (the last value wins).
want() {
	local key=$1 value=$2 got
	got=$(sed -n "s/^$key=//p" "$unit" | tail -n 1)
	if [[ $got == "$value" ]]; then ok "$key=$value"; else not_ok "$key is '$got', not '$value'"; fi
}
want Type notify
want WatchdogSec 30s
want Restart on-failure
want User routectl
want Group routectl
want SupplementaryGroups bird
want RuntimeDirectory routectl
want StateDirectory routectl
want ConfigurationDirectory routectl
want NoNewPrivileges yes
want ProtectSystem strict
want ReadWritePaths /etc/bird
want ProtectHome yes
want PrivateTmp yes
want LockPersonality yes
want RestrictAddressFamilies "AF_UNIX AF_INET AF_INET6 AF_NETLINK"
want SystemCallFilter @system-service
if grep -q '^ExecReload=/bin/kill -HUP \$MAINPID$' "$unit"; then ok "ExecReload sends SIGHUP"; else not_ok "no ExecReload=/bin/kill -HUP \$MAINPID"; fi

# sysusers.d: the user and group routectl, in a scratch root.
mkdir -p "$dir/root/etc"
: >"$dir/root/etc/passwd"
: >"$dir/root/etc/group"
if out=$(systemd-sysusers --root="$dir/root" --dry-run "$sysusers" 2>&1) &&
	grep -q "Creating group 'routectl'" <<<"$out" && grep -q "Creating user 'routectl'" <<<"$out"; then
	ok "sysusers.d creates the user and group routectl"
else
	not_ok "sysusers.d: $out"
fi
sed 's/^u routectl /u routectl bad:/' "$sysusers" >"$dir/bad.sysusers"
if out=$(systemd-sysusers --root="$dir/root" --dry-run "$dir/bad.sysusers" 2>&1) &&
	grep -q "Creating user 'routectl'" <<<"$out"; then
	not_ok "systemd-sysusers accepts a broken sysusers.d line"
else
	ok "systemd-sysusers refuses a broken sysusers.d line"
fi

# tmpfiles.d: the directories with their modes and the ACL on /etc/bird. The
# scratch root has no user routectl (nor may a test add one to this host):
# the copy names root instead; what is checked is the rest of each line.
sed -E 's/ routectl( |$)/ root\1/g; s/ routectl( |$)/ root\1/g; s/u:routectl:/u:root:/' \
	"$tmpfiles" >"$dir/as-root.tmpfiles"
mkdir -p "$dir/troot/etc/bird"
if out=$(systemd-tmpfiles --root="$dir/troot" --create "$dir/as-root.tmpfiles" 2>&1) && [[ -z $out ]]; then
	ok "systemd-tmpfiles --create runs without a message"
else
	not_ok "systemd-tmpfiles --create: $out"
fi
for d in etc/routectl run/routectl var/lib/routectl; do
	m=$(stat -c %a "$dir/troot/$d" 2>/dev/null || echo missing)
	if [[ $m == 750 ]]; then ok "tmpfiles.d: /$d 0750"; else not_ok "tmpfiles.d: /$d is $m, not 750"; fi
done
if python3 -c 'import os,sys; sys.exit("system.posix_acl_access" not in os.listxattr(sys.argv[1]))' \
	"$dir/troot/etc/bird" 2>/dev/null; then
	ok "tmpfiles.d: /etc/bird has an ACL"
else
	echo "    (the file system of $dir has no POSIX ACLs: not checked)"
fi
sed 's/0750/07x0/' "$tmpfiles" >"$dir/bad.tmpfiles"
if systemd-tmpfiles --root="$dir/troot" --create "$dir/bad.tmpfiles" >/dev/null 2>&1; then
	not_ok "systemd-tmpfiles accepts a broken mode"
else
	ok "systemd-tmpfiles refuses a broken mode"
fi

echo "install-systemd: $pass passed, $fail failed"
((fail == 0))
