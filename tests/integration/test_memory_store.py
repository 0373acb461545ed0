# Non-durable messages end to end, over the real agentbusd: live ones are
# the broker's alone and count against memory_limit; a copy that dies
# without a dead_letter agent moves into the memory store's dead letters
# (an earlier copy of the same message may be there already), which
# dead.list / dead.replay / dead.purge reach and memory_limit counts;
# ACK/NACK `msg` is parsed strictly.
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from durable_harness import AGENTBUS, WAIT_MS, Agent, Broker  # noqa: E402

FULL = "store: memory_limit reached"
BIG = 8000  # payload text bytes: about 8 kB a message


def body(text):
    """The exact payload frame a PUB sends (and DELIVER must carry)."""
    return json.dumps({"text": text}).encode()


def blob_body(text, blob):
    """A payload referring to one uint8 attachment (protocol section 8)."""
    return json.dumps({"text": text, "blob": {"dtype": "uint8",
                                              "shape": [len(blob)],
                                              "frame": 0}}).encode()


BLOB = bytes(range(256)) * 3 + b"\x00\xff\x00"


class MemoryStoreCase(unittest.TestCase):
    """One non-durable broker (no data_dir: the memory store alone) per
    test; its log is checked for sanitizer reports at the end."""

    config = ""
    consumers = ("consumer",)
    data_dir = False  # True: the LMDB store is open too (ids come from it)
    dead_letter = False  # True: agent graveyard is the dead_letter agent
    ack_timeout_ms = 30000  # no test here measures it: no retries

    def setUp(self):
        self.broker = Broker(self.config, durable=False,
                             consumers=self.consumers, data_dir=self.data_dir,
                             dead_letter=self.dead_letter,
                             ack_timeout_ms=self.ack_timeout_ms)
        self.agents = []
        self.broker.start()
        self.producer = self.agent("producer")

    def tearDown(self):
        for agent in self.agents:
            agent.close()
        try:
            if self.broker.proc.poll() is None:
                self.assertEqual(self.broker.stop(), 0)
        finally:
            self.broker.cleanup()

    def agent(self, name, credit=64):
        agent = Agent(self.broker.endpoint, name, credit=credit)
        self.agents.append(agent)
        self.expect(agent, "WELCOME")
        return agent

    def next(self, agent, timeout=WAIT_MS):
        answer = agent.recv(timeout)
        self.assertIsNotNone(answer, "%s: nothing within %d ms"
                             % (agent.agent, timeout))
        return answer

    def expect(self, agent, command, timeout=WAIT_MS):
        answer = self.next(agent, timeout)
        self.assertEqual(answer[0], command, answer)
        return answer

    def assertQuiet(self, agent, timeout=300):
        """Nothing at all reaches `agent` within `timeout` ms."""
        answer = agent.recv(timeout)
        self.assertIsNone(answer, "%s got %r" % (agent.agent, answer))

    def assertAlive(self, agent):
        """The broker still runs and answers `agent` in order."""
        self.assertIsNone(self.broker.proc.poll())
        agent.send("PING", {})
        self.expect(agent, "PONG")

    def pub(self, id, payload, attachments=(), **header):
        """(command, header) of the answer to one PUB of test.note."""
        self.producer.send("PUB", dict(type="test.note", version=1, id=id,
                                       **header), payload, attachments)
        command, answer, _ = self.next(self.producer)
        self.assertEqual(answer.get("id"), id, answer)
        return command, answer

    def pub_ok(self, id, payload, attachments=(), routed=1, **header):
        command, answer = self.pub(id, payload, attachments, **header)
        self.assertEqual((command, answer["routed"]), ("OK", routed), answer)

    def assertFull(self, command, answer):
        self.assertEqual(command, "REJECT", answer)
        self.assertEqual((answer["code"], answer["message"]),
                         ("overloaded", FULL), answer)

    def deliver(self, agent, timeout=WAIT_MS):
        """The next DELIVER to `agent`: (header, frames 3...)."""
        _, header, _ = self.expect(agent, "DELIVER", timeout)
        return header, agent.frames[3:]

    def admin(self, cmd, **request):
        answer = self.broker.admin_request(dict(cmd=cmd, **request))
        self.assertIn("ok", answer)
        return answer

    def dead(self):
        """Every dead letter: one page, as a page is filled across the
        stores (with a data_dir, the empty LMDB store's then the memory
        store's), so under the limit no cursor is left."""
        answer = self.admin("dead.list", limit=1000)
        self.assertTrue(answer["ok"], answer)
        self.assertIsNone(answer["cursor"], answer)
        return answer["dead"]

    def dead_when(self, count, timeout=WAIT_MS / 1000.0):
        """dead.list once it has `count` entries (bounded wait)."""
        deadline = time.monotonic() + timeout
        while True:
            dead = self.dead()
            if len(dead) == count or time.monotonic() > deadline:
                self.assertEqual(len(dead), count, dead)
                return dead
            time.sleep(0.02)

    def counters(self):
        answer = self.admin("counters")
        self.assertTrue(answer["ok"], answer)
        return answer["counters"]

    def replay(self, *ids):
        answer = self.admin("dead.replay", ids=list(ids))
        self.assertEqual((answer["ok"], answer["done"], answer["failed"]),
                         (True, len(ids), []), answer)

    def purge(self, *ids):
        answer = self.admin("dead.purge", ids=list(ids))
        self.assertEqual((answer["ok"], answer["done"], answer["failed"]),
                         (True, len(ids), []), answer)

    def take(self, agent, frames, id, attempt=1):
        header, got = self.deliver(agent)
        self.assertEqual(got, frames, header)
        self.assertEqual((header["id"], header["type"], header["from"],
                          header["attempt"]),
                         (id, "test.note", "producer", attempt), header)
        return header["msg"]

    def assertDead(self, entry, msg, to, reason="rejected", attempts=1):
        self.assertEqual(entry["id"], msg, entry)
        self.assertEqual((entry["type"], entry["from"], entry["edge"],
                          entry["reason"], entry["attempts"]),
                         ("test.note", "producer",
                          "producer->%s:test.note" % to, reason, attempts),
                         entry)

    def nack(self, agent, msg):
        agent.send("NACK", {"msg": msg, "requeue": False, "reason": "no"})


class MemoryLimit(MemoryStoreCase):
    config = "memory_limit: 200000\n"

    def fill(self, tag, limit=60):
        """PUBs 8 kB messages until overloaded; {id: body} of those that
        got OK."""
        sent = {}
        for i in range(limit):
            id = "%s%d" % (tag, i)
            payload = body("%s:%s" % (id, "x" * BIG))
            command, answer = self.pub(id, payload)
            if command != "OK":
                self.assertFull(command, answer)
                return sent
            self.assertEqual(answer["routed"], 1, answer)
            sent[id] = payload
        self.fail("no overloaded after %d PUBs of 8 kB" % limit)

    def drain(self, sent):
        """A consumer takes and acks everything: each accepted message
        exactly once, its payload intact, nothing else."""
        consumer = self.agent("consumer")
        got = []
        for _ in sent:
            header, frames = self.deliver(consumer)
            self.assertEqual(header["attempt"], 1, header)
            self.assertEqual(frames, [sent[header["id"]]], header)
            got.append(header["id"])
            consumer.send("ACK", {"msg": header["msg"]})
        self.assertEqual(sorted(got), sorted(sent))
        self.assertQuiet(consumer)
        consumer.send("BYE", {})
        self.assertAlive(self.producer)

    def test_full_then_drained_then_room_again(self):
        sent = self.fill("a")
        # 200000 / ~8 kB: about 24 fit, the body bytes are what counts
        self.assertTrue(20 <= len(sent) <= 25, len(sent))
        for i in range(3):  # still full: nothing was freed
            self.assertFull(*self.pub("late%d" % i, body("x" * BIG)))
        self.assertAlive(self.producer)
        self.drain(sent)
        # every byte came back: exactly as many fit as the first time
        again = self.fill("b")
        self.assertEqual(len(again), len(sent))
        self.drain(again)
        self.pub_ok("small", body("small"))
        counters = self.counters()
        self.assertEqual(counters["rejected"]["overloaded"], 5, counters)
        self.assertEqual(counters["acked"], 2 * len(sent), counters)
        self.assertEqual(counters["store_dead_letters"], 0, counters)

    def test_one_message_over_the_limit(self):
        self.assertFull(*self.pub("huge", body("x" * 200000)))
        self.pub_ok("small", body("small"))
        consumer = self.agent("consumer")
        header, frames = self.deliver(consumer)
        self.assertEqual((header["id"], frames), ("small", [body("small")]))
        consumer.send("ACK", {"msg": header["msg"]})
        self.assertQuiet(consumer, 100)


class FanOut(MemoryStoreCase):
    consumers = ("a", "b")

    def setUp(self):
        super().setUp()
        self.a = self.agent("a")
        self.b = self.agent("b")

    def publish_both(self, id):
        """One message with an attachment to a and b: its frames."""
        frames = [blob_body(id, BLOB), BLOB]
        self.pub_ok(id, frames[0], frames[1:], routed=2)
        return frames

    def test_one_copy_dies_and_is_replayed(self):
        frames = self.publish_both("m1")
        msg_a = self.take(self.a, frames, "m1")
        msg_b = self.take(self.b, frames, "m1")
        self.nack(self.a, msg_a)
        self.b.send("ACK", {"msg": msg_b})
        (entry,) = self.dead_when(1)
        self.assertDead(entry, msg_a, "a")
        self.assertEqual(self.counters()["store_dead_letters"], 1)
        run = subprocess.run([AGENTBUS, "dead", "list", "--admin",
                              self.broker.admin], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run)
        self.assertTrue(run.stdout.startswith(
            "%s\trejected\t1\tproducer->a:test.note\ttest.note\tproducer\t"
            % msg_a), run.stdout)
        self.replay(msg_a)
        again = self.take(self.a, frames, "m1")
        self.assertNotEqual(again, msg_a)  # a fresh copy
        self.a.send("ACK", {"msg": again})
        self.assertAlive(self.a)  # no ERROR before the PONG: it was held
        self.assertEqual(self.dead(), [])
        self.assertQuiet(self.b)
        counters = self.counters()
        self.assertEqual((counters["acked"], counters["store_dead_letters"],
                          counters["copies_pending"]), (2, 0, 0), counters)

    def both_die(self, id):
        """Both copies of one message NACKed without requeue: their
        frames and the dead letters, a's first."""
        frames = self.publish_both(id)
        msg_a = self.take(self.a, frames, id)
        msg_b = self.take(self.b, frames, id)
        self.nack(self.a, msg_a)
        self.nack(self.b, msg_b)
        dead = {d["id"]: d for d in self.dead_when(2)}
        self.assertEqual(sorted(dead), sorted([msg_a, msg_b]))
        self.assertDead(dead[msg_a], msg_a, "a")
        self.assertDead(dead[msg_b], msg_b, "b")
        self.assertEqual(dead[msg_a]["message"], dead[msg_b]["message"])
        return frames, dead[msg_a], dead[msg_b]

    def test_both_copies_die_and_are_replayed(self):
        frames, dead_a, dead_b = self.both_die("m2")
        # a's copy back while b's dead letter still holds the message,
        # then dead again: the message is in the store already
        self.replay(dead_a["id"])
        msg = self.take(self.a, frames, "m2")
        self.nack(self.a, msg)
        dead = {d["id"]: d for d in self.dead_when(2)}
        self.assertEqual(sorted(dead), sorted([dead_b["id"], msg]))
        self.assertDead(dead[msg], msg, "a")
        self.assertEqual(dead[msg]["message"], dead_b["message"])
        self.replay(msg, dead_b["id"])
        self.a.send("ACK", {"msg": self.take(self.a, frames, "m2")})
        self.b.send("ACK", {"msg": self.take(self.b, frames, "m2")})
        self.assertAlive(self.a)
        self.assertAlive(self.b)
        self.assertEqual(self.dead(), [])
        self.assertEqual(self.counters()["store_dead_letters"], 0)

    def test_purge_one_leaves_the_other(self):
        frames, dead_a, dead_b = self.both_die("m3")
        self.purge(dead_a["id"])
        (left,) = self.dead()
        self.assertEqual(left, dead_b)
        failed = self.admin("dead.replay", ids=[dead_a["id"]])
        self.assertEqual(failed["failed"], [{"id": dead_a["id"],
                                             "error": "no such dead letter"}])
        self.replay(dead_b["id"])
        self.b.send("ACK", {"msg": self.take(self.b, frames, "m3")})
        self.assertAlive(self.b)
        self.assertQuiet(self.a, 100)
        self.assertEqual(self.dead(), [])
        self.assertEqual(self.counters()["store_dead_letters"], 0)

    def test_dead_beside_a_live_copy(self):
        # a's copy dies while b's copy of the same message is in flight:
        # purged, then replayed, while the broker still holds it live
        frames = self.publish_both("m4")
        msg_a = self.take(self.a, frames, "m4")
        msg_b = self.take(self.b, frames, "m4")
        self.nack(self.a, msg_a)
        (entry,) = self.dead_when(1)
        self.purge(entry["id"])
        self.assertEqual(self.dead(), [])
        self.nack(self.b, msg_b)  # put into the store again, afresh
        (entry,) = self.dead_when(1)
        self.assertDead(entry, msg_b, "b")
        self.replay(entry["id"])
        self.b.send("ACK", {"msg": self.take(self.b, frames, "m4")})
        frames = self.publish_both("m5")
        msg_a = self.take(self.a, frames, "m5")
        msg_b = self.take(self.b, frames, "m5")
        self.nack(self.a, msg_a)
        self.replay(self.dead_when(1)[0]["id"])
        self.nack(self.a, self.take(self.a, frames, "m5"))
        self.nack(self.b, msg_b)
        dead = self.dead_when(2)
        self.assertEqual(sorted(d["edge"] for d in dead),
                         ["producer->a:test.note", "producer->b:test.note"])
        self.replay(*[d["id"] for d in dead])
        self.a.send("ACK", {"msg": self.take(self.a, frames, "m5")})
        self.b.send("ACK", {"msg": self.take(self.b, frames, "m5")})
        self.assertAlive(self.a)
        self.assertAlive(self.b)
        self.assertEqual(self.dead(), [])
        counters = self.counters()
        self.assertEqual((counters["acked"], counters["copies_pending"],
                          counters["store_dead_letters"]), (3, 0, 0), counters)


class FanOutBesideDisk(FanOut):
    """The same with a data_dir: the LMDB store is open (empty: every
    edge is non-durable) and hands out the ids; dead.list, replay and
    purge find the memory store's dead letters beside it."""
    data_dir = True


class Pages(MemoryStoreCase):
    """dead.list fills a page across the stores: with a data_dir the
    (empty) LMDB store's dead letters come first, then the memory
    store's, and no page is empty before the last."""
    data_dir = True

    def test_pages_span_the_stores(self):
        """Small pages walk every dead letter once, in order, and end
        with a null cursor."""
        for i in range(3):
            self.pub_ok("p%d" % i, body("p%d" % i), ttl_ms=50)
        whole = self.dead_when(3)
        paged, cursor = [], None
        for _ in range(4):
            answer = self.admin("dead.list", limit=2, cursor=cursor)
            self.assertTrue(answer["ok"], answer)
            self.assertLessEqual(len(answer["dead"]), 2, answer)
            paged += answer["dead"]
            cursor = answer["cursor"]
            if cursor is None:
                break
            self.assertEqual(len(answer["dead"]), 2, answer)
        self.assertIsNone(cursor)
        self.assertEqual([d["id"] for d in paged], [d["id"] for d in whole])


class Graveyard(MemoryStoreCase):
    """A dead_letter agent whose delivery dies too: that copy goes into
    the memory store, and a replay gives it back to the graveyard as the
    same agentbus.dead_letter delivery, frames intact."""
    consumers = ("a",)
    dead_letter = True

    def setUp(self):
        super().setUp()
        self.a = self.agent("a")
        self.grave = self.agent("graveyard")

    def test_dead_letter_delivery_dies_into_the_store(self):
        frames = [blob_body("g1", BLOB), BLOB]
        self.pub_ok("g1", frames[0], frames[1:])
        self.nack(self.a, self.take(self.a, frames, "g1"))
        header, got = self.deliver(self.grave)
        self.assertEqual(got, frames)
        self.assertEqual((header["type"], header["reason"],
                          header["original"]["to"], header["id"]),
                         ("agentbus.dead_letter", "rejected", "a", "g1"),
                         header)
        self.nack(self.grave, header["msg"])
        (entry,) = self.dead_when(1)
        self.assertEqual((entry["id"], entry["edge"], entry["reason"],
                          entry["type"], entry["from"]),
                         (header["msg"], "dead_letter->graveyard:rejected",
                          "rejected", "test.note", "producer"), entry)
        self.replay(entry["id"])
        again, got = self.deliver(self.grave)
        self.assertEqual(got, frames)
        self.assertEqual((again["type"], again["reason"], again["id"],
                          again["attempt"]),
                         ("agentbus.dead_letter", "rejected", "g1", 1), again)
        self.grave.send("ACK", {"msg": again["msg"]})
        self.assertAlive(self.grave)
        self.assertQuiet(self.a, 50)
        self.assertEqual(self.dead(), [])
        self.assertEqual(self.counters()["copies_pending"], 0)


class DeadLettersCount(MemoryStoreCase):
    config = "memory_limit: 60000\n"

    def kill_until_full(self, consumer, tag):
        """PUBs 8 kB messages, each NACKed into the dead letters, until
        a PUB is overloaded; how many died."""
        for i in range(40):
            command, answer = self.pub("%s%d" % (tag, i), body("x" * BIG))
            if command != "OK":
                self.assertFull(command, answer)
                self.assertEqual(len(self.dead()), i)
                return i
            header, _ = self.deliver(consumer)
            consumer.send("NACK", {"msg": header["msg"], "requeue": False})
            self.dead_when(i + 1)
        self.fail("dead letters never reached memory_limit")

    def test_dead_letters_fill_and_purge_frees(self):
        consumer = self.agent("consumer")
        died = self.kill_until_full(consumer, "a")
        self.assertTrue(3 <= died <= 7, died)  # 60000 / 8 kB
        self.assertEqual(self.counters()["copies_pending"], 0)
        # replayed (past the limit: they were counted), then acked
        answer = self.admin("dead.replay", all=True)
        self.assertEqual((answer["ok"], answer["done"]), (True, died), answer)
        for _ in range(died):
            header, frames = self.deliver(consumer)
            self.assertEqual(frames, [body("x" * BIG)], header)
            consumer.send("ACK", {"msg": header["msg"]})
        self.assertQuiet(consumer, 100)
        self.assertEqual(self.dead(), [])
        # every byte came back: exactly as many die again
        self.assertEqual(self.kill_until_full(consumer, "b"), died)
        answer = self.admin("dead.purge", all=True)
        self.assertEqual((answer["ok"], answer["done"]), (True, died), answer)
        self.assertEqual(self.dead(), [])
        self.pub_ok("after", body("after"))
        header, frames = self.deliver(consumer)
        self.assertEqual(frames, [body("after")])
        consumer.send("ACK", {"msg": header["msg"]})
        # and after the purge too
        self.assertEqual(self.kill_until_full(consumer, "c"), died)
        self.assertAlive(consumer)


class Expiry(MemoryStoreCase):

    def test_expired_copies_are_dead_letters(self):
        # waiting: nobody connected to take it
        self.pub_ok("t1", body("t1"), ttl_ms=150)
        (entry,) = self.dead_when(1)
        self.assertEqual((entry["reason"], entry["attempts"], entry["edge"],
                          entry["type"], entry["from"]),
                         ("expired", 0, "producer->consumer:test.note",
                          "test.note", "producer"), entry)
        # in flight: taken back when it expires; a late ACK is unknown
        consumer = self.agent("consumer")
        self.pub_ok("t2", body("t2"), ttl_ms=600)
        header, frames = self.deliver(consumer)
        self.assertEqual((header["id"], frames), ("t2", [body("t2")]))
        dead = self.dead_when(2)
        self.assertEqual((dead[1]["id"], dead[1]["reason"],
                          dead[1]["attempts"]),
                         (header["msg"], "expired", 1), dead)
        consumer.send("ACK", {"msg": header["msg"]})
        _, error, _ = self.expect(consumer, "ERROR")
        self.assertEqual(error["code"], "unknown_message", error)
        counters = self.counters()
        self.assertEqual((counters["dead_lettered"]["expired"],
                          counters["store_dead_letters"]), (2, 2), counters)
        self.assertQuiet(consumer, 100)
        # a replay is delivered: the PUB's ttl_ms was spent the first time
        self.replay(dead[0]["id"], dead[1]["id"])
        got = {}
        for _ in range(2):
            header, frames = self.deliver(consumer)
            self.assertEqual(header["attempt"], 1, header)
            got[header["id"]] = frames
            consumer.send("ACK", {"msg": header["msg"]})
        self.assertEqual(got, {"t1": [body("t1")], "t2": [body("t2")]})
        self.assertEqual(self.dead(), [])
        self.assertQuiet(consumer, 100)


class StrictMsg(MemoryStoreCase):
    ack_timeout_ms = 5000  # the copies must stay in flight all along

    def bad_acks(self, agent, msg):
        """ACKs and NACKs naming `msg` wrongly: each answered
        unknown_message, in order. Returns how many were sent."""
        big = "18446744073709551616"  # 2^64
        wrong = ["0" + msg, "00" + msg, "+" + msg, "-" + msg, " " + msg,
                 msg + " ", msg + "x", msg.zfill(21), "1" * 25, big, "",
                 "0", -int(msg), 0, float(msg), [msg], {"id": msg}, None,
                 True]
        for value in wrong:
            for command in ("ACK", "NACK"):
                agent.send(command, {"msg": value, "requeue": False})
                _, error, _ = self.expect(agent, "ERROR")
                self.assertEqual(error["code"], "unknown_message",
                                 (command, value, error))
        # a NUL after the digits: the header parser refuses \u0000
        # (protocol), or msg does not name the copy; never the copy
        agent.send("ACK", {"msg": msg + "\u0000"})
        _, error, _ = self.expect(agent, "ERROR")
        self.assertIn(error["code"], ("protocol", "unknown_message"), error)
        self.assertAlive(agent)
        return 2 * len(wrong)

    def test_msg_is_parsed_strictly(self):
        consumer = self.agent("consumer")
        self.pub_ok("s1", body("s1"))
        self.pub_ok("s2", body("s2"))
        one, _ = self.deliver(consumer)
        two, _ = self.deliver(consumer)
        wrong = self.bad_acks(consumer, one["msg"])
        # both still held in flight: no redelivery, no dead letter, and
        # the right ACKs (as a string, as an integer) get no ERROR
        self.assertQuiet(consumer, 50)
        self.assertEqual(self.dead(), [])
        consumer.send("ACK", {"msg": one["msg"]})
        consumer.send("ACK", {"msg": int(two["msg"])})
        self.assertAlive(consumer)
        consumer.send("ACK", {"msg": one["msg"]})  # done: now unknown
        _, error, _ = self.expect(consumer, "ERROR")
        self.assertEqual(error["code"], "unknown_message", error)
        counters = self.counters()
        self.assertEqual((counters["acked"], counters["copies_pending"],
                          counters["errors"]["unknown_message"]),
                         (2, 0, wrong + 1), counters)


if __name__ == "__main__":
    unittest.main(verbosity=2)
