# Durable PUB throughput: N publisher processes (each one DEALER with a
# window of pipelined PUBs) and one consumer that acks everything, for
# each of: memory edge, sync always, sync {batch_ms: 10}, sync never.
# Not a test (no assertions on speed); run by hand:
#   AB_BUILDDIR=. [AB_BENCH_WINDOW=64] /usr/bin/python3 \
#       bench/bench_durable.py [N] [SECONDS]
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

import multiprocessing
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "integration"))
from durable_harness import Agent, Broker  # noqa: E402

WINDOW = int(os.environ.get("AB_BENCH_WINDOW", "64"))


def publisher(endpoint, seconds, result):
    agent = Agent(endpoint, "producer")
    agent.recv(2000)
    sent = ok = 0
    end = time.time() + seconds
    payload = {"text": "x" * 200}
    while time.time() < end:
        while sent - ok < WINDOW:
            agent.send("PUB", {"type": "test.note", "version": 1}, payload)
            sent += 1
        answer = agent.recv(100)
        while answer:
            ok += answer[0] in ("OK", "REJECT")
            answer = agent.recv(0)
    result.put(ok)
    agent.close()


def consumer(endpoint, stop):
    agent = Agent(endpoint, "consumer", credit=1024)
    while not stop.is_set():
        answer = agent.recv(50)
        while answer:
            if answer[0] == "DELIVER":
                agent.send("ACK", {"msg": answer[1]["msg"]})
            answer = agent.recv(0)
    agent.close()


def run(label, extra, durable, publishers, seconds):
    broker = Broker(extra)
    if not durable:
        path = os.path.join(broker.dir, "topology.yaml")
        text = open(path).read().replace("durable: true", "durable: false")
        open(path, "w").write(text)
    broker.start()
    stop = multiprocessing.Event()
    result = multiprocessing.Queue()
    cons = multiprocessing.Process(target=consumer, args=(broker.endpoint, stop))
    cons.start()
    pubs = [multiprocessing.Process(target=publisher,
                                    args=(broker.endpoint, seconds, result))
            for _ in range(publishers)]
    for p in pubs:
        p.start()
    total = sum(result.get() for _ in pubs)
    for p in pubs:
        p.join()
    stop.set()
    cons.join()
    broker.stop()
    broker.cleanup()
    print("%-22s %8.0f PUB/s (OK, %d publishers, %gs)"
          % (label, total / seconds, publishers, seconds))


def main():
    publishers = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3
    run("memory (not durable)", "", False, publishers, seconds)
    run("sync: always", "sync: always\n", True, publishers, seconds)
    run("sync: {batch_ms: 10}", "sync: {batch_ms: 10}\n", True, publishers,
        seconds)
    run("sync: never", "sync: never\n", True, publishers, seconds)


if __name__ == "__main__":
    main()
