#!/bin/sh
# demo_train - contrib/examples/train_demo.py, twice against one fresh
# agentbusd on conf/topology.yaml (the second run proves seq numbers stay
# increasing): asserts on the summary the demo computed.
set -u
srcdir=${AB_SRCDIR:-.}
builddir=${AB_BUILDDIR:-.}
. "$srcdir/contrib/demo/demo-lib.sh"
AB_DEMO_RUNS=2
ab_demo_test train_demo.py \
    '^trainers sent 80 gradients of 4096 float32 ' \
    '^param-server applied 80 updates: model versions 1\.\.80, ' \
    '^  trainer-0 +20 +yes +2 +2 ' \
    '^  trainer-1 +20 +yes +2 +2 ' \
    '^  trainer-2 +20 +yes +2 +2 ' \
    '^  trainer-3 +20 +yes +2 +2 ' \
    '^re-sent steps: 4 duplicate; dead letters: 0$' \
    '^  ok   no fast trainer waited for trainer-3' \
    '^train: PASS \(9 of 9 checks held\)$'
