# test_python_curve.py - the Python client's CURVE keys against a CURVE peer
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""agentbusd does not speak CURVE yet (security.md), so the peer here is a
pyzmq ROUTER that does: a CURVE server with a ZAP authenticator that
admits only the public keys in its folder, answering HELLO with a WELCOME
that says which client key (ZAP User-Id) it saw.  Both agents
(``agentbus.Agent``, ``agentbus.aio.Agent``) connect with czmq certificate
files (``key=NAME.key_secret``, ``server_key=NAME.key``); a wrong broker
key or a key the peer does not admit gets no answer (``Timeout``); a bad
file is ``KeyFileError``.  Exits 77 when libzmq has no CURVE."""

import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import unittest

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("AB_SRCDIR") or os.path.abspath(
    os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "clients", "python"))

import agentbus  # noqa: E402
import agentbus.aio  # noqa: E402

SIG = b"ABP/1"


class CurvePeer(threading.Thread):
    """A CURVE ROUTER that plays the broker for HELLO, PUB and PING."""

    def __init__(self, server_secret_file, allowed_dir):
        super().__init__(daemon=True)
        self.context = zmq.Context()
        self.auth = ThreadAuthenticator(self.context)
        self.auth.start()
        self.auth.configure_curve(domain="*", location=allowed_dir)
        public, secret = zmq.auth.load_certificate(server_secret_file)
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.curve_server = True
        self.router.curve_publickey = public
        self.router.curve_secretkey = secret
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = "tcp://127.0.0.1:%d" % port
        self.stopping = threading.Event()
        self.seen = []  # (command, user id)

    def run(self):
        while not self.stopping.is_set():
            if not self.router.poll(50):
                continue
            frames = self.router.recv_multipart(copy=False)
            peer, command = frames[0].bytes, frames[2].bytes.decode()
            user = frames[1].get("User-Id")
            self.seen.append((command, user))
            header = json.loads(frames[3].bytes)
            if command == "HELLO":
                answer = [b"WELCOME", {"agent": header["agent"],
                                       "heartbeat_ms": 1000,
                                       "topology": "curve@00000000",
                                       "user_id": user}]
            elif command == "PUB":
                answer = [b"OK", {"routed": 0}]
            elif command == "PING":
                answer = [b"PONG", {}]
            else:
                continue
            self.router.send_multipart([peer, SIG, answer[0],
                                        json.dumps(answer[1]).encode()])

    def close(self):
        self.stopping.set()
        self.join(10)
        self.router.close(0)
        self.auth.stop()
        self.context.term()


class Curve(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="abcurve-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        allowed = os.path.join(self.dir, "allowed")
        os.mkdir(allowed)
        self.server_pub, self.server_secret = \
            zmq.auth.create_certificates(self.dir, "broker")
        self.client_pub, self.client_secret = \
            zmq.auth.create_certificates(self.dir, "agent")
        shutil.copy(self.client_pub, allowed)
        _, self.stranger_secret = zmq.auth.create_certificates(
            self.dir, "stranger")
        self.other_pub, _ = zmq.auth.create_certificates(self.dir, "other")
        self.peer = CurvePeer(self.server_secret, allowed)
        self.peer.start()
        self.addCleanup(self.peer.close)
        self.client_z85 = zmq.auth.load_certificate(
            self.client_pub)[0].decode()

    def test_sync_agent_speaks_curve(self):
        with agentbus.Agent(self.peer.endpoint, "worker",
                            key=self.client_secret,
                            server_key=self.server_pub,
                            timeout_ms=5000) as bus:
            self.assertEqual(bus.welcome["user_id"], self.client_z85)
            self.assertEqual(bus.publish("t", {})["routed"], 0)
            self.assertEqual(bus.curve.public.decode(), self.client_z85)
            self.assertNotIn(bus.curve.secret.decode(), repr(bus.curve))
        self.assertEqual([c for c, _ in self.peer.seen], ["HELLO", "PUB"])
        self.assertTrue(all(u == self.client_z85 for _, u in self.peer.seen))

    def test_aio_agent_speaks_curve(self):
        async def body():
            async with agentbus.aio.Agent(
                    self.peer.endpoint, "worker", key=self.client_secret,
                    server_key=self.server_pub, timeout_ms=5000) as bus:
                self.assertEqual(bus.welcome["user_id"], self.client_z85)
                await bus.publish("t", {})
                await bus.ping()
        asyncio.run(asyncio.wait_for(body(), 30))
        self.assertEqual([c for c, _ in self.peer.seen],
                         ["HELLO", "PUB", "PING"])

    def test_wrong_broker_key_gets_no_answer(self):
        with self.assertRaises(agentbus.Timeout):
            agentbus.Agent(self.peer.endpoint, "worker",
                           key=self.client_secret, server_key=self.other_pub,
                           timeout_ms=500)
        self.assertEqual(self.peer.seen, [])

    def test_key_not_admitted_gets_no_answer(self):
        async def body():
            bus = agentbus.aio.Agent(self.peer.endpoint, "worker",
                                     key=self.stranger_secret,
                                     server_key=self.server_pub,
                                     timeout_ms=500)
            with self.assertRaises(agentbus.Timeout):
                await bus.start()
        asyncio.run(asyncio.wait_for(body(), 30))
        with self.assertRaises(agentbus.Timeout):
            agentbus.Agent(self.peer.endpoint, "worker",
                           key=self.stranger_secret,
                           server_key=self.server_pub, timeout_ms=500)
        self.assertEqual(self.peer.seen, [])

    def test_bad_key_files(self):
        missing = os.path.join(self.dir, "missing.key_secret")
        garbage = os.path.join(self.dir, "garbage.key")
        with open(garbage, "w") as f:
            f.write("curve\n    public-key = \"short\"\n")
        for key, server in ((missing, self.server_pub),
                            (self.client_pub, self.server_pub),  # no secret
                            (self.client_secret, garbage)):
            with self.assertRaises(agentbus.KeyFileError) as cm:
                agentbus.Agent(self.peer.endpoint, "worker", key=key,
                               server_key=server)
            self.assertIsInstance(cm.exception, agentbus.AgentbusError)
        with self.assertRaises(ValueError):
            agentbus.Agent(self.peer.endpoint, "worker",
                           key=self.client_secret)


if __name__ == "__main__":
    if not zmq.has("curve"):
        print("SKIP: this libzmq has no CURVE")
        sys.exit(77)
    unittest.main(verbosity=2)
