# Crash test: publishers and a consumer run while the real agentbusd, on
# a data_dir with a durable edge, is killed with SIGKILL at random moments
# and restarted. At the end every PUB that got OK was delivered (and
# acked) at least once, nothing rejected was delivered, and every repeat
# of a message is a redelivery (a higher attempt of the same copy).
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from durable_harness import WAIT_MS, Agent, Broker  # noqa: E402

# (sync mode, kills): a killed process loses nothing committed in any mode
ROUNDS = (("sync: always\n", 8), ("sync: {batch_ms: 5}\n", 4))
WINDOW = 32          # PUBs a publisher has unanswered at most
PUBLISHERS = 3


class Publisher:
    def __init__(self, endpoint, name):
        self.agent = Agent(endpoint, "producer")
        self.name = name
        self.next = 0
        self.outstanding = set()  # sent, no answer yet
        self.ok = set()
        self.rejected = set()
        self.in_doubt = set()     # unanswered when the broker died

    def pump(self):
        while len(self.outstanding) < WINDOW:
            pid = "%s-%d" % (self.name, self.next)
            self.next += 1
            self.agent.send("PUB", {"type": "test.note", "version": 1, "id": pid},
                            {"text": pid})
            self.outstanding.add(pid)
        while True:
            answer = self.agent.recv(0)
            if answer is None:
                return
            command, header, _ = answer
            pid = header.get("id")
            if command == "OK" and pid in self.outstanding:
                self.outstanding.discard(pid)
                self.ok.add(pid)
            elif command == "REJECT" and pid in self.outstanding:
                self.outstanding.discard(pid)
                self.rejected.add(pid)
            elif command == "ERROR" and header.get("code") == "not_registered":
                # a new broker: what the old one did not answer is in doubt
                self.in_doubt |= self.outstanding
                self.outstanding = set()


def main():
    seed = int(os.environ.get("AB_CRASH_SEED", time.time()))
    random.seed(seed)
    print("AB_CRASH_SEED=%d" % seed)
    return max(crash(config, kills) for config, kills in ROUNDS)


def crash(config, kills):
    broker = Broker(config)
    try:
        broker.start()
        publishers = [Publisher(broker.endpoint, "p%d" % i)
                      for i in range(PUBLISHERS)]
        consumer = Agent(broker.endpoint, "consumer", credit=64)
        deliveries = {}   # producer id -> [(msg, attempt)]
        acked = set()

        def consume(timeout):
            answer = consumer.recv(timeout)
            while answer is not None:
                command, header, payload = answer
                if command == "DELIVER":
                    pid = header.get("id")
                    deliveries.setdefault(pid, []).append(
                        (header["msg"], header["attempt"]))
                    consumer.send("ACK", {"msg": header["msg"]})
                    acked.add(pid)
                answer = consumer.recv(0)

        def oks():
            return sum(len(p.ok) for p in publishers)

        def run(seconds, publish=True, min_ok=0):
            # runs for `seconds`, and on until `min_ok` more PUBs got OK
            # (on a loaded machine a window holds fewer), within bounds
            end = time.time() + seconds
            want = oks() + min_ok
            last_ping = 0
            give_up = end + WAIT_MS / 1000.0
            while time.time() < end or (oks() < want and
                                        time.time() < give_up):
                if publish:
                    for p in publishers:
                        p.pump()
                consume(5)
                if time.time() - last_ping > 0.1:  # finds a restarted broker
                    last_ping = time.time()
                    consumer.send("PING", {})
                    for p in publishers:
                        p.agent.send("PING", {})

        for _ in range(kills):
            # at least 100 OKs over the run whatever the machine's speed
            run(random.uniform(0.15, 0.6), min_ok=100 // kills + 1)
            broker.kill()
            time.sleep(random.uniform(0.0, 0.05))
            broker.start()
        run(0.3)
        # drain: no more PUBs; wait for every OK'd message to arrive
        ok = set().union(*(p.ok for p in publishers))
        deadline = time.time() + 3 * WAIT_MS / 1000.0
        while time.time() < deadline:
            run(0.2, publish=False)
            counters = broker.admin_request({"cmd": "counters"})["counters"]
            if ok <= set(deliveries) and counters["copies_pending"] == 0:
                break
        run(0.3, publish=False)
        for p in publishers:
            while True:
                answer = p.agent.recv(0)
                if answer is None:
                    break
                command, header, _ = answer
                pid = header.get("id")
                if pid in p.outstanding:
                    p.outstanding.discard(pid)
                    (p.ok if command == "OK" else p.rejected).add(pid)
        ok = set().union(*(p.ok for p in publishers))
        rejected = set().union(*(p.rejected for p in publishers))
        doubt = set().union(*(p.in_doubt | p.outstanding for p in publishers))
        missing = ok - set(deliveries)
        unacked = ok - acked
        phantom = set(deliveries) - ok - doubt
        bad_repeat = []
        duplicates = 0
        for pid, seen in deliveries.items():
            duplicates += len(seen) - 1
            msgs = {m for m, _ in seen}
            attempts = [a for _, a in seen]
            if len(seen) > 1 and (len(msgs) != 1 or
                                  attempts != sorted(set(attempts))):
                bad_repeat.append((pid, seen))
        delivered_rejected = rejected & set(deliveries)
        print("%s kills=%d published_ok=%d rejected=%d in_doubt=%d delivered=%d "
              "duplicates=%d (all redeliveries: %s) missing=%d"
              % (config.strip(), kills, len(ok), len(rejected), len(doubt), len(deliveries),
                 duplicates, not bad_repeat, len(missing)))
        status = broker.stop()
        failures = []
        if len(ok) < 100:
            failures.append("too few messages got OK: %d" % len(ok))
        if missing:
            failures.append("OK'd but never delivered: %s" % sorted(missing)[:10])
        if unacked:
            failures.append("OK'd but never acked: %s" % sorted(unacked)[:10])
        if phantom:
            failures.append("delivered but never published: %s" % sorted(phantom)[:10])
        if delivered_rejected:
            failures.append("rejected but delivered: %s" % sorted(delivered_rejected)[:10])
        if bad_repeat:
            failures.append("repeats that are not redeliveries: %s" % bad_repeat[:5])
        if status != 0:
            failures.append("agentbusd exited %d after SIGTERM" % status)
        for p in publishers:
            p.agent.close()
        consumer.close()
        if failures:
            print("\n".join(failures))
            print("broker log: %s" % broker.dir)
            broker.dir_keep = True
            return 1
        return 0
    finally:
        if not getattr(broker, "dir_keep", False):
            broker.cleanup()


if __name__ == "__main__":
    sys.exit(main())
