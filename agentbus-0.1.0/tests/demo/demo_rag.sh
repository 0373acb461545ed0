#!/bin/sh
# demo_rag - contrib/examples/rag_demo.py against a fresh agentbusd on
# conf/topology.yaml: asserts on the summary the demo computed (what the
# broker accepted and rejected, and why; what each consumer received).
set -u
srcdir=${AB_SRCDIR:-.}
builddir=${AB_BUILDDIR:-.}
. "$srcdir/contrib/demo/demo-lib.sh"
ab_demo_test rag_demo.py \
    '^retriever sent 20 retrieval\.context messages: 12 valid \(6 v1, 6 v2\), 8 malformed$' \
    '^broker accepted 12, rejected 8:$' \
    '^  invalid/maximum +1$' \
    '^  invalid/required +1$' \
    '^  invalid/additionalProperties +1$' \
    '^  invalid/type +1$' \
    '^  invalid/tensor +2$' \
    '^  malformed +1$' \
    '^reasoner received 12 \(6 v1, 6 v2\)$' \
    '^auditor received 6 \(6 v2\)$' \
    '^  ok   no rejected message reached any consumer$' \
    '^rag: PASS \(9 of 9 checks held\)$'
