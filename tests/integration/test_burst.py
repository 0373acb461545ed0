# test_burst.py - a burst of PUBs checked on several threads answers as
# if checked one by one
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""The broker reads a batch of commands per loop turn and validates the
PUBs among them on a pool of threads (``check_threads``) while it handles
them in order on its own.  A pipelined burst of valid, invalid and
malformed PUBs must come out exactly as if each were checked in turn:
one answer per PUB, in the order sent, with the right code; the valid
ones delivered in order, byte for byte; nothing else delivered.  The
broker's ``checked_ahead`` counter proves the pool did the checking."""

import json

import zmq

import abtest

SIG = b"ABP/1"
COUNT = 3000


def payload(i):
    """The i-th PUB's payload and the answer it must get."""
    if i % 13 == 5:
        return b'{"n": ' + str(i).encode() + b', "text": "cut', "malformed"
    if i % 7 == 3:
        return json.dumps({"n": -i}).encode(), "invalid"   # minimum: 0
    if i % 11 == 4:
        return json.dumps({"n": i, "extra": 1}).encode(), "invalid"
    return json.dumps({"n": i, "text": "item %d" % i,
                       "tags": ["burst"]}).encode(), "ok"


class Burst(abtest.BrokerTestCase):

    config = {"check_threads": 2}

    def setUp(self):
        self.admin = "tcp://127.0.0.1:%d" % abtest.free_port()
        self.config = dict(self.config, admin_endpoint=self.admin)
        super().setUp()

    def dealer(self, agent, credit=16):
        s = self.broker.context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, abtest.WAIT_MS)
        s.connect(self.broker.endpoint)
        s.send_multipart([SIG, b"HELLO", json.dumps(
            {"agent": agent, "credit": credit}).encode()])
        frames = s.recv_multipart()
        self.assertEqual(frames[1], b"WELCOME", frames)
        self.addCleanup(s.close)
        return s

    def counters(self):
        req = self.broker.context.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.setsockopt(zmq.RCVTIMEO, abtest.WAIT_MS)
        req.connect(self.admin)
        try:
            req.send_string(json.dumps({"cmd": "counters"}))
            return json.loads(req.recv_string())["counters"]
        finally:
            req.close()

    def test_burst_answers_in_order(self):
        producer = self.dealer("producer")
        worker = self.dealer("worker", credit=COUNT)
        expected = [payload(i) for i in range(COUNT)]
        # all at once: the broker finds many PUBs per read
        for i, (body, _) in enumerate(expected):
            producer.send_multipart([SIG, b"PUB", json.dumps(
                {"type": "task.item", "id": "p%d" % i}).encode(), body])
        for i, (body, answer) in enumerate(expected):
            frames = producer.recv_multipart()
            header = json.loads(frames[2])
            self.assertEqual(header.get("id"), "p%d" % i, header)
            if answer == "ok":
                self.assertEqual(frames[1], b"OK", header)
                self.assertEqual(header["routed"], 1)
            else:
                self.assertEqual(frames[1], b"REJECT", header)
                self.assertEqual(header["code"], answer, header)
                if answer == "invalid":
                    self.assertTrue(header["errors"], header)
                else:
                    self.assertTrue(header["message"].startswith(
                        "payload is not JSON"), header)
        valid = [(i, body) for i, (body, answer) in enumerate(expected)
                 if answer == "ok"]
        for i, body in valid:
            frames = worker.recv_multipart()
            self.assertEqual(frames[1], b"DELIVER")
            header = json.loads(frames[2])
            self.assertEqual(header["id"], "p%d" % i, header)
            self.assertEqual(frames[3], body)
            worker.send_multipart([SIG, b"ACK", json.dumps(
                {"msg": header["msg"]}).encode()])
        # a marker published last must be the next delivery: nothing
        # too many came (task.item has the fixture's long ack timeout, so
        # no retry either, however slowly this test read)
        producer.send_multipart([SIG, b"PUB", json.dumps(
            {"type": "task.item", "id": "after"}).encode(),
            json.dumps({"n": 0}).encode()])
        self.assertEqual(producer.recv_multipart()[1], b"OK")
        frames = worker.recv_multipart()
        self.assertEqual(json.loads(frames[2])["id"], "after",
                         "a delivery too many")
        counters = self.counters()
        self.assertEqual(counters["published"], len(valid) + 1, counters)
        self.assertGreater(counters["checked_ahead"], 0, counters)

    def test_unregistered_burst(self):
        # PUBs checked ahead for a sender that never said HELLO: each is
        # answered not_registered, and nothing leaks (sanitizer builds)
        s = self.broker.context.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, abtest.WAIT_MS)
        s.connect(self.broker.endpoint)
        self.addCleanup(s.close)
        for i in range(200):
            s.send_multipart([SIG, b"PUB", b'{"type":"task.item"}',
                              json.dumps({"n": i}).encode()])
        for i in range(200):
            frames = s.recv_multipart()
            self.assertEqual(frames[1], b"ERROR")
            self.assertEqual(json.loads(frames[2])["code"], "not_registered")
        self.assertTrue(self.broker.alive())


if __name__ == "__main__":
    abtest.main()
