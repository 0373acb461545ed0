#!/bin/sh
# test_js.sh - the JavaScript client (clients/js, @agentbus/client):
# `tsc --noEmit` on its types, then its `node --test` suite against the
# real agentbusd of this build.  Exits 77 (skip) when agentbusd is not
# built, node is missing, or `npm ci` has not been run in clients/js
# (contrib/install-deps.sh runs it).
srcdir=${AB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${AB_BUILDDIR:-$srcdir}
js="$srcdir/clients/js"
if [ ! -x "$builddir/agentbusd" ]; then
    echo "SKIP: $builddir/agentbusd is not built"
    exit 77
fi
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: no node"
    exit 77
fi
if [ ! -d "$js/node_modules/zeromq" ] || [ ! -x "$js/node_modules/.bin/tsc" ]; then
    echo "SKIP: no $js/node_modules (run: cd clients/js && npm ci)"
    exit 77
fi
echo "tsc --noEmit -p $js"
"$js/node_modules/.bin/tsc" --noEmit -p "$js" || exit 1
AB_SRCDIR=$srcdir AB_BUILDDIR=$builddir
export AB_SRCDIR AB_BUILDDIR
exec node --test "$js"/test/*.test.js
