# test_accept_all.py - types whose schema accepts everything
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Payloads of types whose schema is ``true`` or ``{}`` against the real
agentbusd.  For those the broker only scans the payload (ab_jsonscan)
instead of building its tree, so these tests hold it to what jansson
decides: the same texts are refused ``malformed``, a tensor reference
still needs its frame, an edge's filter stage still sees the payload,
and what passes is delivered byte for byte.

The topology is written per test into a temporary folder (the redact
plugin's path is only known at run time)."""

import json
import os
import shutil
import tempfile

import abtest

SIG = b"ABP/1"

#: The redact example plugin, for an edge's own filter stage.
REDACT = os.path.join(abtest.BUILDDIR, "contrib", "filters", ".libs",
                      "redact.so")

#: The types the tests publish, with their schemas.
SCHEMAS = {
    "any.true": True,
    "any.empty": {},
    "note.true": True,
    "ask.true": True,
    "answer.true": {"description": "annotation only"},
    "job.true": True,
}

#: Payloads that are not JSON: (case, text).  Each must be answered
#: REJECT malformed "payload is not JSON...", as jansson decides.
NOT_JSON = [
    ("trailing garbage", b"{} x"),
    ("truncated", b'{"a":'),
    ("invalid UTF-8 in a string", b'{"a":"\xc3\x28"}'),
    ("overlong UTF-8 in a string", b'["\xc0\xaf"]'),
    ("escaped NUL", b'{"a":"\\u0000"}'),
    ("raw NUL after a number", b"[1\x00]"),
    ("raw NUL at the end", b"{}\x00"),
    ("integer too big", b"9223372036854775808"),
    ("integer too big in an array", b"[-9223372036854775809]"),
    ("real overflows", b"1e400"),
    ("2049 nested arrays", b"[" * 2049 + b"]" * 2049),
    ("empty", b""),
    ("lone surrogate", b'"\\ud800"'),
    ("single quotes", b"{'a':1}"),
    ("trailing comma", b"[1,]"),
]

#: Valid payloads, some unusually spelled: delivered exactly as sent.
VALID = [
    b'{ "a" : [ 1 , 2.50 , -0 , 1E2 ] ,\n\t"b":"\\u00e9\xc3\xa9" }',
    b'"just a string"',
    b"null",
    b"  17  ",
    b"9223372036854775807",
    b"[-9223372036854775808, 1e308]",
    b"[" * 2048 + b"]" * 2048,
    b'{"frames": 1, "fram": 2, "\\u0066rames": 3}',
]


def tensor_ref(key=b"frame"):
    return b'{"x":{"dtype":"float32","shape":[2],"' + key + b'":0}}'


class AcceptAll(abtest.BrokerTestCase):
    # long enough that no instance is declared dead, and no PING of the
    # test's agents wakes the broker, while a test runs
    config = {"heartbeat_ms": 20000}

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="abtest-accept-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        os.mkdir(os.path.join(self.dir, "schemas"))
        for name, schema in SCHEMAS.items():
            abtest.write_config(
                os.path.join(self.dir, "schemas", name + ".v1.yaml"),
                {"type": name, "version": 1, "schema": schema})
        redact = {"plugin": REDACT, "fields": ["secret"]}
        topology = {
            "topology": "accept-all",
            "schemas": "schemas",
            "agents": {name: {} for name in (
                "producer", "sink", "fan-a", "fan-b", "frontend", "llm",
                "slow")},
            "edges": [
                {"from": "producer", "to": "sink", "type": "any.true"},
                {"from": "producer", "to": "sink", "type": "any.empty"},
                {"from": "producer", "to": "fan-a", "type": "note.true",
                 "filters": [redact]},
                {"from": "producer", "to": "fan-b", "type": "note.true"},
                {"from": "frontend", "to": "llm", "type": "ask.true",
                 "reply": "answer.true", "ack_timeout_ms": 30000},
                {"from": "producer", "to": "slow", "type": "job.true",
                 "ack_timeout_ms": 30000},
            ],
        }
        self.topology = os.path.join(self.dir, "topology.yaml")
        abtest.write_config(self.topology, topology)
        if not os.path.exists(REDACT):
            self.skipTest("%s is not built" % REDACT)
        super().setUp()

    # -- helpers ------------------------------------------------------------

    def expect_raw_deliver(self, agent, timeout_ms=abtest.WAIT_MS):
        """The next DELIVER of ``agent`` as raw frames (bytes); acked."""
        frames = agent.recv_frames(timeout_ms)
        self.assertIsNotNone(frames, "%s: no delivery" % agent.agent)
        frames = [f.bytes for f in frames]
        self.assertEqual(frames[:2], [SIG, b"DELIVER"])
        header = json.loads(frames[2])
        agent.send_frames("ACK", {"msg": header["msg"]})
        return header, frames[3:]

    def assertNotJson(self, agent, type, payload, attachments=()):
        e = self.assertRejected("malformed", agent.publish, type, payload,
                                attachments=attachments)
        self.assertTrue(e.message.startswith("payload is not JSON"),
                        e.message)
        return e

    # -- payloads -----------------------------------------------------------

    def test_valid_delivered_byte_for_byte(self):
        p = self.agent("producer")
        s = self.agent("sink")
        for type in ("any.true", "any.empty"):
            for payload in VALID:
                with self.subTest(type=type, payload=payload[:40]):
                    self.assertEqual(p.publish(type, payload)["routed"], 1)
                    header, body = self.expect_raw_deliver(s)
                    self.assertEqual(header["type"], type)
                    self.assertEqual(body, [payload])

    def test_not_json_is_malformed(self):
        p = self.agent("producer")
        s = self.agent("sink")
        for type in ("any.true", "any.empty"):
            for case, payload in NOT_JSON:
                with self.subTest(type=type, case=case):
                    self.assertNotJson(p, type, payload)
        self.assertNoDelivery(s)
        # the broker is unharmed and the fast path still delivers
        p.publish("any.true", b"[1]")
        self.assertEqual(self.expect_raw_deliver(s)[1], [b"[1]"])

    def test_nul_byte_position_is_reported(self):
        p = self.agent("producer")
        e = self.assertNotJson(p, "any.true", b"[1\x00]")
        self.assertIn("NUL byte at 2", e.message)

    def test_tensor_reference_needs_its_frame(self):
        p = self.agent("producer")
        s = self.agent("sink")
        for type in ("any.true", "any.empty"):
            with self.subTest(type=type):
                self.assertRejected("malformed", p.publish, type,
                                    tensor_ref())
                # the same key spelled with an escape is the same key
                self.assertRejected("malformed", p.publish, type,
                                    tensor_ref(b"fr\\u0061me"))
                self.assertRejected("malformed", p.publish, type,
                                    tensor_ref(b"\\u0066\\u0072ame"))
                # an attachment nothing refers to
                self.assertRejected("malformed", p.publish, type, b"{}",
                                    attachments=[bytes(8)])
                # with its 8 bytes it goes through, attachment and all
                data = bytes(range(1, 9))
                p.publish(type, tensor_ref(), attachments=[data])
                header, body = self.expect_raw_deliver(s)
                self.assertEqual(body, [tensor_ref(), data])
                p.publish(type, tensor_ref(b"fr\\u0061me"),
                          attachments=[data])
                header, body = self.expect_raw_deliver(s)
                self.assertEqual(body, [tensor_ref(b"fr\\u0061me"), data])
        self.assertNoDelivery(s)

    def test_edge_filter_sees_the_payload(self):
        # fan-a's edge has a redact stage; fan-b's has none
        p = self.agent("producer")
        fa = self.agent("fan-a")
        fb = self.agent("fan-b")
        sent = b'{"secret" : "hunter2", "deep": [{"secret": 1}], "open": 1}'
        self.assertEqual(p.publish("note.true", sent)["routed"], 2)
        self.assertEqual(self.expect(fa).payload,
                         {"secret": "[redacted]",
                          "deep": [{"secret": "[redacted]"}], "open": 1})
        self.assertEqual(self.expect_raw_deliver(fb)[1], [sent])
        # what is not JSON is refused before any edge stage runs
        for case, payload in NOT_JSON:
            with self.subTest(case=case):
                self.assertNotJson(p, "note.true", payload)
        self.assertNoDelivery(fa)
        self.assertNoDelivery(fb)

    def test_reply_payload_checked_too(self):
        f = self.agent("frontend")
        llm = self.agent("llm")
        f.send_frames("REQ", {"type": "ask.true", "id": "r1"}, b' {"q":1} ')
        header, body = self.expect_raw_deliver(llm)
        self.assertEqual(body, [b' {"q":1} '])
        for case, payload in NOT_JSON:
            with self.subTest(case=case):
                llm.send_frames("REP", {"msg": header["msg"]}, payload)
                m = self.expect_message(llm)
                self.assertEqual((m.command, m.header.get("code")),
                                 ("REJECT", "malformed"), m.header)
                self.assertTrue(m.header["message"].startswith(
                    "payload is not JSON"), m.header)
        # the request stayed open: a good reply reaches the requester
        llm.send_frames("REP", {"msg": header["msg"]}, b"[ 1 ,2 ]")
        m = self.expect_message(llm)
        self.assertEqual(m.command, "OK", m.header)
        frames = f.recv_frames(abtest.WAIT_MS)
        self.assertIsNotNone(frames, "no REPLY")
        frames = [x.bytes for x in frames]
        self.assertEqual(frames[1], b"REPLY")
        self.assertEqual(frames[3:], [b"[ 1 ,2 ]"])

    # -- a consumer that vanishes -------------------------------------------

    def vanish(self, agent):
        """Closes the agent's socket without BYE and waits until the
        broker's libzmq has closed its end of the connection (so the
        broker's next DELIVER to it is refused)."""
        before = self.broker.connections()
        agent.socket.close(0)
        self.wait_until(lambda: self.broker.connections() < before,
                        "the broker closes the vanished connection")

    def test_vanished_consumer_copies_go_to_the_other_instance(self):
        # x and y both have credit; x is gone when the messages come, so
        # the DELIVERs meant for it are refused at the end of the turn
        # and its copies must reach y: not after a heartbeat (20 s), not
        # after an ack timeout (30 s), and without any other traffic
        p = self.agent("producer")
        x = self.agent("slow", instance="x")
        y = self.agent("slow", instance="y")
        self.vanish(x)
        for n in range(4):
            p.publish("job.true", json.dumps({"n": n}).encode())
        got = sorted(self.expect(y).payload["n"] for _ in range(4))
        self.assertEqual(got, [0, 1, 2, 3])

    def test_vanished_consumer_single_copy_without_other_traffic(self):
        # x said HELLO first, so it is picked for the one message; the
        # refused DELIVER is the last thing that happens: the broker must
        # get on with it by itself
        p = self.agent("producer")
        x = self.agent("slow", instance="x")
        y = self.agent("slow", instance="y")
        self.vanish(x)
        p.publish("job.true", b'{"n": 0}')
        d = self.expect(y)
        self.assertEqual(d.payload, {"n": 0})
        d.ack()

    def test_vanished_consumer_in_flight_copies_requeued(self):
        # x holds two unacknowledged copies when it goes; the third
        # DELIVER finds it gone, and all three reach the next instance
        p = self.agent("producer")
        x = self.agent("slow", instance="x")
        for n in range(2):
            p.publish("job.true", json.dumps({"n": n}).encode())
        held = [self.expect(x).payload["n"] for _ in range(2)]
        self.assertEqual(sorted(held), [0, 1])
        self.vanish(x)
        p.publish("job.true", b'{"n": 2}')
        y = self.agent("slow", instance="y")
        deliveries = [self.expect(y) for _ in range(3)]
        self.assertEqual(sorted(d.payload["n"] for d in deliveries),
                         [0, 1, 2])
        for d in deliveries:
            # the two x held were delivered once before; the refused
            # DELIVER never left, so it is not an attempt
            self.assertEqual(d.attempt, 2 if d.payload["n"] < 2 else 1,
                             d.header)
            d.ack()
        self.assertNoDelivery(y)


if __name__ == "__main__":
    abtest.main()
