# The durable store runs out of room (a 1 MiB map, then a 200 kB
# memory_limit) while a producer publishes: PUBs are rejected
# `overloaded` with a reason, the broker does not crash, nothing accepted
# is lost, and once the consumer acks, publishing works again.
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from durable_harness import WAIT_MS, Agent, Broker  # noqa: E402

TEXT = "x" * 8000


def publish(producer, first, count):
    """Publishes count PUBs; returns ({id: answer command}, reject messages)."""
    answers, why = {}, set()
    for i in range(first, first + count):
        producer.send("PUB", {"type": "test.note", "version": 1, "id": str(i)},
                      {"text": TEXT})
    deadline = time.time() + WAIT_MS / 1000.0
    while len(answers) < count and time.time() < deadline:
        answer = producer.recv(100)
        if answer and answer[0] in ("OK", "REJECT"):
            answers[answer[1]["id"]] = answer[0]
            if answer[0] == "REJECT":
                assert answer[1]["code"] == "overloaded", answer
                why.add(answer[1]["message"])
    assert len(answers) == count, "only %d answers" % len(answers)
    return answers, why


def drain(consumer, expect):
    seen = []
    deadline = time.time() + WAIT_MS / 1000.0
    while len(seen) < expect and time.time() < deadline:
        answer = consumer.recv(100)
        if answer and answer[0] == "DELIVER":
            seen.append(answer[1]["id"])
            consumer.send("ACK", {"msg": answer[1]["msg"]})
    return seen


def round_trip(agent):
    """PING, and wait for the PONG: what the agent sent before is done."""
    agent.send("PING", {})
    while True:
        answer = agent.recv(WAIT_MS)
        assert answer is not None, "no PONG"
        if answer[0] == "PONG":
            return


def main():
    run("map_size 1 MiB", "map_size: 1048576\n")
    run("memory_limit 200 kB", "memory_limit: 200000\n")
    return 0


def run(label, config):
    broker = Broker(config)
    try:
        broker.start()
        producer = Agent(broker.endpoint, "producer")
        producer.recv(1000)
        answers, why = publish(producer, 0, 300)
        ok = sorted(k for k, v in answers.items() if v == "OK")
        rejected = len(answers) - len(ok)
        print("%s: %d OK, %d rejected overloaded: %s"
              % (label, len(ok), rejected, sorted(why)))
        assert ok and rejected, "expected both OKs and rejections"
        assert any("durable store is full" in w for w in why), why
        assert broker.proc.poll() is None, "agentbusd died"
        consumer = Agent(broker.endpoint, "consumer", credit=32)
        seen = drain(consumer, len(ok))
        assert sorted(seen) == ok, "lost: %s" % (set(ok) - set(seen))
        round_trip(consumer)  # its ACKs are done: room again
        answers, why = publish(producer, 1000, 20)
        assert all(v == "OK" for v in answers.values()), (answers, why)
        assert sorted(drain(consumer, 20)) == sorted(answers)
        print("after the consumer acked: 20 of 20 OK and delivered")
        producer.close()
        consumer.close()
        assert broker.stop() == 0
    finally:
        broker.cleanup()


if __name__ == "__main__":
    sys.exit(main())
