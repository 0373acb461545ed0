#!/bin/sh
# Checks that a C agent builds with nothing but the installed files and
# `pkg-config --cflags --libs agentbus`, as a user's would:
#   1. make install DESTDIR=$tmp  (into a scratch root, not the system);
#   2. compile contrib/examples/hello-agent.c with pkg-config's flags only
#      (PKG_CONFIG_SYSROOT_DIR maps the .pc file's paths into $tmp);
#   3. run it without arguments: it must start and print its usage (exit 2).
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
echo "ok: a C agent builds and links with pkg-config alone"
