#!/bin/sh
# unit - the systemd unit this build writes (contrib/systemd/agentbusd.service)
# passes `systemd-analyze verify` without a message, is rated 2.5 or lower
# by `systemd-analyze security --offline=yes`, and has the directories
# operations.md asks for. ExecStart is pointed at the built agentbusd and
# the man pages of Documentation= at man/, since nothing is installed.

set -u
srcdir=$(cd "${AB_SRCDIR:-.}" && pwd)
builddir=$(cd "${AB_BUILDDIR:-.}" && pwd)
unit=$builddir/contrib/systemd/agentbusd.service
limit=2.5
fail=0
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
bad () { echo "FAIL: $*"; fail=1; }

command -v systemd-analyze >/dev/null ||
    { echo "ERROR: systemd-analyze is missing (contrib/install-deps.sh installs systemd)"; exit 99; }
[ -f "$unit" ] || { echo "ERROR: $unit is not built"; exit 99; }

for line in RuntimeDirectory=agentbus StateDirectory=agentbus \
    ConfigurationDirectory=agentbus DynamicUser=yes; do
    grep -qx "$line" "$unit" && echo "ok: $line" || bad "no $line in the unit"
done
grep -q '@[a-zA-Z_]*@' "$unit" && bad "unsubstituted @...@ in the unit"
if grep -q '^#define HAVE_LIBSYSTEMD 1' "$builddir/config.h"; then
    type=notify
else
    type=exec
fi
grep -qx "Type=$type" "$unit" && echo "ok: Type=$type" || bad "not Type=$type"

# the unit as installed, but with this build's agentbusd and man pages
bindir=$(sed -n 's|^ExecStart=\(.*\)/agentbusd .*|\1|p' "$unit")
[ -n "$bindir" ] || bad "no ExecStart=.../agentbusd"
sed "s|^ExecStart=$bindir/agentbusd|ExecStart=$builddir/agentbusd|" "$unit" \
    >"$tmp/agentbusd.service"
for page in "$srcdir"/man/*.[0-9]; do
    mkdir -p "$tmp/man/man${page##*.}"
    ln -s "$page" "$tmp/man/man${page##*.}/"
done

MANPATH=$tmp/man systemd-analyze verify "$tmp/agentbusd.service" >"$tmp/out" 2>&1
status=$?
if [ $status -ne 0 ] || [ -s "$tmp/out" ]; then
    bad "systemd-analyze verify: exit $status"; sed 's/^/  /' "$tmp/out"
else
    echo "ok: systemd-analyze verify is clean"
fi

systemd-analyze security --offline=yes "$tmp/agentbusd.service" >"$tmp/out" 2>&1
level=$(sed -n 's/.*Overall exposure level for agentbusd.service: \([0-9.]*\).*/\1/p' "$tmp/out")
if [ -z "$level" ]; then
    bad "systemd-analyze security gave no level:"; tail -n 5 "$tmp/out"
elif awk -v l="$level" -v m="$limit" 'BEGIN { exit !(l > m) }'; then
    bad "systemd-analyze security: $level, above $limit:"
    grep '✗' "$tmp/out" | sed 's/^/  /'
else
    echo "ok: systemd-analyze security: $level (at most $limit)"
fi

exit $fail
