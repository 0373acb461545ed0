# test_garbage.py - broken frames never crash or silence the broker
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Bad input against the real agentbusd (protocol section 2): each
message that breaks the frame table gets ERROR protocol, registered
sender or not, and the broker goes on serving."""

import random

import abtest
from abtest import agentbus

SIG = b"ABP/1"

#: (name, frames) that break the frame table of section 2.
BROKEN = [
    ("one empty frame", [b""]),
    ("signature only", [SIG]),
    ("no header", [SIG, b"PING"]),
    ("wrong signature", [b"ABP/2", b"PING", b"{}"]),
    ("lower-case signature", [b"abp/1", b"PING", b"{}"]),
    ("unknown command", [SIG, b"FROB", b"{}"]),
    ("lower-case command", [SIG, b"ping", b"{}"]),
    ("header not JSON", [SIG, b"PING", b"{nope"]),
    ("header an array", [SIG, b"PING", b"[]"]),
    ("header a string", [SIG, b"PING", b'"x"']),
    ("header empty", [SIG, b"PING", b""]),
    ("header bad UTF-8", [SIG, b"PING", b'{"a":"\xc3\x28"}']),
    ("PUB without payload", [SIG, b"PUB", b'{"type":"task.item"}']),
    ("REQ without payload", [SIG, b"REQ", b'{"type":"llm.prompt"}']),
    ("REP without payload", [SIG, b"REP", b'{"msg":"m"}']),
    ("PING with payload", [SIG, b"PING", b"{}", b"{}"]),
    ("ACK with payload", [SIG, b"ACK", b'{"msg":"m"}', b"{}"]),
    ("HELLO with payload", [SIG, b"HELLO", b'{"agent":"producer"}', b"{}"]),
    ("broker command sent to broker", [SIG, b"WELCOME", b"{}"]),
    ("DELIVER sent to broker", [SIG, b"DELIVER", b"{}", b"{}"]),
    ("nul in command", [SIG, b"PI\x00NG", b"{}"]),
    ("huge header, not JSON", [SIG, b"PING",
                               b'{"pad":"' + b"x" * (4 << 20)]),
    ("deep header", [SIG, b"PING", b"[" * 100000 + b"]" * 100000]),
]


class Garbage(abtest.BrokerTestCase):

    def check_still_serving(self):
        self.assertTrue(self.broker.alive(), self.broker.stderr())
        p = self.agent("producer", instance="after")
        self.assertEqual(p.ping(), {})
        w = self.agent("worker", instance="after")
        ok = p.publish("task.item", {"n": 1}, id="after")
        self.assertEqual(ok["routed"], 1)
        while True:  # earlier tests may have queued copies before it
            d = self.expect(w)
            d.ack()
            if d.id == "after":
                break
        self.assertEqual(d.payload, {"n": 1})

    def run_broken(self, sock):
        for name, frames in BROKEN:
            with self.subTest(name):
                sock.send_raw(frames)
                m = self.expect_message(sock)
                self.assertEqual((m.command, m.header.get("code")),
                                 ("ERROR", "protocol"), m.header)

    def test_each_broken_message_unregistered(self):
        self.run_broken(self.raw())
        self.check_still_serving()

    def test_each_broken_message_registered(self):
        sock = self.agent("producer")
        self.run_broken(sock)
        # still registered: a protocol error does not end the session
        self.assertEqual(sock.publish("task.item", {"n": 2})["routed"], 1)
        self.check_still_serving()

    def test_huge_valid_header_is_served(self):
        sock = self.agent("producer")
        sock.send_raw([SIG, b"PING", b'{"pad":"' + b"x" * (4 << 20) + b'"}'])
        self.assertEqual(self.expect_message(sock).command, "PONG")

    def test_random_flood(self):
        rng = random.Random(20261124)
        socks = [self.raw() for _ in range(4)]
        for i in range(2000):
            nframes = rng.randint(1, 7)
            frames = [rng.randbytes(rng.choice((0, 1, 5, 64, 3000)))
                      for _ in range(nframes)]
            if i % 3 == 0:  # half-valid: right signature, random rest
                frames[0] = SIG
            if i % 5 == 0 and nframes > 1:
                frames[1] = rng.choice([b"PUB", b"REQ", b"REP", b"ACK",
                                        b"NACK", b"HELLO", b"CREDIT",
                                        b"BYE", b"PING"])
            rng.choice(socks).send_raw(frames)
        # drain whatever was answered; the broker must not have died
        for s in socks:
            while s.recv_frames(50) is not None:
                pass
        self.check_still_serving()

    def test_many_frames(self):
        sock = self.agent("producer")
        sock.send_frames("PUB", {"type": "fan.note"}, {},
                         attachments=[b""] * 10000)
        m = self.expect_message(sock, 10000)
        self.assertEqual((m.command, m.header.get("code")),
                         ("REJECT", "malformed"), m.header)
        self.check_still_serving()

    def test_header_value_fuzz(self):
        # every command with every header field set to values of the
        # wrong type or range: answered or ignored, never a crash
        rng = random.Random(7)
        weird = [None, True, -1, 0, 2 ** 63, -2 ** 63, 2 ** 64, 1e308,
                 -0.5, "", "\u0000", "x" * 70000, [], {}, [[[]]],
                 {"a": {"b": None}}, "task.item", "llm.prompt", "producer"]
        fields = ["agent", "credit", "instance", "type", "version", "id",
                  "seq", "ttl_ms", "traceparent", "timeout_ms", "msg",
                  "partial", "requeue", "reason"]
        commands = ["PUB", "REQ", "REP", "ACK", "NACK", "CREDIT", "PING"]
        sock = self.agent("producer")
        for i in range(600):
            command = rng.choice(commands)
            header = {f: rng.choice(weird)
                      for f in rng.sample(fields, rng.randint(1, 4))}
            payload = rng.choice([{}, {"n": 1}, {"prompt": "p"}, [], 1,
                                  None]) \
                if command in ("PUB", "REQ", "REP") else agentbus._NOTHING
            sock.send_frames(command, header, payload)
            if i % 50 == 49:
                self.assertTrue(self.broker.alive(), self.broker.stderr())
                sock.poll(10)
        hello = self.raw()
        for i in range(100):
            header = {f: rng.choice(weird)
                      for f in rng.sample(["agent", "credit", "instance"],
                                          rng.randint(1, 3))}
            hello.send_frames("HELLO", header)
        for s in (sock, hello):
            while s.recv_frames(100) is not None:
                pass
        self.check_still_serving()

    def test_well_formed_but_wrong_values(self):
        # valid frames, nonsense values: answered, never a crash
        sock = self.agent("producer")
        cases = [
            ("PUB", {"type": 5}, {}),
            ("PUB", {"type": "task.item", "version": "one"}, {"n": 1}),
            ("PUB", {"type": "task.item", "version": -1}, {"n": 1}),
            ("PUB", {"type": "task.item", "seq": "x"}, {"n": 1}),
            ("PUB", {"type": "task.item", "id": "i" * 200}, {"n": 1}),
            ("PUB", {}, {"n": 1}),
            ("PUB", {"type": "x" * 5000}, {}),
            ("REQ", {"type": "llm.prompt", "timeout_ms": "soon"},
             {"prompt": "p"}),
            ("REP", {"msg": 12}, {"text": "t"}),
            ("REP", {}, {"text": "t"}),
        ]
        for command, header, payload in cases:
            with self.subTest(command=command, header=str(header)[:60]):
                sock.send_frames(command, header, payload)
                m = self.expect_message(sock)
                self.assertIn(m.command, ("REJECT", "ERROR"), m.header)
        for header in ({"credit": 0}, {"credit": -3}, {"credit": "many"},
                       {}):
            sock.send_frames("CREDIT", header)
        sock.send_frames("ACK", {"msg": 7})
        sock.send_frames("NACK", {"msg": None, "requeue": "maybe"})
        sock.send_frames("PING", {})
        for _ in range(20):
            m = self.expect_message(sock)
            if m.command == "PONG":
                break
            self.assertEqual(m.command, "ERROR", m.header)
        else:
            self.fail("no PONG after the bad commands")
        self.check_still_serving()


if __name__ == "__main__":
    abtest.main()
