#!/bin/sh
# The main job of the README's Quick start (`make demo`): starts agentbusd
# on conf/'s example topology, runs the three demos of contrib/examples/
# against it (retrieval -> reasoning, training -> parameter server,
# streamed inference with a replica killed) and, when node and
# clients/js/node_modules are there, the RAG gate agent in JavaScript
# (contrib/examples/rag_gate_agent.mjs); stops the broker with SIGTERM and
# prints what each demo computed and which languages' agents took part.
# Exits non-zero if agentbusd is not built, a demo's checks fail or the
# broker does not stop cleanly.
# Usage: run-demo.sh BUILDDIR SRCDIR
set -u
builddir=${1:-.}
srcdir=${2:-.}
. "$srcdir/contrib/demo/demo-lib.sh"

if [ ! -x "$builddir/agentbusd" ]; then
    echo "agentbus demo: $builddir/agentbusd is not built; run make" >&2
    exit 1
fi
ab_find_python || exit 1
tmp=$(mktemp -d) || exit 1

topology=$("$builddir/agentbus" check "$srcdir/conf/topology.yaml") || exit 1
echo "agentbus demo on $topology"
ab_start_broker "$tmp/agentbusd.log" || exit 1
echo "agentbusd (pid $broker_pid) answers PING on $endpoint"

passed=0
failed=""
for demo in rag train infer; do
    echo
    ab_run_demo "${demo}_demo.py"
    status=$?
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed="$failed $demo(exit $status)"
    fi
done

total=3
languages="Python"
echo
if command -v node >/dev/null 2>&1 &&
        [ -d "$srcdir/clients/js/node_modules/zeromq" ]; then
    total=4
    languages="$languages, JavaScript"
    echo "rag gate in JavaScript (@agentbus/client, contrib/examples/rag_gate_agent.mjs)"
    timeout 120 node "$srcdir/contrib/examples/rag_gate_agent.mjs" \
        --endpoint "$endpoint" --feed 6
    status=$?
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed="$failed rag-gate-js(exit $status)"
    fi
else
    echo "no node or no clients/js/node_modules (npm ci there): no JavaScript agent"
fi

echo
ab_stop_broker
echo "agentbusd stopped on SIGTERM with exit status $broker_status"
"$python" "$common" counters "$tmp/agentbusd.log"
if [ "$broker_status" -ne 0 ]; then
    echo "agentbusd log (last lines):"
    tail -n 20 "$tmp/agentbusd.log"
fi

verdict="$passed of $total demos passed their checks"
[ -n "$failed" ] && verdict="$verdict (failed:$failed)"
echo "demo summary: $verdict; agents in $languages; broker exit $broker_status"
[ -z "$failed" ] && [ "$broker_status" -eq 0 ]
