#!/usr/bin/env bash
# layout.sh BUILD: `meson install --destdir` puts every piece where a Debian
# host looks for it: the binaries, the unit (whose ExecStart= is the
# installed routectld), the sysusers.d and tmpfiles.d snippets, the man
# pages, the bash completion and the default policy.
set -euo pipefail
build=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/routectl-install.XXXXXX")
trap 'rm -rf "$dir"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $*"; }
not_ok() { fail=$((fail + 1)); echo "not ok - $*"; }

if ! meson install -C "$build" --no-rebuild --quiet --destdir "$dir/root" >"$dir/install.log" 2>&1; then
	cat "$dir/install.log"
	echo "not ok - meson install failed"
	exit 1
fi
prefix=$(meson introspect "$build" --buildoptions |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
root=$dir/root$prefix
(cd "$dir/root" && find . -type f | sort | sed 's/^\./    /')

for f in sbin/routectld bin/routectl; do
	if [[ -x $root/$f ]]; then ok "$prefix/$f"; else not_ok "$prefix/$f is missing"; fi
done
for f in lib/systemd/system/routectld.service lib/sysusers.d/routectl.conf lib/tmpfiles.d/routectl.conf \
	share/man/man1/routectl.1 share/man/man8/routectld.8 share/man/man5/routectl-config.5 \
	share/bash-completion/completions/routectl share/routectl/policies/default.json; do
	if [[ -s $root/$f ]]; then ok "$prefix/$f"; else not_ok "$prefix/$f is missing or empty"; fi
done
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$root/lib/systemd/system/routectld.service")
if [[ $exec_start == "$prefix/sbin/routectld" && -x $dir/root$exec_start ]]; then
	ok "the unit starts the installed routectld ($exec_start)"
else
	not_ok "the unit's ExecStart= is '$exec_start', not the installed $prefix/sbin/routectld"
fi
if cmp -s "$root/share/routectl/policies/default.json" "$(dirname "$0")/../../policies/default.json"; then
	ok "the installed policy is policies/default.json"
else
	not_ok "the installed policy differs from policies/default.json"
fi
if grep -q '^\.TH "routectld" "8"' "$root/share/man/man8/routectld.8"; then
	ok "routectld.8 is a rendered man page"
else
	not_ok "routectld.8 has no .TH line for routectld(8)"
fi
echo "install-layout: $pass passed, $fail failed"
((fail == 0))
