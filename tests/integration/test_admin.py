# The dead-letter admin interface end to end: copies NACKed with
# requeue: false land in the durable dead-letter store; `agentbus dead
# list|replay|purge` and the admin socket's dead.list paging and counters
# work, also after the broker was killed and restarted.
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from durable_harness import AGENTBUS, WAIT_MS, Agent, Broker  # noqa: E402


def cli(broker, *args):
    run = subprocess.run([AGENTBUS, "dead", *args, "--admin", broker.admin]
                         if args and args[0] in ("list",) else
                         [AGENTBUS, "dead", args[0], "--admin", broker.admin,
                          *args[1:]],
                         capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout, run.stderr


def expect(agent, command, timeout=WAIT_MS):
    deadline = time.time() + timeout / 1000
    while time.time() < deadline:
        answer = agent.recv(100)
        if answer and answer[0] == command:
            return answer
    raise AssertionError("no %s" % command)


def main():
    broker = Broker()
    try:
        broker.start()
        producer = Agent(broker.endpoint, "producer")
        consumer = Agent(broker.endpoint, "consumer", credit=8)
        expect(producer, "WELCOME")
        expect(consumer, "WELCOME")
        for i in range(5):
            producer.send("PUB", {"type": "test.note", "version": 1,
                                  "id": "m%d" % i}, {"text": "m%d" % i})
            expect(producer, "OK")
        for _ in range(5):
            _, header, _ = expect(consumer, "DELIVER")
            consumer.send("NACK", {"msg": header["msg"], "requeue": False,
                                   "reason": "test"})
        deadline = time.monotonic() + WAIT_MS / 1000.0  # the NACKs are done
        while len(broker.admin_request({"cmd": "dead.list", "limit": 10})
                  ["dead"]) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        rc, out, err = cli(broker, "list")
        lines = out.splitlines()
        assert rc == 0 and len(lines) == 5, (rc, out, err)
        assert all("\trejected\t1\tproducer->consumer:test.note\ttest.note\t"
                   "producer\t" in line for line in lines), lines
        ids = [line.split("\t")[0] for line in lines]
        page = broker.admin_request({"cmd": "dead.list", "limit": 2})
        assert page["ok"] and len(page["dead"]) == 2 and page["cursor"], page
        rest = broker.admin_request({"cmd": "dead.list", "limit": 10,
                                     "cursor": page["cursor"]})
        assert [d["id"] for d in page["dead"] + rest["dead"]] == ids, rest
        assert rest["cursor"] is None, rest

        broker.kill()  # dead letters are durable
        broker.start()
        rc, out, _ = cli(broker, "list")
        assert [line.split("\t")[0] for line in out.splitlines()] == ids, out

        rc, out, err = cli(broker, "replay", ids[0], ids[1])
        assert rc == 0 and out.strip() == "replayed 2", (rc, out, err)
        consumer.send("PING", {})  # the restarted broker forgot it:
        expect(consumer, "WELCOME")  # ERROR not_registered, HELLO again
        seen = set()
        for _ in range(2):
            _, header, payload = expect(consumer, "DELIVER")
            assert header["attempt"] == 1, header
            seen.add(payload["text"])
            consumer.send("ACK", {"msg": header["msg"]})
        assert seen == {"m0", "m1"}, seen
        rc, out, err = cli(broker, "purge", ids[2])
        assert rc == 0 and out.strip() == "purged 1", (rc, out, err)
        rc, out, err = cli(broker, "replay", ids[2])
        assert rc == 1 and "no such dead letter" in err, (rc, out, err)
        rc, out, _ = cli(broker, "list")
        assert len(out.splitlines()) == 2, out
        rc, out, err = cli(broker, "purge", "--all")
        assert rc == 0 and out.strip() == "purged 2", (rc, out, err)
        rc, out, _ = cli(broker, "list")
        assert rc == 0 and out == "", out
        counters = broker.admin_request({"cmd": "counters"})
        assert counters["ok"] and counters["counters"]["acked"] == 2, counters
        assert counters["counters"]["store_dead_letters"] == 0, counters
        bad = broker.admin_request({"cmd": "nope"})
        assert not bad["ok"] and "dead.list" in bad["error"], bad
        usage = subprocess.run([AGENTBUS, "dead", "replay", "--admin",
                                broker.admin], capture_output=True)
        assert usage.returncode == 2, usage
        print("dead letters: 5 listed (paged 2+3), kept across SIGKILL, "
              "2 replayed as attempt 1, 1 purged, --all purged 2")
        producer.close()
        consumer.close()
        assert broker.stop() == 0
        return 0
    finally:
        broker.cleanup()


if __name__ == "__main__":
    sys.exit(main())
