# test_session.py - HELLO, PING, BYE, CREDIT, heartbeats and session errors
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Sessions against the real agentbusd (protocol sections 3 and 5)."""

import time

import abtest
from abtest import agentbus


class Hello(abtest.BrokerTestCase):

    def test_welcome_fields(self):
        a = self.agent("producer")
        self.assertEqual(a.welcome["agent"], "producer")
        self.assertIsInstance(a.heartbeat_ms, int)
        self.assertGreaterEqual(a.heartbeat_ms, 1)
        # NAME@HASH (protocol section 3)
        self.assertRegex(a.topology, r"^pybroker@\S+$")

    def test_default_heartbeat_is_1000(self):
        # files-and-commands: heartbeat_ms defaults to 1000
        self.assertEqual(self.agent("worker").heartbeat_ms, 1000)

    def test_unknown_agent(self):
        with self.assertRaises(agentbus.ProtocolError) as cm:
            self.agent("nobody")
        self.assertEqual(cm.exception.code, "unknown_agent")

    def test_hello_without_agent_is_an_error(self):
        raw = self.raw()
        raw.send_frames("HELLO", {"credit": 1})
        m = self.expect_message(raw)
        self.assertEqual(m.command, "ERROR", m.header)

    def test_hello_with_bad_credit(self):
        # section 3: credit is an int >= 1 (docs/protocol.md: ERROR
        # protocol otherwise)
        for credit in (0, -1, "16", 1.5):
            raw = self.raw()
            raw.send_frames("HELLO", {"agent": "worker", "credit": credit})
            m = self.expect_message(raw)
            self.assertEqual(m.command, "ERROR", (credit, m.header))

    def test_not_registered(self):
        raw = self.raw()
        nothing = agentbus._NOTHING
        for command, header, payload in (
                ("PUB", {"type": "task.item"}, {"n": 1}),
                ("REQ", {"type": "llm.prompt"}, {"prompt": "p"}),
                ("REP", {"msg": "m"}, {"text": "t"}),
                ("ACK", {"msg": "m"}, nothing),
                ("NACK", {"msg": "m"}, nothing),
                ("CREDIT", {"credit": 3}, nothing),
                ("PING", {}, nothing),
                ("BYE", {}, nothing)):
            raw.send_frames(command, header, payload)
            self.assertError(raw, "not_registered")

    def test_ping_pong(self):
        a = self.agent("producer")
        self.assertEqual(a.ping(), {})

    def test_two_instances_of_one_agent(self):
        a = self.agent("worker", instance="one")
        b = self.agent("worker", instance="two")
        self.assertEqual(a.topology, b.topology)
        a.ping()
        b.ping()

    def test_rehello_after_bye(self):
        a = self.agent("producer")
        a.bye()
        a.send_frames("PING", {})
        self.assertError(a, "not_registered")
        # the helper says HELLO again on not_registered and resends
        ok = a.publish("task.item", {"n": 1})
        self.assertEqual(ok["routed"], 1)

    def test_helper_rehellos_transparently(self):
        a = self.agent("producer")
        a.bye()
        before = a.hello_count
        a.publish("task.item", {"n": 1})
        self.assertEqual(a.hello_count, before + 1)

    def test_sigterm_exits_zero(self):
        self.agent("producer").publish("task.item", {"n": 1})
        self.assertEqual(self.broker.stop(), 0, self.broker.stderr())


class Bye(abtest.BrokerTestCase):

    def test_bye_requeues_without_counting_an_attempt(self):
        p = self.agent("producer")
        a = self.agent("slow", instance="a")
        p.publish("slow.job", {"n": 7}, id="j7")
        d = self.expect(a)
        self.assertEqual(d.attempt, 1)
        b = self.agent("slow", instance="b")
        a.bye()
        d2 = self.expect(b)
        self.assertEqual(d2.msg, d.msg)
        self.assertEqual(d2.attempt, 1)
        self.assertEqual(d2.payload, {"n": 7})
        d2.ack()


class Credit(abtest.BrokerTestCase):

    def test_credit_limit_respected(self):
        p = self.agent("producer")
        w = self.agent("slow", credit=2)
        for n in range(6):
            p.publish("slow.job", {"n": n})
        got = [self.expect(w), self.expect(w)]
        self.assertNoDelivery(w, 300)
        got[0].ack()
        got.append(self.expect(w))
        self.assertNoDelivery(w, 300)
        self.assertEqual([d.payload["n"] for d in got], [0, 1, 2])

    def test_default_credit_is_16(self):
        p = self.agent("producer")
        w = self.agent("slow", hello=False)
        w.send_frames("HELLO", {"agent": "slow"})
        self.assertEqual(self.expect_message(w).command, "WELCOME")
        for n in range(20):
            p.publish("slow.job", {"n": n})
        got = [self.expect(w) for _ in range(16)]
        self.assertNoDelivery(w, 300)
        self.assertEqual([d.payload["n"] for d in got], list(range(16)))

    def test_credit_command_widens_window(self):
        p = self.agent("producer")
        w = self.agent("slow", credit=1)
        for n in range(5):
            p.publish("slow.job", {"n": n})
        first = self.expect(w)
        self.assertNoDelivery(w, 300)
        w.credit(4)
        more = [self.expect(w) for _ in range(3)]
        self.assertNoDelivery(w, 300)
        self.assertEqual([d.payload["n"] for d in [first] + more],
                         [0, 1, 2, 3])

    def test_credit_command_narrows_window(self):
        p = self.agent("producer")
        w = self.agent("slow", credit=3)
        w.credit(1)
        w.ping()  # the CREDIT is processed before the PUBs below
        for n in range(3):
            p.publish("slow.job", {"n": n})
        d = self.expect(w)
        self.assertNoDelivery(w, 300)
        d.ack()
        self.assertEqual(self.expect(w).payload["n"], 1)


class Heartbeat(abtest.BrokerTestCase):
    # an instance silent for 3 heartbeats (1.5 s) is dead: long enough
    # that a loaded machine does not starve the helper's PINGs that long
    heartbeat_ms = 500
    config = {"heartbeat_ms": heartbeat_ms}

    def test_welcome_says_configured_heartbeat(self):
        self.assertEqual(self.agent("producer").heartbeat_ms,
                         self.heartbeat_ms)

    def test_polling_agent_stays_alive(self):
        # The helper PINGs from its own loop: five seconds of receive()
        # (10 heartbeats) must not cost the session.
        w = self.agent("slow")
        self.assertNoDelivery(w, 10 * self.heartbeat_ms)
        before = w.hello_count
        self.agent("producer").publish("slow.job", {"n": 1})
        self.assertEqual(self.expect(w).payload, {"n": 1})
        self.assertEqual(w.hello_count, before)
        self.assertEqual(w.errors, [])

    def test_silent_instance_is_forgotten(self):
        # Silent for more than 3 x heartbeat_ms, the instance is
        # forgotten: its next PING is not_registered.  On a loaded machine
        # the broker may notice late; a PING it still answers PONG starts
        # the silence over, so the test waits again (the claim is
        # "eventually, once silent long enough", never "within N ms").
        a = self.agent("producer", heartbeat=False)
        deadline = time.monotonic() + abtest.WAIT_MS / 1000.0
        while True:
            time.sleep(4 * self.heartbeat_ms / 1000.0)
            a.send_frames("PING", {})
            m = self.expect_message(a)
            if m.command != "PONG" or time.monotonic() > deadline:
                break
        self.assertEqual((m.command, m.header.get("code")),
                         ("ERROR", "not_registered"), m.header)

    def test_dead_instance_copies_go_to_another(self):
        # slow.job has a 30 s ack timeout: only heartbeat death can move
        # the copy within this test.
        p = self.agent("producer")
        dead = self.agent("slow", instance="dead", heartbeat=False)
        p.publish("slow.job", {"n": 42}, id="hb")
        d = self.expect(dead)
        live = self.agent("slow", instance="live")
        d2 = self.expect(live)
        self.assertEqual(d2.msg, d.msg)
        self.assertEqual(d2.id, "hb")
        self.assertEqual(d2.attempt, 2)
        d2.ack()


if __name__ == "__main__":
    abtest.main()
