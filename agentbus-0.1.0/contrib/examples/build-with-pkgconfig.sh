#!/bin/sh
# Checks that a C agent builds with nothing but the installed files and
# `pkg-config --cflags --libs agentbus`, as a user's would:
#   1. make install DESTDIR=$tmp  (into a scratch root, not the system);
#   2. compile contrib/examples/hello-agent.c with pkg-config's flags only
#      (PKG_CONFIG_SYSROOT_DIR maps the .pc file's paths into $tmp);
#   3. run it without arguments: it must start and print its usage (exit 2);
#   4. run the installed agentbusd on the example topology and the built
#      agent in both roles against it: the greetings must arrive.
# Usage: build-with-pkgconfig.sh [BUILDDIR]   (run after `make`)
set -eu
builddir=$(cd "${1:-.}" && pwd)
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -C "$builddir" -s install DESTDIR="$tmp" >/dev/null 2>&1
pcdir=$(find "$tmp" -name agentbus.pc -printf '%h\n' | head -n 1)
[ -n "$pcdir" ] || { echo "agentbus.pc was not installed" >&2; exit 1; }
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$tmp"
flags=$(pkg-config --cflags --libs agentbus)
echo "pkg-config --cflags --libs agentbus: $flags"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$tmp/hello-agent" \
    "$srcdir/contrib/examples/hello-agent.c" $flags
libdir=$(dirname "$pcdir")
status=0
LD_LIBRARY_PATH="$libdir" "$tmp/hello-agent" 2>"$tmp/usage" || status=$?
grep -q "^usage:" "$tmp/usage" || cat "$tmp/usage" >&2
[ "$status" = 2 ] || { echo "hello-agent did not run (exit $status)" >&2; exit 1; }
broker=$(find "$tmp" -type f -name agentbusd -perm -u+x | head -n 1)
[ -n "$broker" ] || { echo "agentbusd was not installed" >&2; exit 1; }
endpoint="ipc://$tmp/agentbus.sock"
LD_LIBRARY_PATH="$libdir" "$broker" --endpoint "$endpoint" \
    --topology "$srcdir/contrib/examples/hello/topology.yaml" \
    >"$tmp/broker.log" 2>&1 &
broker_pid=$!
trap 'kill $broker_pid 2>/dev/null; wait $broker_pid 2>/dev/null; rm -rf "$tmp"' EXIT
LD_LIBRARY_PATH="$libdir" timeout 20 "$tmp/hello-agent" listen "$endpoint" 2 \
    >"$tmp/listen.out" 2>&1 &
listener_pid=$!
live=0
LD_LIBRARY_PATH="$libdir" timeout 20 "$tmp/hello-agent" greet "$endpoint" 2 \
    >"$tmp/greet.out" 2>&1 || live=1
wait "$listener_pid" || live=1
received=$(grep -c '"hello, listener" from greeter' "$tmp/listen.out" || true)
if [ "$live" != 0 ] || [ "$received" != 2 ]; then
    cat "$tmp/greet.out" "$tmp/listen.out" "$tmp/broker.log" >&2
    echo "the pkg-config-built agent did not talk to the installed broker" >&2
    exit 1
fi
echo "ok: a C agent built with pkg-config alone talked to the installed agentbusd ($received greetings)"
