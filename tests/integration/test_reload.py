# test_reload.py - SIGHUP reloads topology and schemas
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Hot reload of the real agentbusd (files-and-commands, agentbusd): a
good new file takes over, a bad one is reported and the old one stays."""

import os
import shutil
import tempfile
import time

import abtest
from abtest import agentbus


class Reload(abtest.BrokerTestCase):

    admin_socket = True  # counts the failed reloads

    def setUp(self):
        # the broker runs on a copy of the fixture, which the tests edit
        self.dir = tempfile.mkdtemp(prefix="abtest-reload-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        shutil.copytree(os.path.join(abtest.FIXTURES, "schemas"),
                        os.path.join(self.dir, "schemas"))
        self.topology = os.path.join(self.dir, "topology.yaml")
        shutil.copy(abtest.TOPOLOGY, self.topology)
        super().setUp()

    def rewrite(self, old, new):
        with open(self.topology) as f:
            text = f.read()
        self.assertIn(old, text)
        with open(self.topology, "w") as f:
            f.write(text.replace(old, new))

    def welcome(self, name="producer"):
        a = self.agent(name, instance="probe")
        topology = a.topology
        a.close(bye=True)
        return topology

    def wait_for_topology(self, predicate, seconds=abtest.WAIT_MS / 1000.0):
        """Polls fresh WELCOMEs until ``predicate(topology)``; returns the
        last one seen."""
        deadline = time.monotonic() + seconds
        while True:
            topology = self.welcome()
            if predicate(topology) or time.monotonic() > deadline:
                return topology
            time.sleep(0.05)

    def wait_for_failed_reload(self):
        """Waits until the broker has tried the reload and counted it
        failed, instead of sleeping."""
        self.wait_until(lambda: not self.broker.alive() or
                        self.broker.counters()["reload_failures"] == 1,
                        "a failed reload")

    def test_good_file_swaps_topology(self):
        before = self.welcome()
        self.assertTrue(before.startswith("pybroker@"), before)
        self.rewrite("topology: pybroker", "topology: pybroker-two")
        self.broker.reload()
        after = self.wait_for_topology(lambda t: t != before)
        self.assertTrue(after.startswith("pybroker-two@"), after)
        self.assertTrue(self.broker.alive())

    def test_reload_changes_routing(self):
        p = self.agent("producer")
        self.assertRejected("unroutable", p.publish, "unrouted.thing", {})
        before = self.welcome()
        self.rewrite("edges:\n", "edges:\n"
                     "  - {from: producer, to: loner, type: unrouted.thing}\n")
        self.broker.reload()
        self.assertNotEqual(self.wait_for_topology(lambda t: t != before),
                            before)
        loner = self.agent("loner")
        p.publish("unrouted.thing", {"k": 1})
        self.assertEqual(self.expect(loner).payload, {"k": 1})

    def test_schema_change_is_picked_up(self):
        p = self.agent("producer")
        self.assertRejected("invalid", p.publish, "task.item", {"n": 1,
                                                                 "z": 0})
        before = self.welcome()
        path = os.path.join(self.dir, "schemas", "task.item.v1.yaml")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("additionalProperties: false",
                                 "additionalProperties: true"))
        self.broker.reload()
        after = self.wait_for_topology(lambda t: t != before)
        # same name, new hash of the loaded files
        self.assertNotEqual(after, before)
        self.assertTrue(after.startswith("pybroker@"), after)
        self.assertEqual(p.publish("task.item", {"n": 1, "z": 0})["routed"],
                         1)

    def test_bad_file_keeps_old_topology(self):
        before = self.welcome()
        with open(self.topology, "w") as f:
            f.write("topology: broken\nagents: [unclosed\n")
        self.broker.reload()
        self.wait_for_failed_reload()
        self.assertTrue(self.broker.alive(), self.broker.stderr())
        self.assertEqual(self.welcome(), before)
        p = self.agent("producer")
        w = self.agent("worker")
        p.publish("task.item", {"n": 1})
        self.assertEqual(self.expect(w).payload, {"n": 1})
        # the problem is reported, naming the file
        self.assertIn("topology.yaml", self.broker.stderr())

    def test_semantically_bad_file_keeps_old_topology(self):
        before = self.welcome()
        # a cycle: worker -> producer closes producer -> worker
        self.rewrite("edges:\n", "edges:\n"
                     "  - {from: worker, to: producer, type: task.item}\n")
        self.broker.reload()
        self.wait_for_failed_reload()
        self.assertTrue(self.broker.alive(), self.broker.stderr())
        self.assertEqual(self.welcome(), before)

    def test_copies_in_flight_finish_over_reload(self):
        # copies routed by the old topology finish under their old edge
        # (slow.job: a 30 s ack timeout, so only the test moves them)
        p = self.agent("producer")
        w = self.agent("slow", credit=2)
        p.publish("slow.job", {"n": 1}, id="acked")
        p.publish("slow.job", {"n": 2}, id="requeued")
        first, second = self.expect(w), self.expect(w)
        before = p.topology
        self.rewrite("topology: pybroker", "topology: pybroker-two")
        self.broker.reload()
        self.wait_for_topology(lambda t: t != before)
        first.ack()
        second.nack(requeue=True)
        again = self.expect(w)
        self.assertEqual((again.msg, again.attempt), (second.msg, 2))
        again.ack()
        self.assertNoDelivery(w, 300)
        self.assertEqual(w.errors, [])

    def test_sessions_survive_reload(self):
        p = self.agent("producer")
        w = self.agent("worker")
        before = p.topology
        self.rewrite("topology: pybroker", "topology: pybroker-two")
        self.broker.reload()
        self.wait_for_topology(lambda t: t != before)
        try:
            ok = p.publish("task.item", {"n": 5})
        except agentbus.ProtocolError as e:  # pragma: no cover
            self.fail("session lost over reload: %s" % e)
        self.assertEqual(ok["routed"], 1)
        self.assertEqual(self.expect(w).payload, {"n": 5})


if __name__ == "__main__":
    abtest.main()
