# test_lifecycle.py - the broker process: start, stop, restart, slow peers
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""agentbusd as a process (files-and-commands, Commands and Broker
configuration) and its socket rules (protocol section 1)."""

import os
import re
import shutil
import signal
import tempfile
import unittest

import zmq

import abtest


class Restart(abtest.BrokerTestCase):

    def test_agents_hello_again_after_broker_restart(self):
        p = self.agent("producer")
        w = self.agent("worker")
        first = p.topology
        self.assertEqual(self.broker.stop(close_agents=False), 0)
        self.broker.start()  # same endpoint; it knows nobody now
        # the helper gets ERROR not_registered, says HELLO and resends
        self.assertEqual(p.publish("task.item", {"n": 1})["routed"], 1)
        self.assertEqual(p.hello_count, 2)
        self.assertEqual(p.topology, first)
        # the consumer's heartbeat PING finds out the same way
        d = self.expect(w)
        self.assertEqual(d.payload, {"n": 1})
        self.assertEqual(w.hello_count, 2)
        d.ack()

    def test_sigint_drains_and_exits_zero(self):
        self.agent("producer").publish("task.item", {"n": 1})
        self.broker.signal(signal.SIGINT)
        self.assertEqual(self.broker.proc.wait(60), 0, self.broker.stderr())

    def test_routing_id_takeover(self):
        # protocol section 1: a reconnect with a routing id in use takes
        # it over (ZMQ_ROUTER_HANDOVER); the broker does not crash
        def dealer():
            s = self.broker.context.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.ROUTING_ID, b"same-id")
            s.connect(self.broker.endpoint)
            return s
        hello = [b"ABP/1", b"HELLO", b'{"agent":"producer"}']
        a = dealer()
        a.send_multipart(hello)
        self.assertTrue(a.poll(abtest.WAIT_MS))
        self.assertEqual(a.recv_multipart()[1], b"WELCOME")
        b = dealer()
        b.send_multipart(hello)
        self.assertTrue(b.poll(abtest.WAIT_MS))
        self.assertEqual(b.recv_multipart()[1], b"WELCOME")
        b.send_multipart([b"ABP/1", b"PING", b"{}"])
        self.assertTrue(b.poll(abtest.WAIT_MS))
        self.assertEqual(b.recv_multipart()[1], b"PONG")
        a.close(0)
        b.close(0)
        self.assertTrue(self.broker.alive(), self.broker.stderr())
        self.assertEqual(self.agent("producer").ping(), {})


class SlowPeer(abtest.BrokerTestCase):
    # long heartbeats: the reader below stays silent on purpose
    config = {"heartbeat_ms": 10000}

    def test_unread_consumer_never_blocks_the_broker(self):
        # protocol section 1: the broker never blocks on a slow peer;
        # what cannot be sent stays queued
        w = self.agent("slow", credit=100000, heartbeat=False)
        w.socket.setsockopt(zmq.RCVHWM, 10)
        p = self.agent("producer")
        pad = "x" * 10000
        count = 3000
        for n in range(count):
            p.publish("slow.job", {"n": n, "pad": pad})
        # answered while w reads nothing: a broker that blocked on w
        # would never answer (no time limit: a loaded machine is slow,
        # a blocked broker is stuck)
        self.assertEqual(self.agent("worker").ping(), {})
        seen = set()
        while len(seen) < count:
            d = w.receive(abtest.WAIT_MS)
            self.assertIsNotNone(d, "got %d of %d" % (len(seen), count))
            seen.add(d.payload["n"])
        self.assertEqual(seen, set(range(count)))


class Process(abtest.BrokerTestCase):

    def setUp(self):
        # these tests start their own brokers
        self.broker = None
        self.dir = tempfile.mkdtemp(prefix="abtest-proc-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def broker_with(self, **kwargs):
        b = abtest.Broker(**kwargs)
        self.addCleanup(b.cleanup)
        self.addCleanup(b.close)
        self.broker = b
        return b

    def test_bad_topology_is_reported_with_position(self):
        path = os.path.join(self.dir, "topology.yaml")
        shutil.copytree(os.path.join(abtest.FIXTURES, "schemas"),
                        os.path.join(self.dir, "schemas"))
        with open(abtest.TOPOLOGY) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("to: worker, type: task.item",
                                 "to: nobody, type: task.item"))
        status, err = self.broker_with(topology=path).run_to_exit()
        self.assertNotIn(status, (0, None), err)
        self.assertRegex(err, re.escape(path) + r":\d+:\d+: ")
        self.assertIn("nobody", err)

    def test_ipc_endpoint(self):
        # section 1: any ZeroMQ transport may be configured
        b = self.broker_with()
        b.endpoint = "ipc://" + os.path.join(self.dir, "agentbus.sock")
        b.start()
        p = b.agent("producer")
        w = b.agent("worker")
        p.publish("task.item", {"n": 1})
        d = w.receive(abtest.WAIT_MS)
        self.assertIsNotNone(d)
        self.assertEqual(d.payload, {"n": 1})
        d.ack()

    def test_durable_without_data_dir_is_a_load_error(self):
        # files-and-commands: never a silent fall-back to memory
        status, err = self.broker_with(config={"durable": True}) \
            .run_to_exit()
        self.assertNotIn(status, (0, None), err)
        self.assertIn("data_dir", err)

    def test_data_dir_is_created(self):
        data = os.path.join(self.dir, "a", "b")
        self.broker_with(args=["--data-dir", data]).start()
        self.assertTrue(os.path.isdir(data))

    def test_durable_copies_survive_restart(self):
        # protocol section 4: for durable edges OK means written to
        # stable storage, so a copy outlives the broker process
        data = os.path.join(self.dir, "data")
        b = self.broker_with(config={"durable": True, "data_dir": data})
        b.start()
        b.agent("producer").publish("task.item", {"n": 11}, id="dur")
        self.assertEqual(b.stop(), 0, b.stderr())
        b.start()
        d = b.agent("worker").receive(abtest.WAIT_MS)
        self.assertIsNotNone(d, "durable copy lost over a restart")
        self.assertEqual((d.id, d.payload), ("dur", {"n": 11}))


if __name__ == "__main__":
    abtest.main()
