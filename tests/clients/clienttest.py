# clienttest.py - what the client test suites share
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""The client tests run the real agentbusd through the integration tests'
harness (``tests/integration/abtest.py``), on this folder's topology, and
import the package from ``clients/python`` of the source tree."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import abtest  # noqa: E402  (found through the path set just above)

sys.path.insert(0, os.path.join(abtest.SRCDIR, "clients", "python"))

import agentbus  # noqa: E402,F401
import agentbus.aio  # noqa: E402,F401

TOPOLOGY = os.path.join(HERE, "topology.yaml")

#: A wait that should end at once, given a generous bound for loaded CI.
LONG_MS = 15000


class ClientTestCase(abtest.BrokerTestCase):
    """A fresh agentbusd on tests/clients/topology.yaml per test."""

    topology = TOPOLOGY

    def restart_broker(self):
        """Stops the broker (SIGTERM) and starts a fresh one on the same
        endpoint, leaving the agents connected."""
        self.assertEqual(self.broker.stop(close_agents=False), 0)
        self.broker.start()


def address(buffer):
    """The address of the first byte of a buffer (numpy array,
    memoryview, bytes-like)."""
    import numpy
    return numpy.frombuffer(buffer, numpy.uint8).__array_interface__[
        "data"][0]


main = abtest.main
