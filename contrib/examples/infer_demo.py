#!/usr/bin/env python3
# infer_demo.py - streamed inference on three replicas, one of them killed
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Inference: requests survive a replica killed mid-stream.

Three LLM stand-ins (instances of the agent ``llm``, each its own
process) take ``llm.prompt`` requests from ``frontend`` over the request
edge and stream their answers: one ``REP {partial: true}`` per token,
then a final ``REP`` with ``done: true``.  Each replica holds one request
at a time (credit 1), so the burst of requests waits in the broker, not
in the replicas.

Mid-run the demo SIGKILLs one replica while it is streaming: no ``BYE``,
no goodbye, its socket simply vanishes.  The broker notices (the request's
ack timeout, restarted by every streamed piece, or the instance's missed
heartbeats) and hands the request to another replica with ``attempt`` 2;
the frontend sees the stream start again at index 0 and keeps the new
one.  Every request must still complete with the right answer.

The summary counts requests, completions, retried requests (delivered
more than once, from the replicas' own reports), restarted streams (as the
frontend saw them) and the latency percentiles; the demo exits 1 if a
request failed or got a wrong answer, or if the kill did not hit a request
in flight.

Run it against a broker on conf/topology.yaml::

    agentbusd --topology conf/topology.yaml --endpoint tcp://127.0.0.1:7780 &
    python3 contrib/examples/infer_demo.py --endpoint tcp://127.0.0.1:7780

(``--replica NAME`` is how the demo starts its replica processes.)
"""

import argparse
import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

import demo_common
from demo_common import agentbus

REQUEST = "llm.prompt"
REPLICAS = 3
VICTIM = "replica-1"

PROMPTS = [
    "route every prompt to a free replica",
    "stream tokens back as soon as they exist",
    "a killed worker must not lose the request",
    "credit keeps bursts in the broker",
    "heartbeats reveal the dead",
    "retry on another instance after the ack timeout",
]


def complete(prompt):
    """The stand-in model: answers with the prompt's words in reverse
    order, one token per word."""
    return list(reversed(prompt.split()))


# -- the replica process ---------------------------------------------------

def replica(args):
    """Serves requests until SIGTERM; reports each start and finish on
    stdout as one JSON line, for the demo to count."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    def report(event, **fields):
        fields.update(event=event, replica=args.replica)
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()

    parent = os.getppid()
    bus = agentbus.Agent(args.endpoint, "llm", credit=1,
                         instance=args.replica)
    report("ready")
    try:
        # a replica whose demo died (reparented) stops too
        while not stop and os.getppid() == parent:
            d = bus.receive(timeout_ms=50)
            if d is None:
                continue
            report("start", id=d.id, attempt=d.attempt)
            tokens = complete(d.payload["prompt"])
            try:
                for i, token in enumerate(tokens):
                    time.sleep(args.token_ms / 1000.0)
                    d.reply({"text": token, "index": i, "done": False},
                            partial=True)
                d.reply({"text": "", "index": len(tokens), "done": True,
                         "finish_reason": "stop",
                         "usage": {"prompt_tokens": len(tokens),
                                   "completion_tokens": len(tokens)}})
                report("done", id=d.id, attempt=d.attempt)
            except agentbus.AgentbusError as exc:
                # e.g. the request went to another replica meanwhile
                report("lost", id=d.id, attempt=d.attempt, error=str(exc))
    finally:
        bus.close(bye=True)
    return 0


# -- the demo --------------------------------------------------------------

class Replicas:
    """The replica processes and what they report."""

    def __init__(self, args):
        self.args = args
        self.procs = {}                 # name -> Popen
        self.events = []                # (seconds, report dict)
        self.cond = threading.Condition()
        self.t0 = time.monotonic()      # reset when the requests start
        self.readers = []               # threads reading the reports

    def start(self):
        script = os.path.abspath(__file__)
        for n in range(REPLICAS):
            name = "replica-%d" % n
            proc = subprocess.Popen(
                [sys.executable, script, "--endpoint", self.args.endpoint,
                 "--replica", name, "--token-ms", str(self.args.token_ms)],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            self.procs[name] = proc
            reader = threading.Thread(target=self.read, args=(proc,),
                                      daemon=True)
            reader.start()
            self.readers.append(reader)

    def read(self, proc):
        for line in proc.stdout:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.events.append((time.monotonic() - self.t0, report))
                self.cond.notify_all()

    def wait(self, predicate, seconds):
        """Waits until ``predicate(events)`` is true; returns it."""
        deadline = time.monotonic() + seconds
        with self.cond:
            while not predicate(self.events):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return predicate(self.events)

    def of(self, event, replica=None):
        with self.cond:
            return [r for _, r in self.events if r["event"] == event and
                    (replica is None or r["replica"] == replica)]

    def stop(self):
        """SIGTERM to the live ones (they say BYE); returns their exit
        statuses."""
        status = {}
        for name, proc in self.procs.items():
            if proc.poll() is None:
                proc.terminate()
        for name, proc in self.procs.items():
            try:
                status[name] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                status[name] = proc.wait()
        for reader in self.readers:
            reader.join(10)
        return status


class Outcome:
    """What the frontend saw of one request."""

    def __init__(self, id, prompt):
        self.id = id                # request id (the REQ's id)
        self.prompt = prompt
        self.expected = complete(prompt)
        self.tokens = []            # the current stream's tokens
        self.restarts = 0           # streams that began again at index 0
        self.pieces = 0             # partial replies received in all
        self.latency = None         # seconds from REQ to final REPLY
        self.error = None           # REJECT or other failure
        self.bad_index = False      # a piece out of sequence

    def take(self, reply):
        p = reply.payload
        if reply.partial:
            self.pieces += 1
            if p["index"] == 0 and self.tokens:
                self.restarts += 1
                self.tokens = []
            if p["index"] != len(self.tokens):
                self.bad_index = True
            self.tokens.append(p["text"])
        elif not p.get("done") or p.get("index") != len(self.tokens):
            self.bad_index = True

    def correct(self):
        return self.latency is not None and not self.bad_index and \
            self.tokens == self.expected


def frontend(endpoint, work, timeout_ms, errors):
    """One frontend instance: sends the requests it takes from ``work``,
    one at a time, and records each outcome."""
    try:
        bus = agentbus.Agent(endpoint, "frontend")
    except agentbus.AgentbusError as exc:
        errors.append(exc)
        return
    try:
        while True:
            try:
                o = work.get_nowait()
            except queue.Empty:
                return
            started = time.monotonic()
            try:
                for reply in bus.request_stream(REQUEST, {"prompt": o.prompt},
                                                timeout_ms=timeout_ms,
                                                id=o.id):
                    o.take(reply)
                o.latency = time.monotonic() - started
            except agentbus.AgentbusError as exc:
                o.error = exc
    finally:
        bus.close(bye=True)


def kill_victim(replicas, done_before_kill):
    """SIGKILLs the victim once it has finished ``done_before_kill``
    requests and is streaming the next; returns (seconds, id it held) or
    None if it never got that far."""
    def streaming(events):
        starts = [r for _, r in events if r["replica"] == VICTIM and
                  r["event"] == "start"]
        dones = [r for _, r in events if r["replica"] == VICTIM and
                 r["event"] == "done"]
        return len(dones) >= done_before_kill and len(starts) > len(dones)

    if not replicas.wait(streaming, 120):
        return None
    time.sleep(replicas.args.token_ms * 2.5 / 1000.0)  # a few pieces out
    held = replicas.of("start", VICTIM)[-1]["id"]
    replicas.procs[VICTIM].send_signal(signal.SIGKILL)
    return time.monotonic() - replicas.t0, held


def run(args):
    replicas = Replicas(args)
    replicas.start()
    ready = replicas.wait(
        lambda ev: sum(r["event"] == "ready" for _, r in ev) == REPLICAS, 60)
    if not ready:
        replicas.stop()
        sys.stdout.write("infer: FAIL: the replicas did not connect\n")
        return 1
    run_id = "infer-" + uuid.uuid4().hex[:8]
    work = queue.Queue()
    planned = []
    for i in range(args.requests):
        o = Outcome("%s-%02d" % (run_id, i), PROMPTS[i % len(PROMPTS)])
        planned.append(o)
        work.put(o)
    errors = []
    replicas.t0 = time.monotonic()
    threads = [threading.Thread(target=frontend, daemon=True,
                                args=(args.endpoint, work,
                                      args.timeout_ms, errors))
               for _ in range(args.frontends)]
    for t in threads:
        t.start()
    kill = kill_victim(replicas, 2)
    for t in threads:
        t.join(args.timeout_ms / 1000.0 * 2 + 10)
    elapsed = time.monotonic() - replicas.t0
    status = replicas.stop()
    return summarize(args, planned, replicas, kill, status, errors, elapsed)


def summarize(args, planned, replicas, kill, status, errors, elapsed):
    out = sys.stdout
    starts = collections.Counter(r["id"] for r in replicas.of("start"))
    finals = collections.Counter(r["id"] for r in replicas.of("done"))
    served = collections.Counter(r["replica"] for r in replicas.of("done"))
    retried = sorted(i for i, n in starts.items() if n > 1)
    late = [r for r in replicas.of("done") if (r.get("attempt") or 1) > 1]
    completed = [o for o in planned if o.correct()]
    failed = [o for o in planned if o.error is not None]
    latencies = [o.latency * 1000 for o in planned if o.latency is not None]
    out.write("== infer: %d requests, %d frontends, %d llm replicas "
              "streaming (%s) ==\n"
              % (len(planned), args.frontends, REPLICAS, args.endpoint))
    if kill:
        out.write("%s SIGKILLed at %.3f s while streaming %s\n"
                  % (VICTIM, kill[0], kill[1]))
    else:
        out.write("%s was never seen streaming: not killed\n" % VICTIM)
    out.write("completed %d of %d requests with the right answer, %d "
              "failed\n" % (len(completed), len(planned), len(failed)))
    for o in failed:
        out.write("  %s: %s\n" % (o.id, o.error))
    out.write("retried %d (delivered more than once: %s); the frontend saw "
              "%d streams restart\n"
              % (len(retried), ", ".join(retried) or "none",
                 sum(o.restarts for o in planned)))
    out.write("final replies per replica: %s\n" % ", ".join(
        "%s %d" % (n, served[n]) for n in sorted(replicas.procs)))
    out.write("streamed pieces received: %d\n"
              % sum(o.pieces for o in planned))
    if latencies:
        out.write("latency p50 %.0f ms, p99 %.0f ms, max %.0f ms\n"
                  % (demo_common.percentile(latencies, 50),
                     demo_common.percentile(latencies, 99),
                     max(latencies)))
    out.write("elapsed %.2f s\n" % elapsed)

    checks = demo_common.Checks("infer")
    checks.check(not errors, "every frontend connected%s"
                 % "".join("; %r" % e for e in errors))
    checks.check(len(completed) == len(planned),
                 "every request completed with the right answer (%d of %d)"
                 % (len(completed), len(planned)))
    checks.check(kill is not None and status.get(VICTIM) == -signal.SIGKILL,
                 "%s was killed mid-stream (exit status %s)"
                 % (VICTIM, status.get(VICTIM)))
    held = kill[1] if kill else None
    checks.check(held is not None and held in retried and any(
        r["id"] == held for r in late),
        "the request it held was retried and finished on another replica")
    checks.check(all(n == 1 for n in finals.values()) and
                 len(finals) == len(planned),
                 "exactly one final reply per request (%d requests, %d "
                 "final replies)" % (len(finals), sum(finals.values())))
    checks.check(all(s == 0 for n, s in status.items() if n != VICTIM),
                 "the other replicas ended cleanly on SIGTERM")
    return checks.report(out)


def options(parser):
    parser.add_argument("--requests", type=int, default=24,
                        help="requests to send (default %(default)s)")
    parser.add_argument("--frontends", type=int, default=6,
                        help="frontend instances sending them "
                        "(default %(default)s)")
    parser.add_argument("--token-ms", type=int, default=15,
                        help="milliseconds per streamed token "
                        "(default %(default)s)")
    parser.add_argument("--timeout-ms", type=int, default=15000,
                        help="each request's timeout_ms (default "
                        "%(default)s)")
    parser.add_argument("--replica", metavar="NAME",
                        help=argparse.SUPPRESS)


def main(argv=None):
    args = demo_common.parse_args(__doc__.splitlines()[0], options, argv)
    if args.replica:
        return replica(args)
    try:
        return run(args)
    except (agentbus.AgentbusError, OSError) as exc:
        sys.stdout.write("infer: FAIL: %s\n" % exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
