# test_request.py - REQ, REP, partial replies, retries and timeouts
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Request and reply against the real agentbusd (protocol section 7).
llm.prompt: frontend -> llm, reply llm.completion, max_attempts 3,
retry_backoff_ms 10 and the fixture's long ack timeout, so that no
request moves by ack timeout while a test (slowly, on a loaded machine)
answers it; RequestRetry, which measures retries, sets ACK_TIMEOUT_MS.

The requester and the replier live in one thread here, so a test sends
the REQ by hand (``send_frames``), lets the replier answer, then reads
the requester's socket."""

import threading
import time

import numpy

import abtest
from abtest import agentbus

#: llm.prompt's ack timeout in RequestRetry, ms
ACK_TIMEOUT_MS = 1000


class RequestCase(abtest.BrokerTestCase):
    """Setup and helpers of Request and RequestRetry (no tests)."""

    # The requester reads its raw socket only when a test looks, so it
    # does not PING meanwhile: a long heartbeat keeps it alive through a
    # test's waits, however slow the machine (no test here measures it)
    config = {"heartbeat_ms": 20000}

    def setUp(self):
        super().setUp()
        self.fe = self.agent("frontend")
        self.llm = self.agent("llm")

    def send_req(self, payload, id="q1", **header):
        header.update({"type": "llm.prompt", "id": id})
        self.fe.send_frames("REQ", header, payload)

    def next_reply(self, timeout_ms=abtest.WAIT_MS):
        m = self.expect_message(self.fe, timeout_ms)
        self.assertIn(m.command, ("REPLY", "REJECT"), m.header)
        return m


class Request(RequestCase):

    def test_request_reply(self):
        self.send_req({"prompt": "hi"}, id="q1")
        d = self.expect(self.llm)
        self.assertTrue(d.request)
        self.assertEqual((d.type, d.sender, d.id), ("llm.prompt", "frontend",
                                                    "q1"))
        ok = d.reply({"text": "hello"})
        self.assertEqual(ok.get("msg"), d.msg)
        m = self.next_reply()
        self.assertEqual(m.command, "REPLY", m.header)
        self.assertEqual(m.header.get("id"), "q1")
        self.assertEqual(m.header.get("type"), "llm.completion")
        self.assertEqual(m.header.get("version"), 1)
        self.assertEqual(m.header.get("from"), "llm")
        self.assertFalse(m.header.get("partial", False))
        self.assertEqual(m.payload, {"text": "hello"})

    def test_partial_streaming(self):
        self.send_req({"prompt": "count", "pieces": 3})
        d = self.expect(self.llm)
        for i in range(3):
            d.reply({"text": "piece", "index": i}, partial=True)
            m = self.next_reply()
            self.assertEqual(m.command, "REPLY", m.header)
            self.assertIs(m.header.get("partial"), True)
            self.assertEqual(m.payload["index"], i)
        d.reply({"text": "done"})
        m = self.next_reply()
        self.assertFalse(m.header.get("partial", False))
        self.assertEqual(m.payload, {"text": "done"})

    def test_reply_carries_tensor_attachments(self):
        # section 3: REPLY carries frames 3... as sent with REP
        logits = numpy.linspace(-1, 1, 50, dtype=numpy.float32)
        self.send_req({"prompt": "scores"})
        d = self.expect(self.llm)
        d.reply({"text": "t", "logits": logits}, partial=True)
        d.reply({"text": "u", "logits": logits[::-1]})
        for want in (logits, logits[::-1]):
            r = agentbus.Reply(self.next_reply())
            self.assertEqual(r.payload["logits"],
                             {"dtype": "float32", "shape": [50], "frame": 0})
            self.assertEqual(bytes(r.attachments[0]), want.tobytes())

    def test_reply_with_bad_attachment_is_malformed(self):
        self.send_req({"prompt": "x"})
        d = self.expect(self.llm)
        with self.assertRaises(agentbus.Rejected) as cm:
            d.reply({"text": "t", "logits": {"dtype": "float32",
                                             "shape": [4], "frame": 0}},
                    attachments=[bytes(15)])
        self.assertEqual(cm.exception.code, "malformed")
        d.reply({"text": "ok"})
        self.assertEqual(self.next_reply().payload, {"text": "ok"})

    def test_invalid_reply_keeps_request_open(self):
        self.send_req({"prompt": "x"})
        d = self.expect(self.llm)
        with self.assertRaises(agentbus.Rejected) as cm:
            d.reply({"text": 5})
        e = cm.exception
        self.assertEqual(e.code, "invalid")
        self.assertEqual(e.header.get("msg"), d.msg)
        self.assertIn({"path": "/text", "keyword": "type",
                       "schema_path": "/properties/text/type"},
                      [{k: x.get(k) for k in ("path", "keyword",
                                              "schema_path")}
                       for x in e.errors])
        self.assertIsNone(self.fe.recv_message(100))  # nothing forwarded
        d.reply({"text": "fixed"})
        m = self.next_reply()
        self.assertEqual((m.command, m.payload), ("REPLY", {"text": "fixed"}))

    def test_invalid_request_rejected(self):
        self.send_req({"no_prompt": 1}, id="bad")
        m = self.next_reply()
        self.assertEqual((m.command, m.header.get("code"), m.header.get("id")),
                         ("REJECT", "invalid", "bad"))
        self.assertNoDelivery(self.llm)

    def test_request_on_publish_only_edge_is_unroutable(self):
        # a REQ must follow a request edge (one with reply:)
        p = self.agent("producer")
        self.assertRejected("unroutable", p.request, "task.item", {"n": 1},
                            timeout_ms=500)

    def test_bye_moves_request_without_counting_an_attempt(self):
        self.send_req({"prompt": "leaving"}, id="b", timeout_ms=abtest.WAIT_MS)
        d1 = self.expect(self.llm)
        second = self.agent("llm", instance="second")
        self.llm.bye()
        d2 = self.expect(second, 3000)
        self.assertEqual((d2.msg, d2.attempt), (d1.msg, 1))
        d2.reply({"text": "took over"})
        m = self.next_reply()
        self.assertEqual(m.payload, {"text": "took over"})

    def test_req_gets_pub_reject_codes(self):
        self.fe.send_frames("REQ", {"type": "no.such.type", "id": "u"}, {})
        m = self.next_reply()
        self.assertEqual((m.command, m.header.get("code"), m.header.get("id")),
                         ("REJECT", "unknown_type", "u"))
        self.fe.send_frames("REQ", {"type": "llm.prompt", "id": "j"},
                            b"{oops")
        m = self.next_reply()
        self.assertEqual((m.command, m.header.get("code")),
                         ("REJECT", "malformed"))

    def test_nack_requeue_moves_request(self):
        self.send_req({"prompt": "elsewhere"}, id="n", timeout_ms=abtest.WAIT_MS)
        d1 = self.expect(self.llm)
        second = self.agent("llm", instance="second")
        d1.nack(requeue=True)
        d2 = self.expect(second, 3000)
        self.assertEqual((d2.msg, d2.attempt), (d1.msg, 2))
        d2.reply({"text": "moved"})
        self.assertEqual(self.next_reply().payload, {"text": "moved"})

    def test_nack_without_requeue_ends_request(self):
        # docs/protocol.md: requests are never dead-lettered; NACK
        # requeue:false answers the requester REJECT timeout
        self.send_req({"prompt": "no"}, id="refused", timeout_ms=abtest.WAIT_MS)
        self.expect(self.llm).nack(requeue=False, reason="refused")
        m = self.next_reply()
        self.assertEqual((m.command, m.header.get("code"), m.header.get("id")),
                         ("REJECT", "timeout", "refused"))

    def test_reply_to_vanished_requester_still_ok(self):
        # docs/protocol.md: the reply is dropped, the replier gets its OK
        self.send_req({"prompt": "bye"}, id="gone", timeout_ms=abtest.WAIT_MS)
        d = self.expect(self.llm)
        self.fe.bye()
        ok = d.reply({"text": "nobody listens"})
        self.assertEqual(ok.get("msg"), d.msg)

    def test_timeout_without_replier(self):
        self.llm.close(bye=True)
        t0 = time.monotonic()
        self.send_req({"prompt": "anyone?"}, id="t", timeout_ms=300)
        m = self.next_reply()  # well before the default (30 s x 3)
        self.assertEqual((m.command, m.header.get("code"), m.header.get("id")),
                         ("REJECT", "timeout", "t"))
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)  # not before

    def test_reply_after_final_is_unknown(self):
        self.send_req({"prompt": "once"})
        d = self.expect(self.llm)
        d.reply({"text": "one"})
        self.next_reply()
        self.llm.send_frames("REP", {"msg": d.msg}, {"text": "two"})
        m = self.expect_message(self.llm)
        self.assertIn(m.command, ("ERROR", "REJECT"), m.header)
        self.assertIsNone(self.fe.recv_message(200))


class RequestRetry(RequestCase):
    """The tests that wait for (or outlast) an ack timeout."""

    edges = {("llm", "llm.prompt"): {"ack_timeout_ms": ACK_TIMEOUT_MS}}


    def test_partials_restart_the_ack_timer(self):
        # pieces every quarter of the ack timeout for 1.5 ack timeouts
        # keep the request with this instance (timeout_ms covers the
        # whole stream)
        self.send_req({"prompt": "slow"}, timeout_ms=abtest.WAIT_MS)
        d = self.expect(self.llm)
        for i in range(6):
            time.sleep(ACK_TIMEOUT_MS / 4000.0)
            d.reply({"text": ".", "index": i}, partial=True)
        d.reply({"text": "end"})
        pieces = [self.next_reply() for _ in range(7)]
        self.assertEqual([m.header.get("partial", False) for m in pieces],
                         [True] * 6 + [False])
        # no retry happened: the next request is the next delivery
        self.send_req({"prompt": "next"}, id="after")
        self.assertNext(self.llm, "after").reply({"text": "x"})

    def test_retry_on_another_replica_when_one_dies(self):
        self.send_req({"prompt": "who"}, id="r")
        d1 = self.expect(self.llm)
        # the first replica goes silent; a second one comes up
        second = self.agent("llm", instance="second")
        d2 = self.expect(second)
        self.assertEqual(d2.msg, d1.msg)
        self.assertEqual(d2.attempt, 2)
        self.assertTrue(d2.request)
        d2.reply({"text": "second"})
        m = self.next_reply()
        self.assertEqual((m.command, m.payload), ("REPLY", {"text": "second"}))

    def test_timeout_when_attempts_run_out(self):
        # default timeout: ack_timeout_ms x 3 attempts; the replier never
        # answers
        self.send_req({"prompt": "ignored"}, id="a")
        attempts = [self.expect(self.llm).attempt for _ in range(3)]
        self.assertEqual(attempts, [1, 2, 3])
        m = self.next_reply()
        self.assertEqual((m.command, m.header.get("code")),
                         ("REJECT", "timeout"))


class Helper(abtest.BrokerTestCase):
    """Agent.request with the replier in a second thread (each Agent owns
    its socket, so each is used by one thread only)."""

    def test_request_helper_with_partials(self):
        fe = self.agent("frontend")
        llm = self.agent("llm")

        def serve():
            d = llm.receive(abtest.WAIT_MS)
            if d is not None:
                d.reply({"text": "a", "index": 0}, partial=True)
                d.reply({"text": "b", "index": 1}, partial=True)
                d.reply({"text": "ab"})

        server = threading.Thread(target=serve)
        server.start()
        parts = []
        try:
            final = fe.request("llm.prompt", {"prompt": "p"},
                               timeout_ms=abtest.WAIT_MS,
                               on_partial=parts.append)
        finally:
            server.join()
        self.assertEqual([r.payload["text"] for r in parts], ["a", "b"])
        self.assertTrue(all(r.partial for r in parts))
        self.assertFalse(final.partial)
        self.assertEqual(final.payload, {"text": "ab"})
        self.assertEqual(final.sender, "llm")

    def test_request_helper_timeout_raises(self):
        fe = self.agent("frontend")
        self.assertRejected("timeout", fe.request, "llm.prompt",
                            {"prompt": "p"}, timeout_ms=200)


if __name__ == "__main__":
    abtest.main()
