# demo_common.py - what the three agentbus demos share
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Shared parts of the demos in contrib/examples/.

* ``parse_args``: every demo takes ``--endpoint`` (the running broker,
  default ``$AGENTBUS_ENDPOINT`` or ``tcp://127.0.0.1:7780``) and
  ``--topology`` (the file the broker runs on, default conf/topology.yaml
  of this source tree).  The demos read the topology themselves to know
  what the broker *should* do, so their checks follow the file, not
  numbers written into the demo.
* ``Checks``: the invariants a demo verifies on what it measured; each
  prints as ``ok`` or ``FAIL`` and any failure makes the demo exit 1.
* ``wait_ready``: waits until a broker answers ``PING``.

Run as a script it serves the shell scripts that start brokers:
``demo_common.py free-port`` prints a free TCP port on 127.0.0.1 and
``demo_common.py wait ENDPOINT SECONDS`` exits 0 once the broker there
answers, 1 if it does not in time; ``demo_common.py counters LOG`` prints
the counters agentbusd logged when it stopped, as one line.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "clients", "python"))

import agentbus  # noqa: E402  (found through the path set just above)
import yaml  # noqa: E402

DEFAULT_ENDPOINT = "tcp://127.0.0.1:7780"
DEFAULT_TOPOLOGY = os.path.join(SRCDIR, "conf", "topology.yaml")


def parse_args(description, extra=None, argv=None):
    """The demos' command line; ``extra(parser)`` adds a demo's own
    options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--endpoint", default=os.environ.get(
        "AGENTBUS_ENDPOINT", DEFAULT_ENDPOINT),
        help="the broker's agent endpoint (default: %(default)s)")
    parser.add_argument("--topology", default=DEFAULT_TOPOLOGY,
                        help="the topology the broker runs on, read to "
                        "know what it should do (default: %(default)s)")
    if extra is not None:
        extra(parser)
    return parser.parse_args(argv)


def load_edges(path):
    """The topology's edges as dicts, every default applied."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    defaults = doc.get("defaults") or {}
    edges = []
    for edge in doc.get("edges") or []:
        merged = dict(defaults)
        merged.update(edge)
        edges.append(merged)
    return edges


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(endpoint, seconds):
    """True once the broker at ``endpoint`` answers a PING (``PONG``, or
    ``ERROR not_registered``: both mean it is serving)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        probe = agentbus.Agent(endpoint, "-", hello=False)
        try:
            probe.send_frames("PING", {})
            message = probe.recv_message(200)
            if message is not None and message.command in ("PONG", "ERROR"):
                return True
        finally:
            probe.close()
    return False


def percentile(values, p):
    """The ``p``-th percentile (0..100) of ``values``, by linear
    interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Checks:
    """The invariants of one demo: ``check(ok, text)`` records one,
    ``report()`` prints them all and the verdict line, and returns the
    demo's exit status (0 all held, 1 otherwise)."""

    def __init__(self, demo):
        self.demo = demo
        self.results = []   # (held, text) in the order they were checked

    def check(self, held, text):
        self.results.append((bool(held), text))
        return bool(held)

    def report(self, out=sys.stdout):
        out.write("checks:\n")
        for held, text in self.results:
            out.write("  %-4s %s\n" % ("ok" if held else "FAIL", text))
        passed = sum(1 for held, _ in self.results if held)
        failed = len(self.results) - passed
        out.write("%s: %s (%d of %d checks held)\n"
                  % (self.demo, "PASS" if failed == 0 else "FAIL", passed,
                     len(self.results)))
        out.flush()
        return 0 if failed == 0 and self.results else 1


class Collector(threading.Thread):
    """An agent that acks whatever it is sent and counts what ``mine``
    accepts (default: everything), e.g. a dead-letter agent that should
    stay empty.  ``start()``, wait for ``ready``, set ``stop``, join."""

    def __init__(self, endpoint, name, mine=None):
        super().__init__(name=name, daemon=True)
        self.endpoint = endpoint
        self.agent_name = name
        self.mine = mine or (lambda d: True)  # Delivery -> counts?
        self.ready = threading.Event()   # HELLO answered (or failed)
        self.stop = threading.Event()    # set by the main thread
        self.count = 0                   # deliveries ``mine`` accepted
        self.others = 0                  # deliveries it did not
        self.error = None                # exception that ended the thread

    def run(self):
        try:
            bus = agentbus.Agent(self.endpoint, self.agent_name)
        except Exception as exc:  # reported by the demo
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        try:
            while not self.stop.is_set():
                d = bus.receive(timeout_ms=20)
                if d is None:
                    continue
                if self.mine(d):
                    self.count += 1
                else:
                    self.others += 1
                d.ack()
            bus.poll(20)
        except Exception as exc:
            self.error = exc
        finally:
            bus.close(bye=True)


def broker_counters(log_path):
    """One line from the counters agentbusd logs when it stops (its own
    account of the run), or None when the log has none."""
    counters = None
    with open(log_path, errors="replace") as f:
        for line in f:
            at = line.find("counters: {")
            if at >= 0:
                try:
                    counters = json.loads(line[at + len("counters: "):])
                except ValueError:
                    pass
    if not isinstance(counters, dict):
        return None

    def nonzero(group):
        value = counters.get(group)
        if not isinstance(value, dict):
            return "none"
        parts = ["%s %s" % (k, v) for k, v in sorted(value.items()) if v]
        return ", ".join(parts) or "none"

    fields = ["%s %s" % (k.replace("_", " "), counters[k])
              for k in ("published", "requests", "replies", "delivered",
                        "redelivered", "acked", "nacked", "ack_timeouts",
                        "attachment_bytes", "attachment_bytes_copied")
              if k in counters]
    return "broker counters: %s; rejected: %s; dead-lettered: %s" % (
        ", ".join(fields), nonzero("rejected"), nonzero("dead_lettered"))


def main(argv):
    if len(argv) == 2 and argv[1] == "free-port":
        print(free_port())
        return 0
    if len(argv) == 4 and argv[1] == "wait":
        return 0 if wait_ready(argv[2], float(argv[3])) else 1
    if len(argv) == 3 and argv[1] == "counters":
        line = broker_counters(argv[2])
        if line is not None:
            print(line)
        return 0
    sys.stderr.write("usage: demo_common.py free-port | "
                     "wait ENDPOINT SECONDS | counters BROKER-LOG\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
