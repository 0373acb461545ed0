# test_python_sync.py - the synchronous Python client against agentbusd
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""``agentbus.Agent`` (clients/python) over the real broker: publish and
deliver, REJECT with errors, ERROR, request with streamed replies,
tensors byte for byte and without copies, re-HELLO after a broker
restart, local timeouts and a closed agent.  Exits 77 when agentbusd is
not built."""

import threading
import time

import numpy
import zmq

from clienttest import LONG_MS, ClientTestCase, address, agentbus, main


class Messages(ClientTestCase):

    def test_publish_deliver_ack(self):
        worker = self.agent("worker", credit=4)
        producer = self.agent("producer")
        self.assertTrue(producer.topology.startswith("clients@"))
        ok = producer.publish("task.item", {"n": 3, "text": "x"}, id="t-1",
                              seq=7)
        self.assertEqual(ok, {"routed": 1, "id": "t-1"})
        d = self.expect(worker, LONG_MS)
        self.assertIsInstance(d, agentbus.Delivery)
        self.assertEqual((d.type, d.version, d.sender, d.id, d.seq,
                          d.attempt, d.request),
                         ("task.item", 1, "producer", "t-1", 7, 1, False))
        self.assertEqual(d.payload, {"n": 3, "text": "x"})
        d.ack()
        worker.ping()  # the ACK was taken: no ERROR came before the PONG
        self.assertEqual(worker.errors, [])

    def test_nack_requeues(self):
        worker = self.agent("worker")
        self.agent("producer").publish("task.item", {"n": 1})
        first = self.expect(worker, LONG_MS)
        first.nack(requeue=True, reason="busy")
        again = self.expect(worker, LONG_MS)
        self.assertEqual((again.msg, again.attempt), (first.msg, 2))
        again.ack()

    def test_second_ack_is_collected_error(self):
        worker = self.agent("worker")
        self.agent("producer").publish("task.item", {"n": 1})
        d = self.expect(worker, LONG_MS)
        d.ack()
        d.ack()
        worker.ping()  # answers leave in order: the ERROR came first
        self.assertEqual([e["code"] for e in worker.errors],
                         ["unknown_message"])

    def test_reject_has_errors(self):
        producer = self.agent("producer")
        with self.assertRaises(agentbus.Rejected) as cm:
            producer.publish("task.item", {"n": -1}, id="bad")
        e = cm.exception
        self.assertIsInstance(e, agentbus.AgentbusError)
        self.assertEqual(e.code, "invalid")
        self.assertEqual(e.header["id"], "bad")
        self.assertEqual([(x["path"], x["keyword"]) for x in e.errors],
                         [("/n", "minimum")])
        self.assertRejected("unknown_type", producer.publish, "no.such", {})
        # the agent goes on after a REJECT
        self.assertEqual(producer.publish("task.item", {"n": 1})["routed"],
                         1)

    def test_unknown_agent_is_protocol_error(self):
        with self.assertRaises(agentbus.ProtocolError) as cm:
            self.agent("nobody")
        self.assertEqual(cm.exception.code, "unknown_agent")
        self.assertIsInstance(cm.exception, agentbus.AgentbusError)


class Requests(ClientTestCase):

    def serve(self, pieces):
        """An llm in a thread (its own Agent and context) that answers
        one request with ``pieces`` partial replies and a final one."""
        ready = threading.Event()
        failures = []

        def run():
            ctx = zmq.Context()
            try:
                with agentbus.Agent(self.broker.endpoint, "llm",
                                    context=ctx) as llm:
                    ready.set()
                    d = llm.receive(LONG_MS)
                    if d is None or not d.request:
                        failures.append("no request: %r" % d)
                        return
                    for i in range(pieces):
                        d.reply({"text": "p%d" % i, "index": i},
                                partial=True)
                    d.reply({"text": "end", "index": pieces})
            except Exception as exc:
                failures.append(repr(exc))
            finally:
                ready.set()
                ctx.term()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.assertTrue(ready.wait(LONG_MS / 1000))
        self.addCleanup(thread.join, LONG_MS / 1000)
        return thread, failures

    def test_request_with_partials(self):
        thread, failures = self.serve(3)
        fe = self.agent("frontend")
        seen = []
        final = fe.request("llm.prompt", {"prompt": "hi"}, timeout_ms=LONG_MS,
                           on_partial=lambda r: seen.append(r.payload["text"]))
        thread.join(LONG_MS / 1000)
        self.assertEqual(failures, [])
        self.assertEqual(seen, ["p0", "p1", "p2"])
        self.assertEqual((final.partial, final.payload["text"],
                          final.sender), (False, "end", "llm"))

    def test_request_stream(self):
        thread, failures = self.serve(2)
        fe = self.agent("frontend")
        got = [(r.partial, r.payload["index"]) for r in
               fe.request_stream("llm.prompt", {"prompt": "hi"},
                                 timeout_ms=LONG_MS)]
        thread.join(LONG_MS / 1000)
        self.assertEqual(failures, [])
        self.assertEqual(got, [(True, 0), (True, 1), (False, 2)])

    def test_invalid_reply_is_rejected_and_request_stays_open(self):
        llm = self.agent("llm")
        fe = self.agent("frontend")
        fe.send_frames("REQ", {"type": "llm.prompt", "id": "r1",
                               "timeout_ms": LONG_MS}, {"prompt": "x"})
        d = self.expect(llm, LONG_MS)
        with self.assertRaises(agentbus.Rejected) as cm:
            d.reply({"text": 5})
        self.assertEqual(cm.exception.code, "invalid")
        self.assertEqual(cm.exception.errors[0]["path"], "/text")
        self.assertEqual(d.reply({"text": "ok"})["msg"], d.msg)

    def test_broker_timeout_is_rejected(self):
        self.agent("llm")  # holds the request and never answers
        fe = self.agent("frontend")
        with self.assertRaises(agentbus.Rejected) as cm:
            fe.request("llm.prompt", {"prompt": "x"}, timeout_ms=300)
        self.assertEqual(cm.exception.code, "timeout")


class Tensors(ClientTestCase):

    def test_tensors_byte_for_byte_without_copies(self):
        sink = self.agent("sink")
        producer = self.agent("producer")
        x = numpy.random.default_rng(7).standard_normal(
            (8192, 4)).astype(numpy.float32)          # 128 KiB
        y = numpy.arange(100, dtype=numpy.int64)     # 800 bytes: copied
        # sending: the frame for x is x's own memory
        frames = agentbus.build_frames("PUB", {}, {"x": x, "y": y})
        self.assertIsInstance(frames[4], zmq.Frame)
        self.assertEqual(address(frames[4].buffer), address(x))
        producer.publish("blob.tensor", {"x": x, "y": y, "label": "l"})
        d = self.expect(sink, LONG_MS)
        self.assertEqual(d.payload["x"], {"dtype": "float32",
                                          "shape": [8192, 4], "frame": 0})
        got_x, got_y = d.tensor("x"), d.tensor(d.payload["y"])
        self.assertEqual(got_x.tobytes(), x.tobytes())
        self.assertEqual(got_y.tobytes(), y.tobytes())
        self.assertEqual((got_x.dtype, got_x.shape), (x.dtype, x.shape))
        # receiving: the array is a view of the received frame
        frame = d.frames[4]
        self.assertIsInstance(frame, zmq.Frame)
        self.assertEqual(address(got_x), address(frame.buffer))
        self.assertFalse(got_x.flags.writeable)
        d.ack()


class Failures(ClientTestCase):

    def test_rehello_after_broker_restart(self):
        worker = self.agent("worker")
        producer = self.agent("producer")
        self.restart_broker()
        # the PUB meets a broker that never heard of us: not_registered,
        # HELLO, the PUB again
        ok = producer.publish("task.item", {"n": 5}, timeout_ms=LONG_MS)
        self.assertEqual(ok["routed"], 1)
        self.assertEqual(producer.hello_count, 2)
        # the worker's heartbeat PING finds out in receive()
        d = self.expect(worker, LONG_MS)
        self.assertEqual(d.payload, {"n": 5})
        self.assertEqual(worker.hello_count, 2)
        d.ack()

    def test_publish_times_out_without_broker(self):
        producer = self.agent("producer", timeout_ms=300)
        self.broker.stop(close_agents=False)
        start = time.monotonic()
        with self.assertRaises(agentbus.Timeout) as cm:
            producer.publish("task.item", {"n": 1})
        self.assertIsInstance(cm.exception, TimeoutError)
        self.assertLess(time.monotonic() - start, 10)
        self.assertIsNone(producer.receive(timeout_ms=100))

    def test_hello_times_out_without_broker(self):
        self.broker.stop()
        with self.assertRaises(agentbus.Timeout):
            agentbus.Agent(self.broker.endpoint, "worker", timeout_ms=200)

    def test_closed_agent_raises_closed(self):
        producer = self.agent("producer")
        producer.close()
        producer.close()  # twice is harmless
        self.assertTrue(producer.closed)
        for call in (lambda: producer.publish("task.item", {"n": 1}),
                     lambda: producer.receive(10), producer.ping):
            with self.assertRaises(agentbus.Closed):
                call()


if __name__ == "__main__":
    main()
