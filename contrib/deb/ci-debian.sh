#!/bin/bash
# The Debian packages, end to end, as .ci/run's last step (root, Debian 12):
# builds agentbus, libagentbus0 and libagentbus-dev from debian/ in a copy
# of the tree (dpkg-buildpackage -us -uc -b, tests left to the rest of CI),
# runs lintian (no errors allowed; warnings are printed), installs the
# packages with apt-get, checks the installed configuration with
# `agentbusd --check-config`, starts the installed agentbusd with the
# unit's own ExecStart line as an unprivileged user in the unit's
# directories, does a HELLO/WELCOME round trip against it, stops it
# (SIGTERM, exit 0) and purges the packages.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pid=
user=agentbus-ci
cleanup () {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    id -u "$user" >/dev/null 2>&1 && userdel "$user"
    rm -rf "$work" /run/agentbus /var/lib/agentbus
}
trap cleanup EXIT
say () { echo "ci-debian: $*"; }

version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
tree=$work/agentbus-${version%-*}
mkdir -p "$tree"
# tracked and untracked-but-not-ignored files: the tree as committed plus
# what is being worked on, without build outputs
(cd "$src" && git ls-files -z --cached --others --exclude-standard |
    xargs -0 cp --parents -t "$tree")

say "dpkg-buildpackage -us -uc -b"
(cd "$tree" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
    dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 ||
    { tail -n 60 "$work/build.log"; exit 1; }
ls "$work"/*.deb

say "lintian (errors fail; warnings listed)"
lintian --fail-on error "$work"/*.changes || exit 1

say "apt-get install the packages"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "$work"/agentbus_*.deb "$work"/libagentbus0_*.deb \
    "$work"/libagentbus-dev_*.deb >"$work/apt.log" 2>&1 ||
    { tail -n 30 "$work/apt.log"; exit 1; }

# postinst enabled the unit (started it too, where systemd runs)
[ -L /etc/systemd/system/multi-user.target.wants/agentbusd.service ]

say "installed agentbusd --check-config on /etc/agentbus"
agentbusd --check-config --config /etc/agentbus/agentbusd.yaml
agentbusd --check-config   # the default: /etc/agentbus/agentbusd.yaml
agentbus check /etc/agentbus/topology.yaml
man -w agentbusd agentbus agentbusd.yaml agentbus-topology agentbus-schema >/dev/null
man -w 3 agentbus >/dev/null
pkg-config --exists agentbus

say "the installed daemon, started as the unit starts it"
unit=/lib/systemd/system/agentbusd.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ]
# what systemd does for the unit: a user of its own, the runtime and
# state directories (owned by it), JOURNAL_STREAM-free stderr
useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
install -d -o "$user" -m 0750 /run/agentbus
install -d -o "$user" -m 0700 /var/lib/agentbus
say "as $user: $exec_start"
# shellcheck disable=SC2086 # the unit's command line, split as systemd does
setpriv --reuid="$user" --regid="$user" --clear-groups \
    $exec_start 2>"$work/agentbusd.log" &
pid=$!
/usr/bin/python3 - <<'PY' || { cat "$work/agentbusd.log"; exit 1; }
import json, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.DEALER)
s.setsockopt(zmq.RCVTIMEO, 60000)   # generous: CI machines are loaded
s.setsockopt(zmq.LINGER, 0)
s.connect("tcp://127.0.0.1:7780")
s.send_multipart([b"ABP/1", b"HELLO", json.dumps({"agent": "retriever"}).encode()])
frames = s.recv_multipart()
assert frames[1] == b"WELCOME", frames
welcome = json.loads(frames[2])
assert welcome["agent"] == "retriever" and welcome["topology"].startswith("rag-demo@"), welcome
s.send_multipart([b"ABP/1", b"BYE", b"{}"])
print("ci-debian: HELLO -> WELCOME", welcome["topology"])
PY
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || { say "agentbusd exited $status on SIGTERM"; cat "$work/agentbusd.log"; exit 1; }
say "agentbusd stopped with exit 0"

say "apt-get purge"
apt-get purge -y -q agentbus libagentbus0 libagentbus-dev >"$work/apt.log" 2>&1 ||
    { tail -n 30 "$work/apt.log"; exit 1; }
[ ! -e /usr/bin/agentbusd ] && [ ! -e /etc/agentbus/agentbusd.yaml ] &&
    [ ! -e /etc/systemd/system/multi-user.target.wants/agentbusd.service ]
say "ok"
