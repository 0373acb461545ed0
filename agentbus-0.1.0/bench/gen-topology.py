#!/usr/bin/env python3
"""Writes a large, acyclic topology for timing `agentbus check`.

usage: gen-topology.py OUT.yaml [AGENTS [EDGES]]   (default 1000 10000)

Agents are a0..aN-1; each edge goes from a lower to a higher index, so the
graph has no cycle. Edges use the example schemas in conf/schemas (the
output refers to them by absolute path) and cycle through the options.
"""
import os
import random
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    agents = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    edges = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    here = os.path.dirname(os.path.abspath(__file__))
    schemas = os.path.join(os.path.dirname(here), "conf", "schemas")
    types = ["retrieval.context", "llm.prompt", "train.gradient"]
    rng = random.Random(42)
    lines = ["topology: big", "schemas: %s" % schemas,
             "defaults: {ack_timeout_ms: 5000}", "agents:"]
    lines += ["  a%d: {description: agent %d}" % (i, i) for i in range(agents)]
    lines.append("edges:")
    seen = set()
    while len(seen) < edges:
        a = rng.randrange(agents - 1)
        b = rng.randrange(a + 1, agents)
        t = types[len(seen) % len(types)]
        if (a, b, t) in seen:
            continue
        seen.add((a, b, t))
        extra = ", max_attempts: %d" % (1 + len(seen) % 9) if len(seen) % 2 else ""
        if t == "retrieval.context" and len(seen) % 3 == 0:
            extra += ", versions: [2]"
        lines.append("  - {from: a%d, to: a%d, type: %s%s}" % (a, b, t, extra))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
