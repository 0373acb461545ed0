# test_ordering.py - strict ordering per producer and seq duplicates
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Order and versions against the real agentbusd (protocol section 6).
train.gradient: trainer (and trainer-b) -> param-server, ordering strict,
max_attempts 3, dead_letter graveyard, the fixture's long ack timeout;
StrictRetry, which measures retries, sets it to ACK_TIMEOUT_MS: long
enough that the test's ACK sent right after a delivery beats it on a
loaded machine."""

import abtest

#: train.gradient's ack timeout in StrictRetry, ms
ACK_TIMEOUT_MS = 1000


class Strict(abtest.BrokerTestCase):

    def setUp(self):
        super().setUp()
        self.t = self.agent("trainer")
        self.ps = self.agent("param-server", credit=16)

    def test_one_in_flight_per_producer(self):
        for step in range(3):
            self.t.publish("train.gradient", {"step": step}, seq=step + 1)
        d = self.expect(self.ps)
        self.assertEqual(d.payload["step"], 0)
        # credit 16, yet nothing more until the first is done
        self.assertNoDelivery(self.ps, 100, retries_of=[d])
        d.ack()
        d = self.expect(self.ps)
        self.assertEqual(d.payload["step"], 1)
        d.ack()
        self.assertEqual(self.expect(self.ps).payload["step"], 2)

    def test_nack_requeue_keeps_order(self):
        for step in range(2):
            self.t.publish("train.gradient", {"step": step})
        d = self.expect(self.ps)
        d.nack(requeue=True)
        d = self.expect(self.ps)
        self.assertEqual((d.payload["step"], d.attempt), (0, 2))
        d.ack()
        self.assertEqual(self.expect(self.ps).payload["step"], 1)

    def test_nack_without_requeue_unblocks_the_next(self):
        g = self.agent("graveyard")
        self.t.publish("train.gradient", {"step": 0})
        self.t.publish("train.gradient", {"step": 1})
        self.expect(self.ps).nack(requeue=False)
        self.assertEqual(self.expect(g).reason, "rejected")
        self.assertEqual(self.expect(self.ps).payload["step"], 1)

    def test_seq_duplicate_rejected(self):
        self.t.publish("train.gradient", {"step": 1}, seq=1)
        self.t.publish("train.gradient", {"step": 2}, seq=5)
        for seq in (5, 3, 1, 0):
            e = self.assertRejected("duplicate", self.t.publish,
                                    "train.gradient", {"step": 9}, seq=seq,
                                    id="dup%d" % seq)
            self.assertEqual(e.header.get("id"), "dup%d" % seq)
        self.t.publish("train.gradient", {"step": 3}, seq=6)
        got = []
        for _ in range(3):
            d = self.expect(self.ps)
            got.append((d.payload["step"], d.seq))
            d.ack()
        self.assertEqual(got, [(1, 1), (2, 5), (3, 6)])
        self.t.publish("train.gradient", {"step": 4}, seq=7, id="after")
        self.assertNext(self.ps, "after").ack()  # no duplicate came

    def test_rejected_duplicate_is_not_delivered(self):
        self.t.publish("train.gradient", {"step": 1}, seq=10)
        self.assertRejected("duplicate", self.t.publish, "train.gradient",
                            {"step": 1}, seq=10)
        self.expect(self.ps).ack()
        self.t.publish("train.gradient", {"step": 2}, seq=11, id="after")
        self.assertNext(self.ps, "after").ack()  # the duplicate did not

    def test_one_in_flight_per_producer_not_per_edge(self):
        # section 6: at most one copy *per producer agent* in flight, and
        # seq is tracked per producer
        tb = self.agent("trainer-b")
        self.t.publish("train.gradient", {"step": 1}, seq=5)
        self.t.publish("train.gradient", {"step": 2}, seq=6)
        tb.publish("train.gradient", {"step": 100}, seq=1)
        held = [self.expect(self.ps), self.expect(self.ps)]
        self.assertEqual(sorted((d.sender, d.payload["step"]) for d in held),
                         [("trainer", 1), ("trainer-b", 100)])
        self.assertNoDelivery(self.ps, 100, retries_of=held)
        for d in held:
            d.ack()
        d = self.expect(self.ps)
        self.assertEqual((d.sender, d.payload["step"]), ("trainer", 2))

    def test_strict_order_survives_consumer_death(self):
        for step in range(3):
            self.t.publish("train.gradient", {"step": step}, seq=step + 1)
        first = self.expect(self.ps)
        self.assertEqual(first.payload["step"], 0)
        self.ps.close(bye=True)
        ps2 = self.agent("param-server", instance="second")
        steps = []
        for _ in range(3):
            d = self.expect(ps2)
            steps.append(d.payload["step"])
            d.ack()
        self.assertEqual(steps, [0, 1, 2])


class StrictRetry(abtest.BrokerTestCase):
    """The tests that wait for an ack timeout."""

    edges = {("param-server", "train.gradient"):
             {"ack_timeout_ms": ACK_TIMEOUT_MS}}

    def setUp(self):
        super().setUp()
        self.t = self.agent("trainer")
        self.ps = self.agent("param-server", credit=16)

    def test_order_kept_across_retries(self):
        for step in range(4):
            self.t.publish("train.gradient", {"step": step}, seq=step + 1)
        seen = []
        d = self.expect(self.ps)
        seen.append((d.payload["step"], d.attempt))
        # let the first one time out once: its retry must come before 1
        d = self.expect(self.ps)
        seen.append((d.payload["step"], d.attempt))
        d.ack()
        for _ in range(3):
            d = self.expect(self.ps)
            seen.append((d.payload["step"], d.attempt))
            d.ack()
        self.assertEqual(seen, [(0, 1), (0, 2), (1, 1), (2, 1), (3, 1)])

    def test_dead_letter_unblocks_the_next(self):
        # max_attempts 3: the first copy is dead-lettered, then the second
        # one may go
        g = self.agent("graveyard")
        self.t.publish("train.gradient", {"step": 0}, seq=1)
        self.t.publish("train.gradient", {"step": 1}, seq=2)
        attempts = []
        for _ in range(3):
            d = self.expect(self.ps)
            attempts.append((d.payload["step"], d.attempt))
        self.assertEqual(attempts, [(0, 1), (0, 2), (0, 3)])
        dl = self.expect(g)
        self.assertEqual((dl.reason, dl.payload), ("max_attempts", {"step": 0}))
        d = self.expect(self.ps)
        self.assertEqual((d.payload["step"], d.attempt), (1, 1))
        d.ack()


if __name__ == "__main__":
    abtest.main()
