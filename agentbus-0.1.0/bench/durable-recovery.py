#!/usr/bin/python3
# Recovery time of agentbusd with N pending durable messages (default one
# million): publishers fill a durable edge that has no consumer, the broker
# is stopped (SIGTERM) and started again, and we time how long the new
# process takes until it answers PING (recovery runs before it serves) and
# until a consumer gets its first DELIVER; the admin socket's counters
# confirm every copy came back. Not a test: run by hand from a build tree:
#   AB_BUILDDIR=. /usr/bin/python3 bench/durable-recovery.py [N] [sync]
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

import multiprocessing
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from durable_harness import Agent, Broker  # noqa: E402

PUBLISHERS = 4
WINDOW = 256


def publisher(endpoint, count, result):
    agent = Agent(endpoint, "producer")
    agent.recv(2000)
    payload = {"text": "x" * 200}
    sent = answered = ok = 0
    while answered < count:
        while sent < count and sent - answered < WINDOW:
            agent.send("PUB", {"type": "test.note", "version": 1}, payload)
            sent += 1
        answer = agent.recv(1000)
        while answer:
            if answer[0] in ("OK", "REJECT"):
                answered += 1
                ok += answer[0] == "OK"
            answer = agent.recv(0)
    result.put(ok)
    agent.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    sync = sys.argv[2] if len(sys.argv) > 2 else "always"
    broker = Broker("sync: %s\nmap_size: 8589934592\n" % sync)
    path = os.path.join(broker.dir, "topology.yaml")
    text = open(path).read().replace(
        "retry_backoff_ms: 10}", "retry_backoff_ms: 10, queue_limit: %d}"
        % (total * 2))
    open(path, "w").write(text)
    broker.start()
    result = multiprocessing.Queue()
    started = time.time()
    procs = [multiprocessing.Process(
        target=publisher, args=(broker.endpoint, total // PUBLISHERS, result))
        for _ in range(PUBLISHERS)]
    for p in procs:
        p.start()
    accepted = sum(result.get() for _ in procs)
    for p in procs:
        p.join()
    fill = time.time() - started
    print("filled: %d PUBs accepted in %.1f s (%.0f/s), sync %s"
          % (accepted, fill, accepted / fill, sync))
    broker.stop()
    size = sum(os.path.getsize(os.path.join(broker.data, f))
               for f in os.listdir(broker.data))
    print("data_dir: %.0f MB" % (size / 1e6))

    restart = time.time()
    broker.start()
    probe = Agent(broker.endpoint, "consumer", credit=1)
    welcome = None
    while welcome is None:
        answer = probe.recv(100)
        if answer and answer[0] == "WELCOME":
            welcome = time.time() - restart
    first = None
    while first is None:
        answer = probe.recv(100)
        if answer and answer[0] == "DELIVER":
            first = time.time() - restart
    pending = broker.admin_request({"cmd": "counters"}).get(
        "counters", {}).get("copies_pending")
    print("restart: WELCOME after %.2f s, first DELIVER after %.2f s, "
          "copies_pending %s, peak RSS %d MB"
          % (welcome, first, pending, rss_kb(broker.proc.pid) // 1024))
    probe.close()
    broker.stop()
    broker.cleanup()


if __name__ == "__main__":
    main()
