# test_delivery.py - ACK, NACK, retries, dead letters and expiry
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Acknowledgement and retry against the real agentbusd (protocol
section 5).  The task.item edge has max_attempts 3, retry_backoff_ms 10
and dead_letter graveyard (see the fixture); the classes that measure
its ack timeout set it to ACK_TIMEOUT_MS.  That is long enough that the
test's own ACK or NACK, sent right after a delivery, beats it even on a
loaded machine, and every time measured is a lower bound ("not before
the ack timeout"), never an upper one."""

import time

import abtest

#: the task.item edge's ack timeout in the classes that measure it, ms
ACK_TIMEOUT_MS = 1000
SHORT = {("worker", "task.item"): {"ack_timeout_ms": ACK_TIMEOUT_MS}}


class Ack(abtest.BrokerTestCase):

    edges = SHORT

    def setUp(self):
        super().setUp()
        self.p = self.agent("producer")
        self.w = self.agent("worker")

    def test_acked_copy_is_not_redelivered(self):
        self.p.publish("task.item", {"n": 1})
        self.expect(self.w).ack()
        # longer than 2 x ack_timeout_ms: a retry would have come
        self.assertNoDelivery(self.w, 2500)

    def test_ack_unknown_message(self):
        self.w.send_frames("ACK", {"msg": "no-such-copy"})
        self.assertError(self.w, "unknown_message")

    def test_nack_unknown_message(self):
        self.w.send_frames("NACK", {"msg": "no-such-copy", "requeue": True})
        self.assertError(self.w, "unknown_message")

    def test_second_ack_is_unknown_message(self):
        self.p.publish("task.item", {"n": 1})
        d = self.expect(self.w)
        d.ack()
        d.ack()
        self.assertError(self.w, "unknown_message")

    def test_ack_of_another_agents_copy_is_unknown(self):
        self.p.publish("task.item", {"n": 1})
        d = self.expect(self.w)
        other = self.agent("slow")
        other.send_frames("ACK", {"msg": d.msg})
        self.assertError(other, "unknown_message")
        d.ack()

    def test_errors_keep_command_order(self):
        # ERROR for the ACK comes before the PONG for the PING after it
        self.w.send_frames("ACK", {"msg": "nope"})
        self.w.send_frames("PING", {})
        self.assertError(self.w, "unknown_message")
        self.assertEqual(self.expect_message(self.w).command, "PONG")


class Retry(abtest.BrokerTestCase):

    edges = SHORT

    def setUp(self):
        super().setUp()
        self.p = self.agent("producer")
        self.w = self.agent("worker")

    def test_ack_timeout_redelivers_with_attempt_plus_one(self):
        self.p.publish("task.item", {"n": 1}, id="r1")
        d1 = self.expect(self.w)
        t0 = time.monotonic()
        d2 = self.expect(self.w)
        waited = time.monotonic() - t0
        self.assertEqual(d2.msg, d1.msg)
        self.assertEqual((d1.attempt, d2.attempt), (1, 2))
        self.assertEqual(d2.payload, d1.payload)
        self.assertEqual(d2.id, "r1")
        # not before ack_timeout_ms (less a little for the clocks)
        self.assertGreaterEqual(waited, ACK_TIMEOUT_MS / 1000.0 - 0.05)
        d2.ack()
        self.p.publish("task.item", {"n": 2}, id="after")
        self.assertNext(self.w, "after").ack()  # no third attempt of r1

    def test_nack_requeue_redelivers(self):
        self.p.publish("task.item", {"n": 1})
        d1 = self.expect(self.w)
        d1.nack(requeue=True, reason="try later")
        d2 = self.expect(self.w)
        self.assertEqual(d2.msg, d1.msg)
        self.assertEqual(d2.attempt, 2)
        d2.ack()

    def test_nack_default_is_requeue(self):
        self.p.publish("task.item", {"n": 1})
        d1 = self.expect(self.w)
        self.w.send_frames("NACK", {"msg": d1.msg})
        self.assertEqual(self.expect(self.w).attempt, 2)

    def test_backoff_doubles_per_attempt(self):
        # backoff.job -> backoff: ack_timeout_ms 100, retry_backoff_ms 200:
        # attempt 2 no sooner than 100 + 200 ms after attempt 1, attempt
        # 3 no sooner than 100 + 400 ms after attempt 2 (lower bounds only)
        b = self.agent("backoff")
        self.p.publish("backoff.job", {"n": 1})
        times = []
        for attempt in (1, 2, 3):
            d = self.expect(b)
            times.append(time.monotonic())
            self.assertEqual(d.attempt, attempt)
        d.ack()
        self.assertGreaterEqual(times[1] - times[0], 0.28)
        self.assertGreaterEqual(times[2] - times[1], 0.48)

    def test_retry_prefers_another_instance(self):
        # section 5: redelivered "to another instance whenever one has
        # credit"
        self.p.publish("task.item", {"n": 1})
        d1 = self.expect(self.w)
        other = self.agent("worker", instance="other")
        d2 = self.expect(other)
        self.assertEqual((d2.msg, d2.attempt), (d1.msg, 2))
        d2.ack()


class DeadLetter(abtest.BrokerTestCase):

    edges = SHORT

    def setUp(self):
        super().setUp()
        self.p = self.agent("producer")
        self.g = self.agent("graveyard")

    def assertDeadLetter(self, d, reason, attempts, payload, id=None):
        self.assertEqual(d.type, "agentbus.dead_letter")
        self.assertEqual(d.reason, reason, d.header)
        o = d.original
        self.assertIsInstance(o, dict, d.header)
        self.assertEqual(o.get("type"), "task.item")
        self.assertEqual(o.get("version"), 1)
        self.assertEqual(o.get("from"), "producer")
        self.assertEqual(o.get("to"), "worker")
        self.assertEqual(o.get("attempts"), attempts)
        if id is not None:
            self.assertEqual(o.get("id"), id)
        self.assertEqual(d.payload, payload)
        d.ack()

    def test_nack_without_requeue(self):
        w = self.agent("worker")
        self.p.publish("task.item", {"n": 1, "text": "bad"}, id="d1")
        self.expect(w).nack(requeue=False, reason="cannot parse")
        self.assertDeadLetter(self.expect(self.g), "rejected", 1,
                              {"n": 1, "text": "bad"}, "d1")
        self.p.publish("task.item", {"n": 9}, id="after")
        self.assertNext(w, "after").ack()  # d1 was not redelivered

    def test_max_attempts(self):
        w = self.agent("worker")
        self.p.publish("task.item", {"n": 2}, id="d2")
        attempts = [self.expect(w).attempt for _ in range(3)]
        self.assertEqual(attempts, [1, 2, 3])
        self.assertDeadLetter(self.expect(self.g), "max_attempts", 3,
                              {"n": 2}, "d2")
        self.p.publish("task.item", {"n": 9}, id="after")
        self.assertNext(w, "after").ack()  # no fourth attempt

    def test_message_ttl_expires_undelivered(self):
        self.p.publish("task.item", {"n": 3}, id="d3", ttl_ms=200)
        self.assertDeadLetter(self.expect(self.g), "expired", 0,
                              {"n": 3}, "d3")
        self.p.publish("task.item", {"n": 9}, id="after")
        self.assertNext(self.agent("worker"), "after").ack()

    def test_ttl_runs_out_in_flight(self):
        # slow.job: ack_timeout_ms 30000, so only the ttl can end it
        s = self.agent("slow")
        self.p.publish("slow.job", {"n": 8}, id="held", ttl_ms=1000)
        d = self.expect(s)
        dl = self.expect(self.g)
        self.assertEqual((dl.reason, dl.original.get("attempts"),
                          dl.original.get("to"), dl.original.get("id")),
                         ("expired", 1, "slow", "held"))
        d.ack()  # too late: the copy is gone
        self.assertError(s, "unknown_message")

    def test_edge_ttl_expires(self):
        # ttl.note: producer -> sleepy, ttl_ms 300, nobody consuming
        self.p.publish("ttl.note", {"k": 1}, id="t1")
        d = self.expect(self.g)
        self.assertEqual(d.type, "agentbus.dead_letter")
        self.assertEqual(d.reason, "expired")
        self.assertEqual(d.original.get("type"), "ttl.note")
        self.assertEqual(d.original.get("to"), "sleepy")
        self.assertEqual(d.original.get("attempts"), 0)
        self.assertEqual(d.payload, {"k": 1})
        d.ack()
        self.assertNoDelivery(self.agent("sleepy"), 300)

    def test_dead_letter_waits_for_graveyard(self):
        self.g.close(bye=True)
        w = self.agent("worker")
        self.p.publish("task.item", {"n": 4}, id="d4")
        self.expect(w).nack(requeue=False)
        w.ping()  # answered after the NACK: the dead letter is queued
        g = self.agent("graveyard", instance="late")
        self.assertDeadLetter(self.expect(g), "rejected", 1, {"n": 4}, "d4")


if __name__ == "__main__":
    abtest.main()
