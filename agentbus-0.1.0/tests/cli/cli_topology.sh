#!/bin/sh
# cli_topology - `agentbus check` and `agentbus graph` on the example
# topology (conf/) and on a bad one: exit statuses and output shapes.
# Skips (77) the SVG part only when Graphviz's `dot` is missing.

set -u
srcdir=${AB_SRCDIR:-.}
bin=$(cd "${AB_BUILDDIR:-.}" && pwd)/agentbus
fail=0
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT

check () {  # check WHAT EXPECTED-STATUS ACTUAL-STATUS
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1: exit $3, expected $2"
        fail=1
    else
        echo "ok: $1"
    fi
}

cd "$srcdir" || exit 99

"$bin" check conf/topology.yaml >"$tmp/out" 2>"$tmp/err"
check "check conf/topology.yaml" 0 $?
grep -q '^rag-demo@[0-9a-f]\{12\}: 12 agents, 8 edges, 4 types, 5 schema versions$' "$tmp/out" ||
    { echo "FAIL: summary: $(cat "$tmp/out")"; fail=1; }
[ -s "$tmp/err" ] && { echo "FAIL: stderr not empty"; fail=1; }

(cd tests/fixtures/topology && "$bin" check bad/cycle.yaml) >"$tmp/out" 2>"$tmp/err"
check "check bad/cycle.yaml" 1 $?
cmp -s "$tmp/err" tests/fixtures/topology/bad/cycle.expected ||
    { echo "FAIL: bad/cycle.yaml messages"; cat "$tmp/err"; fail=1; }
[ -s "$tmp/out" ] && { echo "FAIL: stdout not empty"; fail=1; }

"$bin" check >/dev/null 2>&1
check "check without a file" 2 $?
"$bin" check a b >/dev/null 2>&1
check "check with two files" 2 $?
"$bin" graph --svg >/dev/null 2>&1
check "graph --svg without a file" 2 $?

"$bin" graph conf/topology.yaml >"$tmp/graph.dot"
check "graph conf/topology.yaml" 0 $?
head -1 "$tmp/graph.dot" | grep -q '^digraph "rag-demo" {$' ||
    { echo "FAIL: DOT header"; fail=1; }

if ! command -v dot >/dev/null 2>&1; then
    echo "skip: Graphviz 'dot' is not installed"
    [ $fail = 0 ] && exit 77
    exit 1
fi
dot -Tsvg "$tmp/graph.dot" >"$tmp/pipe.svg"
check "graph | dot -Tsvg" 0 $?
grep -q '<svg' "$tmp/pipe.svg" || { echo "FAIL: no SVG from the pipe"; fail=1; }
"$bin" graph conf/topology.yaml --svg "$tmp/flag.svg"
check "graph --svg" 0 $?
grep -q '<svg' "$tmp/flag.svg" || { echo "FAIL: no SVG from --svg"; fail=1; }

exit $fail
