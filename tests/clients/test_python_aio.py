# test_python_aio.py - the asyncio Python client against agentbusd
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""``agentbus.aio.Agent`` (clients/python) over the real broker: ``async
for`` deliveries, ack/nack, REJECT with errors, request with partial
replies as an async iterator, tensors byte for byte without copies,
re-HELLO and resend after a broker restart, timeouts and close.  Each test
runs its own event loop, bounded by ``TEST_S``.  Exits 77 when agentbusd
is not built."""

import asyncio
import functools

import numpy
import zmq

from clienttest import LONG_MS, ClientTestCase, address, agentbus, main

aio = agentbus.aio

#: The most any one test may take, in seconds (a hang fails, not blocks).
TEST_S = 60


def in_loop(method):
    """Runs an ``async def`` test method in a fresh event loop."""
    @functools.wraps(method)
    def run(self):
        async def bounded():
            await asyncio.wait_for(method(self), TEST_S)
        asyncio.run(bounded())
    return run


class AioTestCase(ClientTestCase):

    async def connect(self, name, **kwargs):
        kwargs.setdefault("timeout_ms", LONG_MS)
        bus = aio.Agent(self.broker.endpoint, name, **kwargs)
        await bus.start()
        self.buses.append(bus)
        return bus

    def setUp(self):
        super().setUp()
        self.buses = []

    async def close_all(self):
        for bus in self.buses:
            await bus.close()

    async def next_delivery(self, bus):
        d = await bus.receive(LONG_MS)
        self.assertIsNotNone(d, "%s: no delivery" % bus.agent)
        return d


class Messages(AioTestCase):

    @in_loop
    async def test_publish_async_for_ack(self):
        worker = await self.connect("worker", credit=8)
        producer = await self.connect("producer")
        self.assertTrue(worker.topology.startswith("clients@"))
        oks = await asyncio.gather(*[
            producer.publish("task.item", {"n": i}, id="t%d" % i)
            for i in range(5)])
        self.assertEqual([ok["id"] for ok in oks],
                         ["t%d" % i for i in range(5)])
        got = []
        async for d in worker:
            self.assertIsInstance(d, aio.Delivery)
            got.append((d.id, d.payload["n"], d.sender))
            await d.ack()
            if len(got) == 5:
                break
        self.assertEqual(got, [("t%d" % i, i, "producer") for i in range(5)])
        await worker.ping()
        self.assertEqual(worker.errors, [])
        await self.close_all()

    @in_loop
    async def test_nack_and_late_ack_error(self):
        worker = await self.connect("worker")
        producer = await self.connect("producer")
        await producer.publish("task.item", {"n": 1})
        first = await self.next_delivery(worker)
        await first.nack(reason="later")
        again = await self.next_delivery(worker)
        self.assertEqual((again.msg, again.attempt), (first.msg, 2))
        await again.ack()
        await again.ack()   # a second ACK: ERROR unknown_message
        await worker.ping()  # answers are in order: the ERROR came first
        self.assertEqual([e["code"] for e in worker.errors],
                         ["unknown_message"])
        await self.close_all()

    @in_loop
    async def test_reject_with_errors(self):
        producer = await self.connect("producer")
        with self.assertRaises(agentbus.Rejected) as cm:
            await producer.publish("task.item", {"n": "x", "score": 2})
        self.assertEqual(cm.exception.code, "invalid")
        self.assertEqual(sorted(e["path"] for e in cm.exception.errors),
                         ["/n", "/score"])
        # concurrent publishes get their own answers, in order
        results = await asyncio.gather(
            producer.publish("task.item", {"n": 1}),
            producer.publish("no.such.type", {}),
            producer.publish("task.item", {"n": 2}),
            return_exceptions=True)
        self.assertEqual(results[0]["routed"], 1)
        self.assertIsInstance(results[1], agentbus.Rejected)
        self.assertEqual(results[1].code, "unknown_type")
        self.assertEqual(results[2]["routed"], 1)
        await self.close_all()

    @in_loop
    async def test_unknown_agent(self):
        bus = aio.Agent(self.broker.endpoint, "nobody")
        with self.assertRaises(agentbus.ProtocolError) as cm:
            await bus.start()
        self.assertEqual(cm.exception.code, "unknown_agent")
        self.assertTrue(bus.closed)


class Requests(AioTestCase):

    async def llm(self, bus, pieces):
        d = await self.next_delivery(bus)
        self.assertTrue(d.request)
        for i in range(pieces):
            ok = await d.reply({"text": "p%d" % i, "index": i}, partial=True)
            self.assertEqual(ok["msg"], d.msg)
        await d.reply({"text": "end", "index": pieces})

    @in_loop
    async def test_partials_as_async_iterator(self):
        llm = await self.connect("llm")
        fe = await self.connect("frontend")
        server = asyncio.ensure_future(self.llm(llm, 3))
        got = []
        async for r in fe.request_stream("llm.prompt", {"prompt": "hi"},
                                         timeout_ms=LONG_MS):
            self.assertIsInstance(r, agentbus.Reply)
            got.append((r.partial, r.payload["text"]))
        await server
        self.assertEqual(got, [(True, "p0"), (True, "p1"), (True, "p2"),
                               (False, "end")])
        await self.close_all()

    @in_loop
    async def test_request_with_on_partial_coroutine(self):
        llm = await self.connect("llm")
        fe = await self.connect("frontend")
        server = asyncio.ensure_future(self.llm(llm, 2))
        seen = []

        async def on_partial(r):
            seen.append(r.payload["index"])

        final = await fe.request("llm.prompt", {"prompt": "x"},
                                 on_partial=on_partial, timeout_ms=LONG_MS)
        await server
        self.assertEqual((seen, final.payload["text"]), ([0, 1], "end"))
        await self.close_all()

    @in_loop
    async def test_two_requests_at_once(self):
        llm = await self.connect("llm", credit=2)
        fe = await self.connect("frontend")

        async def answer_two():
            for _ in range(2):
                d = await self.next_delivery(llm)
                await d.reply({"text": d.payload["prompt"].upper()})

        server = asyncio.ensure_future(answer_two())
        a, b = await asyncio.gather(
            fe.request("llm.prompt", {"prompt": "a"}, timeout_ms=LONG_MS),
            fe.request("llm.prompt", {"prompt": "b"}, timeout_ms=LONG_MS))
        await server
        self.assertEqual((a.payload["text"], b.payload["text"]), ("A", "B"))
        await self.close_all()

    @in_loop
    async def test_invalid_reply_and_broker_timeout(self):
        llm = await self.connect("llm")
        fe = await self.connect("frontend")
        pending = asyncio.ensure_future(
            fe.request("llm.prompt", {"prompt": "x"}, timeout_ms=1000))
        d = await self.next_delivery(llm)
        with self.assertRaises(agentbus.Rejected) as cm:
            await d.reply({"text": 1})
        self.assertEqual(cm.exception.code, "invalid")
        self.assertEqual(cm.exception.errors[0]["path"], "/text")
        with self.assertRaises(agentbus.Rejected) as cm:
            await pending  # never answered: the broker's REJECT timeout
        self.assertEqual(cm.exception.code, "timeout")
        await self.close_all()


class Tensors(AioTestCase):

    @in_loop
    async def test_tensors_byte_for_byte_without_copies(self):
        sink = await self.connect("sink")
        producer = await self.connect("producer")
        x = numpy.arange(4 * 20000, dtype=numpy.float32).reshape(20000, 4)
        y = numpy.frombuffer(bytes(range(256)) * 300, numpy.uint8)
        await producer.publish("blob.tensor", {"x": x, "y": y})
        d = await self.next_delivery(sink)
        got_x, got_y = d.tensor("x"), d.tensor("y")
        self.assertEqual(got_x.tobytes(), x.tobytes())
        self.assertEqual(got_y.tobytes(), y.tobytes())
        self.assertEqual(got_y.dtype, numpy.uint8)
        for got, k in ((got_x, 0), (got_y, 1)):
            frame = d.frames[4 + k]
            self.assertIsInstance(frame, zmq.Frame)
            self.assertEqual(address(got), address(frame.buffer))
        await d.ack()
        await self.close_all()


class Failures(AioTestCase):

    @in_loop
    async def test_restart_rehello_and_resend(self):
        worker = await self.connect("worker")
        producer = await self.connect("producer")
        self.assertEqual(self.broker.stop(close_agents=False), 0)
        # sent while no broker runs: it waits in the socket, meets the new
        # broker, gets not_registered; the agent says HELLO and sends it
        # again
        publish = asyncio.ensure_future(
            producer.publish("task.item", {"n": 9}, timeout_ms=LONG_MS))
        await asyncio.sleep(0.2)
        self.assertFalse(publish.done())
        self.broker.start()
        ok = await publish
        self.assertEqual(ok["routed"], 1)
        self.assertGreaterEqual(producer.hello_count, 2)
        d = await self.next_delivery(worker)  # its heartbeat re-HELLOed
        self.assertEqual(d.payload, {"n": 9})
        self.assertGreaterEqual(worker.hello_count, 2)
        await d.ack()
        await self.close_all()

    @in_loop
    async def test_request_sent_again_after_restart(self):
        fe = await self.connect("frontend")
        self.assertEqual(self.broker.stop(close_agents=False), 0)
        pending = asyncio.ensure_future(
            fe.request("llm.prompt", {"prompt": "again"},
                       timeout_ms=LONG_MS))
        await asyncio.sleep(0.2)
        self.broker.start()
        llm = await self.connect("llm")
        d = await self.next_delivery(llm)
        self.assertEqual(d.payload, {"prompt": "again"})
        await d.reply({"text": "done"})
        self.assertEqual((await pending).payload, {"text": "done"})
        await self.close_all()

    @in_loop
    async def test_timeouts(self):
        producer = await self.connect("producer", timeout_ms=300)
        worker = await self.connect("worker")
        self.assertIsNone(await worker.receive(timeout_ms=100))
        self.broker.stop(close_agents=False)
        with self.assertRaises(agentbus.Timeout):
            await producer.publish("task.item", {"n": 1})
        with self.assertRaises(agentbus.Timeout):
            await producer.ping(timeout_ms=200)
        bus = aio.Agent(self.broker.endpoint, "worker", timeout_ms=200)
        with self.assertRaises(agentbus.Timeout):
            await bus.start()
        await self.close_all()

    @in_loop
    async def test_close_ends_waits(self):
        worker = await self.connect("worker")
        waiting = asyncio.ensure_future(worker.receive(LONG_MS))
        iterating = asyncio.ensure_future(self.collect(worker))
        await asyncio.sleep(0.1)
        await worker.close()
        with self.assertRaises(agentbus.Closed):
            await waiting
        self.assertEqual(await iterating, [])
        with self.assertRaises(agentbus.Closed):
            await worker.publish("task.item", {"n": 1})
        await worker.close()  # twice is harmless

    async def collect(self, bus):
        return [d async for d in bus]


if __name__ == "__main__":
    main()
