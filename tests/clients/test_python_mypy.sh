#!/bin/sh
# test_python_mypy.sh - `mypy --strict` passes on the Python client
# (clients/python/agentbus) and on the examples written on it.  Exits 77
# (skip) only when mypy is not installed (Debian's `mypy` package).
srcdir=${AB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v mypy >/dev/null 2>&1; then
    echo "SKIP: mypy is not installed (apt-get install mypy)"
    exit 77
fi
cache=$(mktemp -d) || exit 99
trap 'rm -rf "$cache"' EXIT
status=0
mypy --strict --cache-dir "$cache" "$srcdir/clients/python/agentbus" ||
    status=1
for example in "$srcdir"/contrib/examples/*_agent.py; do
    [ -e "$example" ] || continue
    MYPYPATH="$srcdir/clients/python" mypy --strict --cache-dir "$cache" \
        "$example" || status=1
done
exit $status
