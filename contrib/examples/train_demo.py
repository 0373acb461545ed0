#!/usr/bin/env python3
# train_demo.py - data-parallel trainers feeding a parameter server
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Training -> parameter server: strict order per trainer, no waiting.

Four trainers each send one float32 gradient per step (a numpy array,
carried as a tensor attachment, never copied by the broker) with an
increasing ``seq``; one trainer is a straggler (it sleeps before each
step).  The ``param-server`` applies every gradient to its model, one
model version per update, and checks that each trainer's steps arrive
exactly in order: no gap, no repeat, no overtaking.  To show that order
survives retries, it refuses (``NACK``, requeue) the first delivery of
some steps, as a server whose shard is briefly busy would; the broker
redelivers that step, before any later step of that trainer.  Each
trainer also re-sends one step it already sent, which the broker rejects
``duplicate`` by its ``seq``.

Why four agents (``trainer-0`` .. ``trainer-3``), not four instances of
``trainer``: protocol section 6 orders a strict edge per producer *agent*,
with one copy in flight per agent and one ``seq`` space per agent.  Four
instances of one agent would share that order, so one trainer's retry
would hold up the other three, and their ``seq`` numbers would collide.
conf/topology.yaml therefore gives each trainer its own agent and its own
strict edge to ``param-server``: each order is kept, and nobody waits for
the straggler.  The demo measures that: each trainer's completion time
(its last update applied), and checks that every fast trainer was done
before the straggler had even sent its last step.

``seq`` values start from the wall clock (milliseconds x 1000), so the
demo can run again against the same broker: the broker remembers the last
``seq`` per trainer and edge.

Run it against a broker on conf/topology.yaml::

    agentbusd --topology conf/topology.yaml --endpoint tcp://127.0.0.1:7780 &
    python3 contrib/examples/train_demo.py --endpoint tcp://127.0.0.1:7780
"""

import collections
import sys
import threading
import time
import uuid

import numpy

import demo_common
from demo_common import agentbus

TYPE = "train.gradient"
SERVER = "param-server"
DIM = 4096            # model size (float32 parameters)
LR = 0.01             # learning rate of the plain SGD the server applies


def gradient(trainer_index, step):
    """The gradient trainer ``trainer_index`` computes at ``step``: a
    stand-in for backprop, reproducible so the server's model can be
    checked against a recomputation."""
    rng = numpy.random.default_rng(1000 * trainer_index + step)
    return rng.standard_normal(DIM).astype(numpy.float32)


def trainer_edges(edges):
    """The trainers the demo uses: agents named trainer-N with a strict
    train.gradient edge to the parameter server, in name order."""
    return sorted(e["from"] for e in edges
                  if e["to"] == SERVER and e["type"] == TYPE and
                  e.get("ordering") == "strict" and
                  e["from"].startswith("trainer-"))


class Trainer(threading.Thread):
    """One trainer agent on its own socket."""

    def __init__(self, endpoint, run_id, name, index, steps, delay,
                 seq_base, go):
        super().__init__(name=name, daemon=True)
        self.endpoint = endpoint
        self.run_id = run_id        # prefix of the producer ids
        self.agent_name = name
        self.index = index          # seeds its gradients
        self.steps = steps          # how many steps it trains
        self.delay = delay          # seconds of "compute" before each step
        self.seq_base = seq_base    # seq of step s is seq_base + s + 1
        self.go = go                # barrier: every trainer starts together
        self.published = []         # (step, seconds since start) per OK
        self.duplicate = None       # REJECT code of the re-sent step
        self.error = None           # exception that ended the thread
        self.start_time = None      # monotonic time the barrier opened
        # the straggler only: set when every fast trainer is done; it
        # holds its last step until then (bounded), so "nobody waited for
        # it" is a fact about order, not about how fast the machine is
        self.others_done = None
        self.others_were_done = None  # others_done was set in time

    def run(self):
        try:
            bus = agentbus.Agent(self.endpoint, self.agent_name,
                                 instance=self.agent_name)
        except Exception as exc:
            self.error = exc
            self.go.abort()
            return
        try:
            self.go.wait(60)
            self.start_time = time.monotonic()
            for step in range(self.steps):
                if self.delay:
                    time.sleep(self.delay)
                if self.others_done is not None and step == self.steps - 1:
                    self.others_were_done = self.others_done.wait(60)
                self.send(bus, step)
                if step == self.steps // 2:
                    self.resend(bus, step)
        except Exception as exc:
            self.error = exc
        finally:
            bus.close(bye=True)

    def send(self, bus, step):
        payload = {"trainer": self.agent_name, "step": step,
                   "gradient": gradient(self.index, step)}
        bus.publish(TYPE, payload, seq=self.seq_base + step + 1,
                    id="%s-%s-%d" % (self.run_id, self.agent_name, step))
        self.published.append((step, time.monotonic() - self.start_time))

    def resend(self, bus, step):
        """Sends ``step`` again with its old seq, as a trainer that lost
        an OK and retries would: the broker must say ``duplicate``."""
        try:
            self.send(bus, step)
            self.published.pop()
            self.duplicate = "accepted"
        except agentbus.Rejected as rej:
            self.duplicate = rej.code


class ParamServer(threading.Thread):
    """The parameter server: applies gradients in each trainer's order."""

    def __init__(self, endpoint, trainers, steps, refuse_every):
        super().__init__(name=SERVER, daemon=True)
        self.endpoint = endpoint
        self.expected = {t: steps for t in trainers}  # steps per trainer
        self.refuse_every = refuse_every  # NACK step s when s % n == n-1
        self.model = numpy.zeros(DIM, dtype=numpy.float32)
        self.version = 0                  # model version: updates applied
        self.next_step = {t: 0 for t in trainers}   # order check
        self.applied = collections.defaultdict(list)  # trainer -> steps
        self.versions = collections.defaultdict(list)  # trainer -> versions
        self.done_at = {}                 # trainer -> seconds, last step
        self.out_of_order = []            # (trainer, got, expected)
        self.refused = collections.Counter()    # trainer -> NACKs sent
        self.redelivered = collections.Counter()  # trainer -> attempt > 1
        self.foreign = 0                  # deliveries of an earlier run
        self.waiting_retry = set()        # trainers with a step NACKed
        self.overtaken = 0                # updates applied meanwhile
        self.ready = threading.Event()    # HELLO answered
        self.finished = threading.Event()  # every expected step applied
        self.fast_done = threading.Event()  # ... of every fast trainer
        self.slow = None                  # the straggler, set by run()
        self.stop = threading.Event()     # set by the main thread
        self.start_time = None            # set by the main thread
        self.error = None                 # exception that ended the thread

    def run(self):
        try:
            bus = agentbus.Agent(self.endpoint, SERVER, credit=16,
                                 instance=SERVER)
        except Exception as exc:
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            while not self.stop.is_set():
                d = bus.receive(timeout_ms=20)
                if d is None:
                    continue
                self.handle(d)
            bus.poll(50)  # let the last ACKs leave before closing
        except Exception as exc:
            self.error = exc
        finally:
            bus.close(bye=True)

    def handle(self, d):
        trainer = d.sender
        if trainer not in self.next_step or \
                d.payload.get("trainer") != trainer:
            self.foreign += 1
            d.ack()
            return
        step = d.payload["step"]
        if d.attempt and d.attempt > 1:
            self.redelivered[trainer] += 1
            self.waiting_retry.discard(trainer)
        n = self.refuse_every
        if n and step % n == n - 1 and d.attempt == 1:
            self.refused[trainer] += 1
            self.waiting_retry.add(trainer)
            d.nack(requeue=True, reason="shard busy")
            return
        # another trainer's refused step is waiting for its redelivery:
        # this update went ahead of it, as separate orders allow
        self.overtaken += len(self.waiting_retry - {trainer})
        if step != self.next_step[trainer]:
            self.out_of_order.append((trainer, step,
                                      self.next_step[trainer]))
        self.next_step[trainer] = step + 1
        self.model -= LR * d.tensor("gradient")
        self.version += 1
        self.applied[trainer].append(step)
        self.versions[trainer].append(self.version)
        if len(self.applied[trainer]) == self.expected[trainer]:
            self.done_at[trainer] = time.monotonic() - self.start_time
            if len(self.done_at) == len(self.expected):
                self.finished.set()
            if set(self.expected) - set(self.done_at) <= {self.slow}:
                self.fast_done.set()
        d.ack()


def run(args):
    edges = demo_common.load_edges(args.topology)
    trainers = trainer_edges(edges)
    if len(trainers) < 2:
        sys.stdout.write("train: FAIL: %s has no trainer-N agents with "
                         "strict edges to %s\n" % (args.topology, SERVER))
        return 1
    slow = trainers[-1]
    seq_base = int(time.time() * 1000) * 1000
    server = ParamServer(args.endpoint, trainers, args.steps,
                         args.refuse_every)
    run_id = "train-" + uuid.uuid4().hex[:8]
    graveyard = demo_common.Collector(
        args.endpoint, "graveyard",
        lambda d: str((d.original or {}).get("id", "")).startswith(run_id))
    server.start()
    graveyard.start()
    server.slow = slow
    server.ready.wait(60)
    graveyard.ready.wait(60)
    go = threading.Barrier(len(trainers) + 1)
    workers = [Trainer(args.endpoint, run_id, t, i, args.steps,
                       args.slow_delay if t == slow else 0.0, seq_base, go)
               for i, t in enumerate(trainers)]
    workers[trainers.index(slow)].others_done = server.fast_done
    for w in workers:
        w.start()
    server.start_time = time.monotonic()
    try:
        go.wait(60)
        server.start_time = time.monotonic()
    except threading.BrokenBarrierError:
        pass
    for w in workers:
        w.join(120)
    server.finished.wait(args.steps * args.slow_delay + 60)
    time.sleep(0.2)  # anything more (a duplicate applied) would show now
    server.stop.set()
    graveyard.stop.set()
    server.join(30)
    graveyard.join(30)
    elapsed = time.monotonic() - server.start_time
    return summarize(args, trainers, slow, workers, server, graveyard,
                     elapsed, seq_base)


def summarize(args, trainers, slow, workers, server, graveyard, elapsed,
              seq_base):
    out = sys.stdout
    total = len(trainers) * args.steps
    sent = sum(len(w.published) for w in workers)
    out.write("== train: %d trainers -> %s (strict edges, %s) ==\n"
              % (len(trainers), SERVER, args.endpoint))
    out.write("trainers sent %d gradients of %d float32 (%d KiB each); "
              "%s is slowed by %d ms per step\n"
              % (sent, DIM, DIM * 4 // 1024, slow,
                 round(args.slow_delay * 1000)))
    out.write("param-server applied %d updates: model versions 1..%d, "
              "|w| = %.4f\n"
              % (server.version, server.version,
                 float(numpy.linalg.norm(server.model))))
    out.write("  %-10s %7s %9s %8s %11s %10s  %s\n" % (
        "trainer", "applied", "in order", "NACKed", "redelivered",
        "done at", "model versions"))
    for t in trainers:
        steps = server.applied.get(t, [])
        versions = server.versions.get(t, [])
        done = server.done_at.get(t)
        out.write("  %-10s %7d %9s %8d %11d %10s  %s\n" % (
            t, len(steps),
            "yes" if steps == list(range(len(steps))) else "NO",
            server.refused[t], server.redelivered[t],
            "%.3f s" % done if done is not None else "never",
            "%d..%d" % (versions[0], versions[-1]) if versions else "-"))
    fast = [t for t in trainers if t != slow]
    fast_done = [server.done_at[t] for t in fast if t in server.done_at]
    slow_worker = workers[trainers.index(slow)]
    slow_last_sent = slow_worker.published[-1][1] \
        if slow_worker.published else None
    if fast_done and slow in server.done_at:
        out.write("fast trainers done by %.3f s; %s sent its last step at "
                  "%.3f s and was done at %.3f s (%.1fx later)\n"
                  % (max(fast_done), slow, slow_last_sent or 0,
                     server.done_at[slow],
                     server.done_at[slow] / max(max(fast_done), 1e-6)))
    out.write("while a refused step waited for its redelivery, %d updates "
              "of other trainers were applied\n" % server.overtaken)
    duplicates = collections.Counter(w.duplicate for w in workers)
    out.write("re-sent steps: %s; dead letters: %d\n" % (
        ", ".join("%d %s" % (n, c) for c, n in sorted(duplicates.items(),
                                                      key=str)),
        graveyard.count))
    out.write("seq base %d (the wall clock: reruns stay increasing); "
              "%d leftover deliveries of earlier runs acked and ignored\n"
              % (seq_base, server.foreign + graveyard.others))
    out.write("elapsed %.2f s\n" % elapsed)

    expected_model = numpy.zeros(DIM, dtype=numpy.float64)
    for i, _ in enumerate(trainers):
        for step in range(args.steps):
            expected_model -= LR * gradient(i, step).astype(numpy.float64)

    checks = demo_common.Checks("train")
    errors = [(w.agent_name, w.error) for w in workers if w.error] + \
        ([(SERVER, server.error)] if server.error else []) + \
        ([("graveyard", graveyard.error)] if graveyard.error else [])
    checks.check(not errors, "every agent ran without error%s"
                 % "".join("; %s: %r" % e for e in errors))
    checks.check(sent == total, "trainers sent %d of %d steps"
                 % (sent, total))
    checks.check(server.version == total,
                 "param-server applied %d updates, one per step sent (%d)"
                 % (server.version, total))
    checks.check(not server.out_of_order and all(
        server.applied.get(t) == list(range(args.steps)) for t in trainers),
        "every trainer's steps applied exactly once, in its order%s"
        % "".join("; %s got step %d expecting %d" % o
                  for o in server.out_of_order[:3]))
    refused = sum(server.refused.values())
    checks.check(refused > 0 and
                 sum(server.redelivered.values()) >= refused,
                 "each of the %d refused deliveries came back, in order"
                 % refused)
    checks.check(all(w.duplicate == "duplicate" for w in workers),
                 "a re-sent step (old seq) is rejected duplicate for every "
                 "trainer")
    checks.check(bool(numpy.allclose(server.model, expected_model,
                                     atol=1e-4)),
                 "final model equals the recomputed sum of all gradients")
    checks.check(len(fast_done) == len(fast) and slow_last_sent is not None
                 and slow_worker.others_were_done is True,
                 "no fast trainer waited for %s: all done before it sent "
                 "its last step" % slow)
    checks.check(graveyard.count == 0, "nothing was dead-lettered")
    return checks.report(out)


def options(parser):
    parser.add_argument("--steps", type=int, default=20,
                        help="steps per trainer (default %(default)s)")
    parser.add_argument("--slow-delay", type=float, default=0.06,
                        help="seconds the slow trainer spends per step "
                        "(default %(default)s)")
    parser.add_argument("--refuse-every", type=int, default=7,
                        help="the server NACKs the first delivery of every "
                        "N-th step (0: never; default %(default)s)")


def main(argv=None):
    args = demo_common.parse_args(__doc__.splitlines()[0], options, argv)
    try:
        return run(args)
    except (agentbus.AgentbusError, OSError) as exc:
        sys.stdout.write("train: FAIL: %s\n" % exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
