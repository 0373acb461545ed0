#!/bin/sh
# demo_infer - contrib/examples/infer_demo.py against a fresh agentbusd on
# conf/topology.yaml: a replica is SIGKILLed mid-stream and every request
# still completes; asserts on the summary the demo computed.
set -u
srcdir=${AB_SRCDIR:-.}
builddir=${AB_BUILDDIR:-.}
. "$srcdir/contrib/demo/demo-lib.sh"
ab_demo_test infer_demo.py \
    '^replica-1 SIGKILLed at [0-9.]+ s while streaming ' \
    '^completed 24 of 24 requests with the right answer, 0 failed$' \
    '^retried [1-9][0-9]* ' \
    '^latency p50 [0-9]+ ms, p99 [0-9]+ ms' \
    '^  ok   the request it held was retried and finished on another replica$' \
    '^infer: PASS \(6 of 6 checks held\)$'
