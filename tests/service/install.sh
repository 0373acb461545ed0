#!/bin/sh
# install - `make install` into a fresh staging root (DESTDIR) gives
# working programs: the installed agentbusd and agentbus run without the
# build tree (no libtool wrapper, no RPATH into it, every library found),
# the installed agentbusd --check-config accepts the installed example
# configuration, `agentbus check` its topology, and the man pages, the
# unit, the header and agentbus.pc are where the layout says.

set -u
builddir=$(cd "${AB_BUILDDIR:-.}" && pwd)
fail=0
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
bad () { echo "FAIL: $*"; fail=1; }

# the layout configure chose, as make expands it
cat >"$tmp/layout.mk" <<'MAKE'
layout:
	@echo prefix='$(prefix)' bindir='$(bindir)' libdir='$(libdir)'
	@echo sysconfdir='$(sysconfdir)' includedir='$(includedir)' mandir='$(mandir)'
MAKE
layout=$(cd "$builddir" && env -u MAKEFLAGS -u MFLAGS make -s -f Makefile -f "$tmp/layout.mk" layout) ||
    { echo "ERROR: cannot read the layout from the Makefile"; exit 99; }
eval "$layout"
root=$tmp/root
(cd "$builddir" && env -u MAKEFLAGS -u MFLAGS make -s install DESTDIR="$root") \
    >"$tmp/install.log" 2>&1 ||
    { echo "FAIL: make install:"; tail -n 30 "$tmp/install.log"; exit 1; }
echo "ok: make install DESTDIR=$root"

for file in "$bindir/agentbusd" "$bindir/agentbus" "$libdir/libagentbus.so.0" \
    "$includedir/agentbus.h" "$libdir/pkgconfig/agentbus.pc" \
    "$sysconfdir/agentbus/agentbusd.yaml" "$sysconfdir/agentbus/topology.yaml" \
    "$mandir/man1/agentbus.1" "$mandir/man3/agentbus.3" \
    "$mandir/man5/agentbusd.yaml.5" "$mandir/man5/agentbus-topology.5" \
    "$mandir/man5/agentbus-schema.5" "$mandir/man8/agentbusd.8" \
    "$prefix/lib/systemd/system/agentbusd.service"; do
    [ -e "$root$file" ] && echo "ok: installed $file" || bad "$file is not installed"
done

for program in agentbusd agentbus; do
    binary=$root$bindir/$program
    file "$binary" | grep -q ELF || bad "$program is not an ELF binary (a libtool wrapper?)"
    readelf -d "$binary" | grep -E 'R(UN)?PATH' | grep -q "$builddir" &&
        bad "$program has an RPATH into the build tree"
    ldd "$binary" | grep 'not found' && bad "$program: a library is not found"
done

# run them with nothing of the build tree around
run () { env -i PATH=/usr/bin:/bin "$@"; }
run "$root$bindir/agentbusd" --version >"$tmp/out" 2>&1 &&
    grep -q '^agentbusd [0-9]' "$tmp/out" && echo "ok: agentbusd --version" ||
    { bad "installed agentbusd --version"; cat "$tmp/out"; }
run "$root$bindir/agentbus" --version >"$tmp/out" 2>&1 &&
    grep -q '^agentbus [0-9]' "$tmp/out" && echo "ok: agentbus --version" ||
    { bad "installed agentbus --version"; cat "$tmp/out"; }
conf=$root$sysconfdir/agentbus
run "$root$bindir/agentbusd" --check-config --config "$conf/agentbusd.yaml" >"$tmp/out" 2>&1 &&
    echo "ok: installed agentbusd --check-config on the installed configuration" ||
    { bad "agentbusd --check-config $conf/agentbusd.yaml"; cat "$tmp/out"; }
run "$root$bindir/agentbus" check "$conf/topology.yaml" >"$tmp/out" 2>&1 &&
    echo "ok: installed agentbus check on the installed topology" ||
    { bad "agentbus check $conf/topology.yaml"; cat "$tmp/out"; }
MANWIDTH=80 man -l "$root$mandir/man8/agentbusd.8" 2>&1 | grep -q '^AGENTBUSD(8)' ||
    bad "the installed agentbusd(8) does not render"

# the unit names the installed paths
unit=$root$prefix/lib/systemd/system/agentbusd.service
grep -q "^ExecStart=$bindir/agentbusd --config $sysconfdir/agentbus/agentbusd.yaml" "$unit" &&
    echo "ok: the unit starts $bindir/agentbusd on $sysconfdir/agentbus" ||
    bad "the unit's ExecStart: $(grep ^ExecStart "$unit")"

exit $fail
