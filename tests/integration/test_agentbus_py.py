# test_agentbus_py.py - the Python agent helper against a scripted peer
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""contrib/python/agentbus.py on its own: a scripted ROUTER in a thread
plays the broker, so the frames the helper sends and how it reads the
answers are checked exactly, without agentbusd (this script never
skips)."""

import json
import threading
import time
import unittest

import numpy
import zmq

from abtest import agentbus

SIG = b"ABP/1"


def frames_of(command, header, payload=None, attachments=()):
    frames = [SIG, command.encode(), json.dumps(header).encode()]
    if payload is not None:
        frames.append(json.dumps(payload).encode())
    return frames + list(attachments)


class FakeBroker(threading.Thread):
    """A ROUTER that answers with ``handlers[command](header, payload,
    message)`` -> list of frame lists; HELLO and PING have defaults.
    Every received message is kept in ``seen`` as (command, header,
    payload, frames)."""

    def __init__(self, heartbeat_ms=1000):
        super().__init__(daemon=True)
        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = "tcp://127.0.0.1:%d" % port
        self.seen = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.outbox = []  # frames to push to the last peer, unprompted
        self.peer = None
        self.handlers = {
            "HELLO": lambda h, p, f: [frames_of(
                "WELCOME", {"agent": h.get("agent"),
                            "heartbeat_ms": heartbeat_ms,
                            "topology": "fake@0123abcd"})],
            "PING": lambda h, p, f: [frames_of("PONG", {})],
        }

    def run(self):
        while not self.stopping.is_set():
            with self.lock:
                while self.outbox and self.peer is not None:
                    self.router.send_multipart([self.peer]
                                               + self.outbox.pop(0))
            if not self.router.poll(10):
                continue
            msg = self.router.recv_multipart()
            self.peer, frames = msg[0], msg[1:]
            command = frames[1].decode()
            header = json.loads(frames[2])
            payload = json.loads(frames[3]) if len(frames) > 3 and \
                command in ("PUB", "REQ", "REP") else None
            with self.lock:
                self.seen.append((command, header, payload, frames))
            handler = self.handlers.get(command)
            for answer in (handler(header, payload, frames)
                           if handler else []):
                self.router.send_multipart([self.peer] + answer)
        self.router.close(0)
        self.context.term()

    def push(self, frames):
        with self.lock:
            self.outbox.append(frames)

    def commands(self):
        with self.lock:
            return [s[0] for s in self.seen]

    def wait_for(self, command, count=1, timeout=30.0):
        """Waits until ``command`` has been received ``count`` times (a
        loaded machine may take a while)."""
        deadline = time.monotonic() + timeout
        while self.commands().count(command) < count:
            if time.monotonic() > deadline:
                raise AssertionError("fake broker never got %s" % command)
            time.sleep(0.01)

    def last(self, command):
        with self.lock:
            return [s for s in self.seen if s[0] == command][-1]


class HelperTest(unittest.TestCase):
    heartbeat_ms = 1000

    def setUp(self):
        self.fake = FakeBroker(self.heartbeat_ms)
        self.fake.start()
        self.addCleanup(self.fake.join)
        self.addCleanup(self.fake.stopping.set)
        self.agents = []
        self.addCleanup(lambda: [a.close() for a in self.agents])

    def agent(self, name="producer", **kwargs):
        a = agentbus.Agent(self.fake.endpoint, name, timeout_ms=20000,
                           **kwargs)
        self.agents.append(a)
        return a


class Session(HelperTest):

    def test_hello_and_welcome(self):
        a = self.agent("worker", credit=4, instance="i-1")
        _, header, _, frames = self.fake.last("HELLO")
        self.assertEqual(header, {"agent": "worker", "credit": 4,
                                  "instance": "i-1"})
        self.assertEqual(len(frames), 3)
        self.assertEqual(a.topology, "fake@0123abcd")
        self.assertEqual(a.heartbeat_ms, 1000)
        self.assertEqual(a.welcome["agent"], "worker")

    def test_unknown_agent_raises(self):
        self.fake.handlers["HELLO"] = lambda h, p, f: [
            frames_of("ERROR", {"code": "unknown_agent", "message": "who"})]
        with self.assertRaises(agentbus.ProtocolError) as cm:
            self.agent("nobody")
        self.assertEqual(cm.exception.code, "unknown_agent")

    def test_credit_ping_bye(self):
        a = self.agent()
        a.credit(3)
        self.assertEqual(a.ping(), {})
        a.bye()
        self.fake.wait_for("BYE")
        self.assertEqual(self.fake.commands(),
                         ["HELLO", "CREDIT", "PING", "BYE"])
        self.assertEqual(self.fake.last("CREDIT")[1], {"credit": 3})

    def test_not_registered_rehello_and_resend(self):
        answers = iter([
            [frames_of("ERROR", {"code": "not_registered"})],
            [frames_of("OK", {"id": "a", "routed": 1})]])
        self.fake.handlers["PUB"] = lambda h, p, f: next(answers)
        a = self.agent()
        self.assertEqual(a.publish("t.x", {}, id="a"),
                         {"id": "a", "routed": 1})
        self.assertEqual(self.fake.commands(),
                         ["HELLO", "PUB", "HELLO", "PUB"])
        self.assertEqual(a.hello_count, 2)


class Heartbeat(HelperTest):
    heartbeat_ms = 60

    def pings(self, count, wait):
        """Runs ``wait`` (the agent's loop, 60 ms at a time) until the fake
        broker got ``count`` PINGs: however slowly the machine runs the
        loop, it must PING from it (bounded by a generous deadline)."""
        deadline = time.monotonic() + 30
        while self.fake.commands().count("PING") < count:
            self.assertLess(time.monotonic(), deadline, "too few PINGs")
            wait()

    def test_receive_loop_pings(self):
        a = self.agent()
        self.pings(3, lambda: self.assertIsNone(a.receive(60)))
        self.assertEqual(a.errors, [])

    def test_poll_keeps_deliveries_and_pings(self):
        a = self.agent()
        self.fake.push(frames_of("DELIVER", {"msg": "k"}, {"v": 1}))
        self.pings(2, lambda: a.poll(60))
        self.assertEqual(a.receive(0).msg, "k")

    def test_heartbeat_off(self):
        a = self.agent(heartbeat=False)
        self.assertIsNone(a.receive(300))
        self.assertEqual(self.fake.commands(), ["HELLO"])


class Publish(HelperTest):

    def test_header_fields_and_ok(self):
        self.fake.handlers["PUB"] = lambda h, p, f: [
            frames_of("OK", {"id": h.get("id"), "routed": 2})]
        a = self.agent()
        ok = a.publish("task.item", {"n": 1}, version=2, id="x", seq=7,
                       ttl_ms=100, traceparent="00-a-b-01")
        self.assertEqual(ok, {"id": "x", "routed": 2})
        _, header, payload, frames = self.fake.last("PUB")
        self.assertEqual(header, {"type": "task.item", "version": 2,
                                  "id": "x", "seq": 7, "ttl_ms": 100,
                                  "traceparent": "00-a-b-01"})
        self.assertEqual(payload, {"n": 1})
        self.assertEqual(len(frames), 4)
        a.publish("task.item", {"n": 2})
        self.assertEqual(self.fake.last("PUB")[1], {"type": "task.item"})

    def test_reject_raises_with_errors(self):
        errors = [{"path": "/n", "keyword": "type",
                   "schema_path": "/properties/n/type", "message": "m"}]
        self.fake.handlers["PUB"] = lambda h, p, f: [frames_of(
            "REJECT", {"id": "r", "code": "invalid", "message": "bad",
                       "errors": errors})]
        with self.assertRaises(agentbus.Rejected) as cm:
            self.agent().publish("task.item", {"n": "x"}, id="r")
        self.assertEqual(cm.exception.code, "invalid")
        self.assertEqual(cm.exception.errors, errors)
        self.assertEqual(cm.exception.header["id"], "r")

    def test_tensors_become_attachments(self):
        self.fake.handlers["PUB"] = lambda h, p, f: [frames_of("OK", {})]
        a = self.agent()
        x = numpy.arange(12, dtype=">f4").reshape(3, 4)  # big-endian
        y = numpy.arange(16, dtype=numpy.int64).reshape(4, 4)[:, 1]
        a.publish("blob.tensor", {"x": x, "in": [{"y": y}]},
                  attachments=[b"raw"])
        _, _, payload, frames = self.fake.last("PUB")
        self.assertEqual(payload, {
            "x": {"dtype": "float32", "shape": [3, 4], "frame": 1},
            "in": [{"y": {"dtype": "int64", "shape": [4], "frame": 2}}]})
        self.assertEqual(frames[4], b"raw")
        self.assertEqual(frames[5], x.astype("<f4").tobytes())
        self.assertEqual(frames[6], numpy.ascontiguousarray(y).tobytes())

    def test_delivery_while_waiting_is_kept(self):
        deliver = frames_of("DELIVER", {"msg": "m1", "type": "t",
                                        "attempt": 1}, {"a": 1})
        self.fake.handlers["PUB"] = lambda h, p, f: [
            deliver, frames_of("OK", {"routed": 1})]
        a = self.agent()
        self.assertEqual(a.publish("t", {}), {"routed": 1})
        d = a.receive(100)
        self.assertEqual((d.msg, d.payload), ("m1", {"a": 1}))

    def test_late_unknown_message_error_is_collected(self):
        self.fake.handlers["ACK"] = lambda h, p, f: [
            frames_of("ERROR", {"code": "unknown_message"})]
        self.fake.handlers["PUB"] = lambda h, p, f: [frames_of("OK", {})]
        a = self.agent()
        a.send_frames("ACK", {"msg": "zz"})
        a.publish("t", {})
        self.assertEqual([e["code"] for e in a.errors], ["unknown_message"])


class Receive(HelperTest):

    def test_delivery_fields_ack_nack(self):
        a = self.agent()
        x = numpy.linspace(0, 1, 8, dtype=numpy.float32).reshape(2, 4)
        self.fake.push(frames_of(
            "DELIVER", {"msg": "m7", "type": "blob.tensor", "version": 1,
                        "from": "producer", "id": "p", "attempt": 2,
                        "seq": 9, "traceparent": "tp", "request": False},
            {"x": {"dtype": "float32", "shape": [2, 4], "frame": 0}},
            [x.tobytes()]))
        d = a.receive(20000)
        self.assertEqual((d.msg, d.type, d.version, d.sender, d.id,
                          d.attempt, d.seq, d.traceparent, d.request),
                         ("m7", "blob.tensor", 1, "producer", "p", 2, 9,
                          "tp", False))
        self.assertIsInstance(d.attachments[0], memoryview)
        numpy.testing.assert_array_equal(d.tensor("x"), x)
        d.ack()
        d.nack(requeue=False, reason="no")
        self.fake.wait_for("NACK")
        self.assertEqual(self.fake.last("ACK")[1], {"msg": "m7"})
        self.assertEqual(self.fake.last("NACK")[1],
                         {"msg": "m7", "requeue": False, "reason": "no"})

    def test_receive_times_out(self):
        t0 = time.monotonic()
        self.assertIsNone(self.agent().receive(150))
        self.assertGreaterEqual(time.monotonic() - t0, 0.14)

    def test_reply_waits_for_ok(self):
        self.fake.handlers["REP"] = lambda h, p, f: [
            frames_of("OK", {"msg": h["msg"]})]
        a = self.agent()
        self.fake.push(frames_of("DELIVER", {"msg": "q", "request": True},
                                 {}))
        d = a.receive(20000)
        self.assertTrue(d.request)
        self.assertEqual(d.reply({"text": "t"}, partial=True), {"msg": "q"})
        self.assertEqual(self.fake.last("REP")[1],
                         {"msg": "q", "partial": True})
        d.reply({"text": "u"})
        self.assertEqual(self.fake.last("REP")[1], {"msg": "q"})


class Request(HelperTest):

    def test_partials_then_final(self):
        def answer(h, p, f):
            base = {"id": h["id"], "type": "llm.completion", "version": 1,
                    "from": "llm"}
            return [frames_of("REPLY", dict(base, partial=True), {"i": 0}),
                    frames_of("REPLY", dict(base, id="other"), {"i": 99}),
                    frames_of("REPLY", dict(base, partial=True), {"i": 1}),
                    frames_of("REPLY", base, {"i": 2})]
        self.fake.handlers["REQ"] = answer
        a = self.agent("frontend")
        parts = []
        final = a.request("llm.prompt", {"prompt": "p"}, timeout_ms=500,
                          on_partial=parts.append)
        self.assertEqual([r.payload["i"] for r in parts], [0, 1])
        self.assertEqual(final.payload, {"i": 2})
        self.assertFalse(final.partial)
        _, header, _, _ = self.fake.last("REQ")
        self.assertEqual(header["timeout_ms"], 500)
        self.assertTrue(header["id"])

    def test_request_stream_yields_in_order(self):
        def answer(h, p, f):
            base = {"id": h["id"], "from": "llm"}
            return [frames_of("REPLY", dict(base, partial=True), {"i": 0}),
                    frames_of("REPLY", dict(base, partial=False), {"i": 1})]
        self.fake.handlers["REQ"] = answer
        a = self.agent("frontend")
        got = [(r.partial, r.payload["i"])
               for r in a.request_stream("llm.prompt", {}, id="s1")]
        self.assertEqual(got, [(True, 0), (False, 1)])
        self.assertEqual(self.fake.last("REQ")[1], {"type": "llm.prompt",
                                                    "id": "s1"})

    def test_timeout_reject(self):
        self.fake.handlers["REQ"] = lambda h, p, f: [frames_of(
            "REJECT", {"id": h["id"], "code": "timeout", "message": "late"})]
        with self.assertRaises(agentbus.Rejected) as cm:
            self.agent("frontend").request("llm.prompt", {}, timeout_ms=10)
        self.assertEqual(cm.exception.code, "timeout")

    def test_no_answer_is_local_timeout(self):
        a = agentbus.Agent(self.fake.endpoint, "frontend", timeout_ms=200)
        self.agents.append(a)
        with self.assertRaises(agentbus.Timeout):
            a.publish("t", {})


class Frames(unittest.TestCase):

    def test_parse_rejects_broken_messages(self):
        for frames in ([SIG], [b"ABP/2", b"OK", b"{}"],
                       [SIG, b"OK", b"[]"], [SIG, b"DELIVER", b"{}"],
                       [SIG, b"OK", b"{}", b"{}"], [SIG, b"PONG", b"{x"]):
            with self.subTest(frames=frames):
                with self.assertRaises(agentbus.ProtocolError):
                    agentbus.parse_frames(frames)

    def test_parse_deliver(self):
        m = agentbus.parse_frames([SIG, b"DELIVER", b'{"msg":"1"}',
                                   b"[1]", b"ab", b""])
        self.assertEqual((m.command, m.header, m.payload), ("DELIVER",
                                                            {"msg": "1"},
                                                            [1]))
        self.assertEqual([bytes(x) for x in m.attachments], [b"ab", b""])

    def test_encode_payload_without_arrays(self):
        doc, att = agentbus.encode_payload({"a": [1, "x"]})
        self.assertEqual(json.loads(doc), {"a": [1, "x"]})
        self.assertEqual(att, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
