#!/bin/sh
# The main job of the README's Quick start (`make demo`): starts agentbusd
# on conf/'s example topology, runs the three demos of contrib/examples/
# against it (retrieval -> reasoning, training -> parameter server,
# streamed inference with a replica killed), stops the broker with SIGTERM
# and prints what each demo computed.  Exits non-zero if agentbusd is not
# built, a demo's checks fail or the broker does not stop cleanly.
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

echo
ab_stop_broker
echo "agentbusd stopped on SIGTERM with exit status $broker_status"
"$python" "$common" counters "$tmp/agentbusd.log"
if [ "$broker_status" -ne 0 ]; then
    echo "agentbusd log (last lines):"
    tail -n 20 "$tmp/agentbusd.log"
fi

verdict="$passed of 3 demos passed their checks"
[ -n "$failed" ] && verdict="$verdict (failed:$failed)"
echo "demo summary: $verdict; broker exit $broker_status"
[ -z "$failed" ] && [ "$broker_status" -eq 0 ]
