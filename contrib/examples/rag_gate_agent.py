#!/usr/bin/env python3
# rag_gate_agent.py - the RAG confidence gate as an agentbus.aio agent
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""The reasoner of conf/topology.yaml as a confidence gate, written on the
``agentbus`` package (asyncio): each ``retrieval.context`` whose best
passage scores at least ``--threshold`` is answered (printed) and acked;
the others are refused with ``NACK requeue:false`` and so dead-lettered
with reason ``rejected``.  The same agent in JavaScript is
``rag_gate_agent.mjs``.

With ``--feed N`` it also plays the retriever: it publishes N retrievals
(every other one below the threshold), gates them, checks that each was
gated as its score says, prints one summary line and exits (0 when the
checks pass).  Without it, it gates until interrupted::

    agentbusd --topology conf/topology.yaml &
    python3 contrib/examples/rag_gate_agent.py --feed 6
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))

import agentbus.aio  # noqa: E402  (the package of this source tree)


def best_passage(payload: Dict[str, Any]) -> Dict[str, Any]:
    """The passage with the highest score."""
    passages: List[Dict[str, Any]] = payload["passages"]
    return max(passages, key=lambda p: float(p["score"]))


async def gate(bus: agentbus.aio.Agent, threshold: float, count: int,
               quiet: bool) -> Dict[str, str]:
    """Gates ``count`` deliveries (0: forever); returns id -> verdict."""
    verdicts: Dict[str, str] = {}
    async for d in bus:
        best = best_passage(d.payload)
        if float(best["score"]) >= threshold:
            if not quiet:
                print("%s -> %s" % (d.payload["query"], best["text"]))
            await d.ack()
            verdicts[str(d.id)] = "answered"
        else:
            await d.nack(requeue=False, reason="low confidence %.2f"
                         % float(best["score"]))
            verdicts[str(d.id)] = "refused"
        if count and len(verdicts) >= count:
            break
    return verdicts


async def feed(endpoint: str, n: int, threshold: float) -> Dict[str, str]:
    """Publishes ``n`` retrievals as the retriever; returns id -> the
    verdict the gate should reach."""
    expected: Dict[str, str] = {}
    async with agentbus.aio.Agent(endpoint, "retriever") as retriever:
        for i in range(n):
            score = threshold + 0.2 if i % 2 == 0 else threshold / 2
            id = "gate-py-%d" % i
            await retriever.publish("retrieval.context", {
                "query": "question %d" % i,
                "passages": [{"text": "answer %d" % i, "score": score},
                             {"text": "noise", "score": score / 3}]}, id=id)
            expected[id] = "answered" if score >= threshold else "refused"
    return expected


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get(
        "AGENTBUS_ENDPOINT", "tcp://127.0.0.1:7780"))
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--feed", type=int, default=0, metavar="N",
                        help="publish N retrievals, gate them and exit")
    parser.add_argument("--topology", help="ignored (the demos pass it)")
    args = parser.parse_args()
    async with agentbus.aio.Agent(args.endpoint, "reasoner",
                                  credit=4) as bus:
        if not args.feed:
            await gate(bus, args.threshold, 0, False)
            return 0
        expected = await feed(args.endpoint, args.feed, args.threshold)
        got = await asyncio.wait_for(
            gate(bus, args.threshold, args.feed, True), 60)
    answered = sum(1 for v in got.values() if v == "answered")
    ok = got == expected
    print("rag gate (python): %d retrievals, %d answered, %d refused: %s"
          % (len(got), answered, len(got) - answered,
             "ok" if ok else "FAIL (expected %r)" % expected))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
