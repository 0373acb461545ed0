#!/usr/bin/env python3
# rag_demo.py - retrieval -> reasoning through agentbus, with bad messages
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Retrieval -> reasoning: the broker keeps malformed context away.

Agents (all in this process, each with its own socket and thread):

* ``retriever`` scores a small corpus against each query and publishes
  ``retrieval.context`` messages: version 1 (passages) or version 2
  (passages and a float32 query embedding, sent as a tensor attachment).
  Interleaved with them it publishes deliberately malformed ones, one per
  kind of mistake (score above 1, missing field, extra field, wrong type,
  empty list, tensor frame of the wrong length, tensor of the wrong shape
  or dtype).
* ``reasoner`` answers each query from its best passage.
* ``auditor`` records what was retrieved; its edge takes version 2 only.

The broker validates each message against its schema: the malformed ones
are answered ``REJECT`` (``invalid`` with the failing keyword, or
``malformed`` for a tensor frame that disagrees with its reference) and
reach nobody; each valid one is fanned out to every edge whose
``versions`` accept it.  The demo reads the topology file to know which
consumers each message should reach, then checks that it happened: every
valid message accepted and delivered, unchanged, exactly once to each
consumer the topology names and to no other; every malformed one rejected
with the expected code and keyword and delivered to nobody.  It prints
what it counted and exits 1 if any check failed.

Run it against a broker on conf/topology.yaml::

    agentbusd --topology conf/topology.yaml --endpoint tcp://127.0.0.1:7780 &
    python3 contrib/examples/rag_demo.py --endpoint tcp://127.0.0.1:7780
"""

import collections
import hashlib
import json
import random
import re
import sys
import threading
import time
import uuid

import numpy

import demo_common
from demo_common import agentbus

TYPE = "retrieval.context"
EMBED_DIM = 768

CORPUS = [
    "The broker validates every payload against a versioned JSON Schema.",
    "Edges in the topology say which agent may send which type to whom.",
    "A strict edge delivers one producer's messages in publication order.",
    "Unacknowledged copies are redelivered after the ack timeout.",
    "Dead letters keep what could not be delivered; nothing is dropped.",
    "Tensor attachments travel as raw frames and are never copied.",
    "Credit windows bound how many copies an instance holds at once.",
    "A request edge carries prompts out and streamed completions back.",
    "Heartbeats tell the broker which instances are still alive.",
    "Fan-out puts one copy of a message on every matching edge.",
]

QUERIES = [
    "how does the broker validate a payload",
    "what does a strict edge guarantee about order",
    "what happens to copies that are not acknowledged",
    "are tensor attachments copied",
    "what limits how many copies an instance holds",
    "where do messages go that cannot be delivered",
    "how are completions streamed back",
    "how does the broker know an instance is alive",
    "what is fan-out",
    "which agent may send which type",
    "is anything ever dropped",
    "what schema does a payload follow",
]


def words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


def embed(text):
    """A unit-length bag-of-words vector (hashed words), shape (1, 768):
    a stand-in for a real encoder, deterministic across runs."""
    vec = numpy.zeros(EMBED_DIM, dtype=numpy.float32)
    for w in words(text):
        digest = hashlib.sha256(w.encode()).digest()
        vec[int.from_bytes(digest[:4], "little") % EMBED_DIM] += 1.0
    norm = numpy.linalg.norm(vec)
    return (vec / norm if norm else vec).reshape(1, EMBED_DIM)


def retrieve(query, k=3):
    """The ``k`` passages with the highest word overlap (Jaccard) with the
    query, best first: scores are in [0, 1] as the schema demands."""
    q = words(query)
    scored = []
    for text in CORPUS:
        p = words(text)
        scored.append((len(q & p) / len(q | p), text))
    scored.sort(key=lambda s: -s[0])
    return [{"text": t, "score": round(s, 4)} for s, t in scored[:k]]


# -- the malformed messages: (kind, expected code, expected keyword, how) --

def _score_above_one(doc, arrays):
    doc["passages"][0]["score"] = 1.5


def _missing_field(doc, arrays):
    del doc["query"]


def _extra_field(doc, arrays):
    doc["source"] = "web"


def _wrong_type(doc, arrays):
    doc["query"] = 42


def _empty_list(doc, arrays):
    doc["passages"] = []


def _tensor_bad_length(doc, arrays):
    # the reference says 1 x 768 float32 (3072 bytes); the frame is short
    doc["embedding"] = {"dtype": "float32", "shape": [1, EMBED_DIM],
                        "frame": 0}
    arrays.append(numpy.zeros(EMBED_DIM - 1, dtype=numpy.float32).tobytes())


def _tensor_bad_shape(doc, arrays):
    # consistent with its frame, but the schema wants [null, 768]
    doc["embedding"] = numpy.zeros((1, 512), dtype=numpy.float32)


def _tensor_bad_dtype(doc, arrays):
    doc["embedding"] = numpy.zeros((1, EMBED_DIM), dtype=numpy.float64)


MALFORMED = [
    ("score above 1", "invalid", "maximum", _score_above_one),
    ("missing field", "invalid", "required", _missing_field),
    ("extra field", "invalid", "additionalProperties", _extra_field),
    ("wrong type", "invalid", "type", _wrong_type),
    ("empty passages", "invalid", "minItems", _empty_list),
    ("tensor frame too short", "malformed", None, _tensor_bad_length),
    ("tensor of the wrong shape", "invalid", "tensor", _tensor_bad_shape),
    ("tensor of the wrong dtype", "invalid", "tensor", _tensor_bad_dtype),
]


class Planned:
    """One message the retriever will publish."""

    def __init__(self, id, version, doc, attachments, kind=None,
                 code=None, keyword=None):
        self.id = id                    # producer's id, unique in the run
        self.version = version          # schema version it claims
        self.doc = doc                  # payload (numpy arrays inside)
        self.attachments = attachments  # explicit attachment frames
        self.kind = kind                # None, or the malformed kind
        self.code = code                # expected REJECT code, if malformed
        self.keyword = keyword          # expected failing keyword, if any
        wire, frames = agentbus.encode_payload(doc, attachments)
        self.wire = json.loads(wire)    # the payload as it goes on the wire
        self.digests = [hashlib.sha256(memoryview(f).cast("B")).hexdigest()
                        for f in frames]  # attachment contents
        self.result = None              # "accepted" or the REJECT code
        self.routed = None              # OK's routed count
        self.errors = []                # REJECT errors
        self.message = ""               # REJECT message


def plan(run):
    """The messages, valid and malformed, in a shuffled but reproducible
    order.  Even queries go as version 2 with an embedding, odd ones as
    version 1."""
    planned = []
    for i, query in enumerate(QUERIES):
        doc = {"query": query, "passages": retrieve(query)}
        version = 2 if i % 2 == 0 else 1
        if version == 2:
            doc["embedding"] = embed(query)
        planned.append(Planned("%s-ok-%02d" % (run, i), version, doc, []))
    for j, (kind, code, keyword, mutate) in enumerate(MALFORMED):
        query = QUERIES[j % len(QUERIES)]
        doc = {"query": query, "passages": retrieve(query)}
        attachments = []
        mutate(doc, attachments)
        planned.append(Planned("%s-bad-%02d" % (run, j), 2, doc, attachments,
                               kind, code, keyword))
    random.Random(7).shuffle(planned)
    return planned


class Consumer(threading.Thread):
    """One consuming agent on its own socket: records each delivery by the
    producer's id, checks it against what was sent, and acks it."""

    def __init__(self, endpoint, name, sent, work):
        super().__init__(name=name, daemon=True)
        self.endpoint = endpoint
        self.agent_name = name
        self.sent = sent                  # producer id -> Planned
        self.work = work                  # fn(Delivery) -> note
        self.ready = threading.Event()    # HELLO answered
        self.stop = threading.Event()     # set by the main thread
        self.received = collections.Counter()  # producer id -> copies
        self.versions = collections.Counter()  # version -> copies
        self.foreign = 0                  # deliveries of an earlier run
        self.altered = []                 # ids whose payload changed
        self.notes = []                   # what work() returned
        self.error = None                 # exception that ended the thread

    def run(self):
        try:
            bus = agentbus.Agent(self.endpoint, self.agent_name, credit=8)
        except Exception as exc:  # reported by the main thread
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            while not self.stop.is_set():
                d = bus.receive(timeout_ms=50)
                if d is not None:
                    self.take(d)
                    d.ack()
            bus.poll(50)  # let the last ACKs leave before closing
        except Exception as exc:
            self.error = exc
        finally:
            bus.close(bye=True)

    def take(self, d):
        p = self.sent.get(d.id)
        if p is None:
            self.foreign += 1
            return
        self.received[d.id] += 1
        self.versions[d.version] += 1
        digests = [hashlib.sha256(a).hexdigest() for a in d.attachments]
        if d.payload != p.wire or digests != p.digests or \
                d.version != p.version or d.type != TYPE:
            self.altered.append(d.id)
        self.notes.append(self.work(d))

    def count(self):
        return sum(self.received.values())


def reason(d):
    """The reasoner's work: answer with the best passage; returns its
    score."""
    best = max(d.payload["passages"], key=lambda p: p["score"])
    return best["score"]


def audit(d):
    """The auditor's work: keep the record and check the embedding is a
    unit vector; returns (embedding rows, all unit length)."""
    if "embedding" not in d.payload:
        return (0, True)
    e = d.tensor("embedding")
    norms = numpy.linalg.norm(e, axis=1)
    return (e.shape[0], bool(numpy.allclose(norms, 1.0, atol=1e-5)))


def publish_all(endpoint, planned):
    bus = agentbus.Agent(endpoint, "retriever")
    try:
        for p in planned:
            try:
                ok = bus.publish(TYPE, p.doc, version=p.version, id=p.id,
                                 attachments=p.attachments)
                p.result, p.routed = "accepted", ok.get("routed")
            except agentbus.Rejected as rej:
                p.result, p.errors, p.message = rej.code, rej.errors, \
                    rej.message
        return bus.topology
    finally:
        bus.close(bye=True)


def expected_consumers(edges, version):
    """The agents the topology routes a retriever's message of this
    version to."""
    return sorted(e["to"] for e in edges
                  if e["from"] == "retriever" and e["type"] == TYPE and
                  ("versions" not in e or version in e["versions"]))


def run(args):
    edges = demo_common.load_edges(args.topology)
    consumer_names = sorted({e["to"] for e in edges
                             if e["from"] == "retriever" and
                             e["type"] == TYPE})
    run_id = "rag-" + uuid.uuid4().hex[:8]
    planned = plan(run_id)
    sent = {p.id: p for p in planned}
    work = {"reasoner": reason, "auditor": audit}
    consumers = {n: Consumer(args.endpoint, n, sent,
                             work.get(n, lambda d: None))
                 for n in consumer_names}
    for c in consumers.values():
        c.start()
    for c in consumers.values():
        c.ready.wait(60)

    started = time.monotonic()
    topology = publish_all(args.endpoint, planned)
    accepted = [p for p in planned if p.result == "accepted"]
    expect = {n: {p.id for p in accepted
                  if n in expected_consumers(edges, p.version)}
              for n in consumer_names}
    # Wait until each consumer has what it should get, then a little more
    # to catch anything it should not.
    deadline = time.monotonic() + 60  # a bound on a loaded machine
    while time.monotonic() < deadline and any(
            not expect[n] <= set(consumers[n].received) for n in expect):
        time.sleep(0.02)
    time.sleep(0.3)
    for c in consumers.values():
        c.stop.set()
    for c in consumers.values():
        c.join(30)
    elapsed = time.monotonic() - started
    return summarize(args, topology, edges, planned, consumers, expect,
                     elapsed)


def summarize(args, topology, edges, planned, consumers, expect, elapsed):
    out = sys.stdout
    valid = [p for p in planned if p.kind is None]
    bad = [p for p in planned if p.kind is not None]
    accepted = [p for p in planned if p.result == "accepted"]
    rejected = [p for p in planned if p.result != "accepted"]
    by_version = collections.Counter(p.version for p in valid)
    out.write("== rag: retrieval -> reasoning (%s at %s) ==\n"
              % (topology, args.endpoint))
    out.write("retriever sent %d %s messages: %d valid (%s), %d malformed\n"
              % (len(planned), TYPE, len(valid),
                 ", ".join("%d v%d" % (by_version[v], v)
                           for v in sorted(by_version)), len(bad)))
    out.write("broker accepted %d, rejected %d:\n"
              % (len(accepted), len(rejected)))
    reasons = collections.Counter()
    for p in rejected:
        keywords = sorted({e.get("keyword") for e in p.errors
                           if e.get("keyword")})
        reasons[p.result + ("/" + ",".join(keywords) if keywords else "")] \
            += 1
    for reason_, n in sorted(reasons.items()):
        out.write("  %-32s %d\n" % (reason_, n))
    for p in sorted(rejected, key=lambda p: p.id):
        if p.errors:
            first = p.errors[0]
            where = "%s at %s" % (first.get("keyword"),
                                  first.get("path") or "(root)")
        else:
            where = p.message
        out.write("    %-26s -> %s: %s\n" % (
            p.kind or "(a valid message!)", p.result, where))
    for name in sorted(consumers):
        c = consumers[name]
        versions = ", ".join("%d v%s" % (n, v)
                             for v, n in sorted(c.versions.items()))
        out.write("%s received %d (%s)%s\n" % (
            name, c.count(), versions or "none",
            ", %d left over from earlier runs" % c.foreign
            if c.foreign else ""))
    if "reasoner" in consumers and consumers["reasoner"].notes:
        scores = consumers["reasoner"].notes
        out.write("reasoner answered %d queries, best-passage score "
                  "mean %.3f (min %.3f)\n"
                  % (len(scores), sum(scores) / len(scores), min(scores)))
    if "auditor" in consumers and consumers["auditor"].notes:
        notes = consumers["auditor"].notes
        out.write("auditor recorded %d contexts, %d embedding rows, "
                  "all unit length: %s\n"
                  % (len(notes), sum(r for r, _ in notes),
                     "yes" if all(u for _, u in notes) else "NO"))
    out.write("elapsed %.2f s\n" % elapsed)

    checks = demo_common.Checks("rag")
    for c in consumers.values():
        checks.check(c.error is None, "%s ran without error%s" % (
            c.agent_name, "" if c.error is None else ": %r" % c.error))
    checks.check(all(p.result == "accepted" for p in valid),
                 "every valid message accepted (%d of %d)"
                 % (sum(p.result == "accepted" for p in valid), len(valid)))
    wrong = [p for p in bad if p.result != p.code or (
        p.keyword is not None and
        p.keyword not in {e.get("keyword") for e in p.errors})]
    checks.check(not wrong, "every malformed message rejected with the "
                 "expected code and keyword (%d of %d)%s"
                 % (len(bad) - len(wrong), len(bad), "".join(
                     "; %s: got %s %s" % (p.kind, p.result,
                                          [e.get("keyword") for e in p.errors])
                     for p in wrong)))
    misrouted = [p.id for p in accepted
                 if p.routed != len(expected_consumers(edges, p.version))]
    checks.check(not misrouted, "OK's routed count is what the topology "
                 "says for every accepted message%s"
                 % ("" if not misrouted else " (not for %s)" % misrouted))
    for name in sorted(consumers):
        c = consumers[name]
        got = set(c.received)
        missing = expect[name] - got
        extra = got - expect[name]
        twice = [i for i, n in c.received.items() if n > 1]
        checks.check(not missing and not extra and not twice,
                     "%s got exactly the %d accepted messages the topology "
                     "routes to it, once each%s" % (
                         name, len(expect[name]),
                         "" if not (missing or extra or twice) else
                         " (missing %d, unexpected %d, twice %d)"
                         % (len(missing), len(extra), len(twice))))
    leaked = sorted({i for c in consumers.values() for i in c.received
                     if i in {p.id for p in rejected}})
    checks.check(not leaked, "no rejected message reached any consumer%s"
                 % ("" if not leaked else " (%s did)" % leaked))
    altered = sorted({i for c in consumers.values() for i in c.altered})
    checks.check(not altered, "payloads, versions and tensors arrived "
                 "unchanged%s" % ("" if not altered else
                                  " (not for %s)" % altered))
    return checks.report(out)


def main(argv=None):
    args = demo_common.parse_args(__doc__.splitlines()[0], argv=argv)
    try:
        return run(args)
    except (agentbus.AgentbusError, OSError) as exc:
        sys.stdout.write("rag: FAIL: %s\n" % exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
