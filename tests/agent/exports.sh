#!/bin/sh
# exports - libagentbus.so exports its public API and nothing else, and
# needs none of the broker's libraries (czmq, libyaml, LMDB, PCRE2).
#
# The public API is every function declared in include/agentbus.h and
# include/agentbus/agent.h; src/agent/libagentbus.sym must list exactly
# those, since the linker exports only what it lists.
set -e
srcdir=${AB_SRCDIR:-.}
builddir=${AB_BUILDDIR:-.}
tmp=${TMPDIR:-/tmp}/ab-exports.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

# declarations start at the beginning of a line; comments never do
grep -hoE '^[A-Za-z].*[ *](ab_[a-z0-9_]+) \(' \
    "$srcdir/include/agentbus.h" "$srcdir/include/agentbus/agent.h" |
    grep -v typedef | grep -oE 'ab_[a-z0-9_]+ \($' | sed 's/ ($//' |
    LC_ALL=C sort -u >"$tmp/declared"
LC_ALL=C sort -u "$srcdir/src/agent/libagentbus.sym" >"$tmp/listed"
if ! cmp -s "$tmp/declared" "$tmp/listed"; then
    echo "src/agent/libagentbus.sym differs from the public headers" \
        "(< declared, > listed):"
    diff "$tmp/declared" "$tmp/listed" || true
    exit 1
fi
test -s "$tmp/declared" || { echo "no public function found"; exit 1; }

lib="$builddir/.libs/libagentbus.so"
if ! test -f "$lib" || ! command -v nm >/dev/null ||
    ! command -v readelf >/dev/null; then
    echo "SKIP: no shared libagentbus, or no nm/readelf"
    exit 77
fi
nm -D --defined-only "$lib" | awk '$2 ~ /^[A-Za-z]$/ { print $3 }' |
    sed 's/@.*//' | grep -v '^_' | LC_ALL=C sort -u >"$tmp/exported" || true
if ! cmp -s "$tmp/declared" "$tmp/exported"; then
    echo "$lib exports other than its public API (< declared, > exported):"
    diff "$tmp/declared" "$tmp/exported" || true
    exit 1
fi
readelf -d "$lib" | grep NEEDED >"$tmp/needed"
if grep -E 'libczmq|libyaml|liblmdb|libpcre2' "$tmp/needed"; then
    echo "$lib needs a library of the broker's"
    exit 1
fi
echo "$(wc -l <"$tmp/declared") functions exported; needs:" \
    $(sed 's/.*\[\(.*\)\]/\1/' "$tmp/needed")
