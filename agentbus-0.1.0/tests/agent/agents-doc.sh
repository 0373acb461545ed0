#!/bin/sh
# The example printed in docs/agents-c.md is contrib/examples/hello-agent.c,
# byte for byte, so the documented program is the one make check compiles.
set -eu
doc="$AB_SRCDIR/docs/agents-c.md"
example="$AB_SRCDIR/contrib/examples/hello-agent.c"
sed -n '/^<!-- begin contrib\/examples\/hello-agent.c -->$/,/^<!-- end/p' "$doc" \
    | sed '1,2d;$d' | sed '$d' | diff -u "$example" -
