# test_chaos.py - nothing is ever dropped silently, whatever consumers do
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""A seeded random mix of ACK, NACK (requeue or not), instances that go
silent and die, BYE and newcomers, against the real agentbusd (protocol
section 5): every published message must end exactly once, acknowledged
or dead-lettered, never both and never lost.

slow.job (producer -> slow) has ack_timeout_ms 30000, max_attempts 3 and
dead_letter graveyard, so no copy moves by ack timeout during the test:
only what the consumers do moves it, and the bookkeeping is exact."""

import os
import random
import time

import abtest

COUNT = 300


class Chaos(abtest.BrokerTestCase):
    config = {"heartbeat_ms": 200}

    def refused(self, agent):
        """True when the broker refused an ACK of ``agent`` (it answered
        unknown_message, or had declared the instance dead): only then may
        an acknowledged message come back."""
        deadline = time.monotonic() + abtest.WAIT_MS / 1000.0
        while True:
            # the answer to its ACK may not have been read yet: read on
            # (a while on a loaded machine) until it shows or time is up
            agent.poll(20)
            if agent.hello_count > 1 or any(
                    e.get("code") == "unknown_message" for e in agent.errors):
                return True
            if time.monotonic() > deadline:
                return False

    def settle(self, n, acked):
        """A message acknowledged before is back: its ACK must have been
        refused (a loaded machine can starve a worker's heartbeat)."""
        if n in acked:
            self.assertTrue(self.refused(acked.pop(n)),
                            "message %d back after an accepted ACK" % n)

    def test_every_message_ends_exactly_once(self):
        rng = random.Random(int(os.environ.get("AB_CHAOS_SEED", "1124")))
        p = self.agent("producer")
        for n in range(COUNT):
            p.publish("slow.job", {"n": n}, id="m%d" % n)
        graveyard = self.agent("graveyard")
        workers = [self.agent("slow", credit=rng.randint(1, 8),
                              instance="w%d" % i) for i in range(3)]
        acked, dead = {}, {}
        silent = []          # workers left to die by heartbeat
        newcomers = 0
        deadline = time.monotonic() + 300  # a bound, not a measure
        drain_until = None   # all seen: wait a little for stragglers
        while drain_until is None or time.monotonic() < drain_until:
            self.assertLess(time.monotonic(), deadline,
                            "acked %d, dead-lettered %d of %d"
                            % (len(acked), len(dead), COUNT))
            d = graveyard.receive(5)
            if d is not None:
                n = d.payload["n"]
                self.assertNotIn(n, dead, "dead-lettered twice")
                self.settle(n, acked)
                self.assertIn(d.reason, ("rejected", "max_attempts"))
                dead[n] = d.reason
                d.ack()
            for w in list(workers):
                d = w.receive(5)
                if d is None:
                    continue
                n = d.payload["n"]
                self.settle(n, acked)
                self.assertNotIn(n, dead, "delivered after dead letter")
                roll = rng.random() if drain_until is None else 0
                if roll < 0.70:
                    acked[n] = w
                    d.ack()
                elif roll < 0.85:
                    d.nack(requeue=True)
                elif roll < 0.90:
                    d.nack(requeue=False, reason="chaos")
                elif roll < 0.95 and len(workers) > 1:
                    workers.remove(w)   # stops polling: dies by heartbeat
                    silent.append(w)
                    break
                else:
                    d.nack(requeue=True)
                    if len(workers) > 1:
                        w.bye()
                        workers.remove(w)
                        break
            if len(workers) < 3:
                newcomers += 1
                workers.append(self.agent("slow", credit=rng.randint(1, 8),
                                          instance="new%d" % newcomers))
            if drain_until is None and len(acked) + len(dead) == COUNT:
                drain_until = time.monotonic() + 1.0
        self.assertEqual(set(acked) | set(dead), set(range(COUNT)))
        self.assertFalse(set(acked) & set(dead))
        print("acked %d, dead-lettered %d (%s), %d went silent, %d joined"
              % (len(acked), len(dead), sorted(set(dead.values())),
                 len(silent), newcomers))

    def test_strict_order_whatever_happens(self):
        # train.gradient (trainer -> param-server) is strict: whatever the
        # consumers do, the steps they see never go backwards (retries
        # repeat a step, dead letters skip one), and every step ends
        rng = random.Random(int(os.environ.get("AB_CHAOS_SEED", "1124")))
        t = self.agent("trainer")
        steps = 100
        for n in range(steps):
            t.publish("train.gradient", {"step": n}, seq=n + 1)
        graveyard = self.agent("graveyard")
        servers = [self.agent("param-server", instance="ps%d" % i)
                   for i in range(2)]
        seen, ended, joined = [], set(), 0
        deadline = time.monotonic() + 300  # a bound, not a measure
        while len(ended) < steps:
            self.assertLess(time.monotonic(), deadline,
                            "%d of %d steps ended" % (len(ended), steps))
            d = graveyard.receive(5)
            if d is not None:
                ended.add(d.payload["step"])
                d.ack()
            for w in list(servers):
                d = w.receive(5)
                if d is None:
                    continue
                step = d.payload["step"]
                if seen:
                    self.assertGreaterEqual(step, seen[-1],
                                            "order broken: %r" % seen[-5:])
                seen.append(step)
                roll = rng.random()
                if roll < 0.75:
                    ended.add(step)
                    d.ack()
                elif roll < 0.85:
                    d.nack(requeue=True)
                elif roll < 0.90:
                    d.nack(requeue=False)
                else:
                    servers.remove(w)  # goes silent, dies by heartbeat
                    break
            if len(servers) < 2:
                joined += 1
                servers.append(self.agent("param-server",
                                          instance="new%d" % joined))
        self.assertEqual(ended, set(range(steps)))


if __name__ == "__main__":
    abtest.main()
