#!/usr/bin/env python3
# llm_replica_agent.py - an asyncio LLM replica streaming partial replies
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""An inference replica (agent ``llm`` of conf/topology.yaml) on
``agentbus.aio``: it answers each ``llm.prompt`` request with its
completion streamed as partial ``llm.completion`` replies, one per token,
and a final one with ``done: true``.  Several requests are served at once
(``--credit``); the "model" is a stand-in that echoes the prompt's words
after a short ``await``, where a real replica would await its model.

With ``--demo N`` the same process also plays the frontend: it sends N
requests at once, prints each answer as its pieces stream in, checks that
every answer came back whole and in order, prints one summary line and
exits (0 when the checks pass)::

    agentbusd --topology conf/topology.yaml &
    python3 contrib/examples/llm_replica_agent.py --demo 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import AsyncIterator, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "clients", "python"))

import agentbus  # noqa: E402  (the package of this source tree)
import agentbus.aio  # noqa: E402


async def generate(prompt: str) -> AsyncIterator[str]:
    """The stand-in model: the prompt's words, reversed, one at a time."""
    for word in reversed(prompt.split()):
        await asyncio.sleep(0.01)  # a real replica awaits its model here
        yield word + " "


async def answer(d: agentbus.aio.Delivery) -> None:
    """Streams the completion of one request delivery."""
    index = 0
    async for token in generate(str(d.payload["prompt"])):
        await d.reply({"text": token, "index": index, "done": False},
                      partial=True)
        index += 1
    await d.reply({"text": "", "index": index, "done": True,
                   "finish_reason": "stop",
                   "usage": {"completion_tokens": index}})


async def serve(bus: agentbus.aio.Agent) -> None:
    """Answers requests until the agent is closed, several at once."""
    tasks = set()
    async for d in bus:
        if not d.request:
            await d.nack(requeue=False, reason="not a request")
            continue
        task = asyncio.ensure_future(answer(d))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def ask(fe: agentbus.aio.Agent, prompt: str) -> str:
    """One request; returns the text reassembled from its pieces."""
    pieces: List[str] = []
    async for piece in fe.request_stream("llm.prompt", {"prompt": prompt},
                                         timeout_ms=20000):
        if piece.payload["index"] != len(pieces):
            raise agentbus.AgentbusError("piece %s out of order"
                                         % piece.payload["index"])
        pieces.append(str(piece.payload["text"]))
    return "".join(pieces)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get(
        "AGENTBUS_ENDPOINT", "tcp://127.0.0.1:7780"))
    parser.add_argument("--credit", type=int, default=8,
                        help="requests served at once (default 8)")
    parser.add_argument("--demo", type=int, default=0, metavar="N",
                        help="also send N requests, check them and exit")
    parser.add_argument("--topology", help="ignored (the demos pass it)")
    args = parser.parse_args()
    async with agentbus.aio.Agent(args.endpoint, "llm",
                                  credit=args.credit) as llm:
        server = asyncio.ensure_future(serve(llm))
        if not args.demo:
            await server
            return 0
        prompts = ["the broker checks every message number %d" % i
                   for i in range(args.demo)]
        async with agentbus.aio.Agent(args.endpoint, "frontend") as fe:
            answers = await asyncio.wait_for(
                asyncio.gather(*[ask(fe, p) for p in prompts]), 60)
        server.cancel()
    good = sum(1 for p, a in zip(prompts, answers)
               if a.split() == list(reversed(p.split())))
    for a in answers:
        print("  " + a.strip())
    ok = good == len(prompts)
    print("llm replica (python): %d requests, %d answered whole: %s"
          % (len(prompts), good, "ok" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
