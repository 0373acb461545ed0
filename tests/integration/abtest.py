# abtest.py - runs the real agentbusd for the Python integration tests
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Starts and stops the real ``agentbusd`` for the integration tests.

Each test gets a fresh broker (``BrokerTestCase.setUp``) on a free TCP
port, so no state leaks from one test into the next; the broker's stderr
goes to a file and is printed when a test fails.  ``main()`` exits 77
(automake's "skipped") when the binary has not been built yet.

Paths come from the environment ``make check`` exports (``AB_SRCDIR``,
``AB_BUILDDIR``), falling back to this file's place in the source tree so
a script also runs by hand.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import yaml
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("AB_SRCDIR") or os.path.abspath(
    os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("AB_BUILDDIR") or SRCDIR
sys.path.insert(0, os.path.join(SRCDIR, "clients", "python"))

import agentbus  # noqa: E402  (found through the path set just above)

AGENTBUSD = os.path.join(BUILDDIR, "agentbusd")
FIXTURES = os.path.join(SRCDIR, "tests", "fixtures", "pybroker")
TOPOLOGY = os.path.join(FIXTURES, "topology.yaml")

#: How long a broker may take to start answering, in seconds.
START_TIMEOUT = 30.0

#: How long a test waits for something that must happen, in ms.  Waiting
#: costs nothing when it comes, so this is generous: a loaded CI machine
#: may take seconds to answer what an idle one answers in a millisecond.
#: A test that measures a time measures it with a lower bound ("not
#: before the ack timeout"), never with this.
WAIT_MS = 20000

#: How long ``assertNoDelivery`` watches by default, in ms.  Where a test
#: can, it proves "nothing more" with a marker sent after (``assertNext``)
#: instead: that answer does not depend on how fast the machine is.
QUIET_MS = 300


def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path, config):
    """Writes a broker configuration (a dict of top-level keys) as YAML."""
    with open(path, "w") as f:
        yaml.safe_dump(config, f, default_flow_style=False)


def derived_topology(path, edges, base=TOPOLOGY):
    """Writes to ``path`` a copy of the topology ``base`` with some edges
    changed: ``edges`` maps (to, type) to the settings to set on every
    edge to agent ``to`` for ``type`` (whoever its producer).  Returns
    ``path``."""
    with open(base) as f:
        doc = yaml.safe_load(f)
    doc["schemas"] = os.path.join(os.path.dirname(base), doc["schemas"])
    unused = set(edges)
    for edge in doc["edges"]:
        key = (edge["to"], edge["type"])
        if key in edges:
            edge.update(edges[key])
            unused.discard(key)
    if unused:
        raise KeyError("no such edge in %s: %r" % (base, sorted(unused)))
    write_config(path, doc)
    return path


class Broker:
    """One ``agentbusd`` process on a free port.

    ``topology`` is the topology file, ``config`` a dict written to a
    config file passed with ``--config`` (None: no config file), ``args``
    more flags."""

    def __init__(self, topology=TOPOLOGY, config=None, args=()):
        self.topology = topology
        self.config = config
        self.args = list(args)
        self.tmpdir = tempfile.mkdtemp(prefix="abtest-")
        self.stderr_path = os.path.join(self.tmpdir, "agentbusd.stderr")
        self.stderr_kept = ""  # the stderr file's text, once it is gone
        self.endpoint = None
        self.proc = None
        self.context = zmq.Context()
        self.agents = []

    def command(self):
        """The agentbusd command line (a fresh endpoint unless one is
        set)."""
        if self.endpoint is None:
            self.endpoint = "tcp://127.0.0.1:%d" % free_port()
        cmd = [AGENTBUSD, "--topology", self.topology,
               "--endpoint", self.endpoint]
        if self.config is not None:
            path = os.path.join(self.tmpdir, "agentbusd.yaml")
            write_config(path, self.config)
            cmd += ["--config", path]
        return cmd + self.args

    def start(self):
        """Starts the broker and waits until it answers on its endpoint.
        Started again after ``stop``, it keeps its endpoint."""
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self.command(),
                                         stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err)
        self.wait_ready()
        return self

    def run_to_exit(self, timeout=10.0):
        """Runs the broker expecting it to exit by itself (a load error);
        returns (exit status, stderr)."""
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(self.command(),
                                         stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err)
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            status = None
        return status, self.stderr()

    def wait_ready(self):
        """Waits until the broker answers a PING (PONG or ERROR
        not_registered: both mean it is serving)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("agentbusd exited with %s:\n%s"
                                   % (self.proc.returncode, self.stderr()))
            probe = agentbus.Agent(self.endpoint, "-", context=self.context,
                                   hello=False)
            try:
                probe.send_frames("PING", {})
                if probe.recv_frames(200) is not None:
                    return
            finally:
                probe.close()
        raise RuntimeError("agentbusd did not answer within %.0f s:\n%s"
                           % (START_TIMEOUT, self.stderr()))

    def agent(self, name, **kwargs):
        """An ``agentbus.Agent`` on this broker (closed by ``stop``)."""
        kwargs.setdefault("context", self.context)
        kwargs.setdefault("timeout_ms", WAIT_MS)  # PUB, HELLO, PING answers
        a = agentbus.Agent(self.endpoint, name, **kwargs)
        self.agents.append(a)
        return a

    def raw(self, **kwargs):
        """A connected socket that has not said HELLO."""
        kwargs["hello"] = False
        return self.agent("-", **kwargs)

    def counters(self):
        """The broker's counters, from its admin socket (the config must
        name an ``admin_endpoint``)."""
        req = self.context.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.setsockopt(zmq.RCVTIMEO, WAIT_MS)
        req.connect(self.config["admin_endpoint"])
        try:
            req.send_string('{"cmd": "counters"}')
            return json.loads(req.recv_string())["counters"]
        finally:
            req.close()

    def connections(self):
        """How many TCP connections the broker holds open on its
        endpoint (its own ends, established or closed by the peer but not
        yet by the broker), read from /proc/net/tcp."""
        port = int(self.endpoint.rsplit(":", 1)[1])
        count = 0
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, state = fields[1], fields[3]
                if int(local.split(":")[1], 16) == port and \
                        state in ("01", "08"):  # ESTABLISHED, CLOSE_WAIT
                    count += 1
        return count

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum):
        self.proc.send_signal(signum)

    def reload(self):
        """SIGHUP: reload topology and schemas."""
        self.signal(signal.SIGHUP)

    def stop(self, timeout=5.0, close_agents=True):
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit
        status (None if it had to be killed).  The agents made by
        ``agent`` are closed first unless ``close_agents`` is False."""
        if close_agents:
            for a in self.agents:
                a.socket.close(0)
            self.agents = []
        status = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                status = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif self.proc is not None:
            status = self.proc.returncode
        return status

    def close(self):
        """Stops the broker (if running) and frees the test's sockets."""
        self.stop()
        if not self.context.closed:
            self.context.term()

    def stderr(self, tail=8000):
        """The broker's stderr so far (its last ``tail`` characters)."""
        try:
            with open(self.stderr_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = self.stderr_kept
        return text[-tail:]

    def cleanup(self):
        """Removes the temporary folder, keeping stderr for a failure
        report printed after the cleanups ran."""
        self.stderr_kept = self.stderr(1 << 20)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


class BrokerTestCase(unittest.TestCase):
    """A test case with a fresh broker per test in ``self.broker``.
    Subclasses set ``config`` (a dict) or ``topology`` to change how it
    starts."""

    config = None
    topology = TOPOLOGY
    #: edges of ``topology`` to change for this class: (to, type) ->
    #: settings (see ``derived_topology``); e.g. a short ack timeout on
    #: the one edge whose retries a class measures.
    edges = None
    #: True: the broker gets an admin socket (``self.broker.counters()``)
    admin_socket = False

    def setUp(self):
        config = self.config
        if self.admin_socket:
            config = dict(config or {}, admin_endpoint="tcp://127.0.0.1:%d"
                          % free_port())
        self.broker = Broker(self.topology, config)
        if self.edges:
            self.broker.topology = derived_topology(
                os.path.join(self.broker.tmpdir, "topology.yaml"),
                self.edges, self.topology)
        self.addCleanup(self.broker.cleanup)
        self.addCleanup(self.check_sanitizers)
        self.addCleanup(self.broker.close)
        self.broker.start()

    def check_sanitizers(self):
        # In a --enable-sanitizers build a report on stderr is a failure
        # even when the broker went on serving.
        text = self.broker.stderr(1 << 20)
        for marker in ("AddressSanitizer", "LeakSanitizer",
                       "runtime error:"):
            if marker in text:
                self.fail("agentbusd reported %r:\n%s"
                          % (marker, self.broker.stderr()))

    def run(self, result=None):
        # Print the broker's stderr beside a failure: it usually says why.
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before and \
                getattr(self, "broker", None) is not None:
            sys.stderr.write("---- agentbusd stderr (%s) ----\n%s\n----\n"
                             % (self.id(), self.broker.stderr()))
        return result

    def agent(self, name, **kwargs):
        return self.broker.agent(name, **kwargs)

    def raw(self, **kwargs):
        return self.broker.raw(**kwargs)

    # -- assertions ---------------------------------------------------------

    def expect(self, agent, timeout_ms=WAIT_MS):
        """The next delivery of ``agent``; fails if none comes in time."""
        d = agent.receive(timeout_ms)
        self.assertIsNotNone(d, "%s: no delivery within %d ms"
                             % (agent.agent, timeout_ms))
        return d

    def assertNext(self, agent, marker_id, retries_of=()):
        """Everything ``agent`` receives up to the delivery whose id is
        ``marker_id`` (a message published after the ones that must not
        arrive, on the same edge so it comes after them) is a
        redelivery of ``retries_of``; returns the marker's Delivery.
        Unlike ``assertNoDelivery`` this does not depend on how long the
        broker takes."""
        allowed = {d.msg for d in retries_of}
        while True:
            d = self.expect(agent)
            if d.id == marker_id:
                return d
            self.assertIn(d.msg, allowed, "%s: unexpected delivery %r %r"
                          % (agent.agent, d, d.payload))

    def assertNoDelivery(self, agent, timeout_ms=QUIET_MS, retries_of=()):
        """Nothing arrives for ``agent`` within ``timeout_ms``, except
        redeliveries of the copies in ``retries_of`` (Deliveries whose
        ack timeout may run out while the test holds them)."""
        allowed = {d.msg for d in retries_of}
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            left = max(0, int((deadline - time.monotonic()) * 1000))
            d = agent.receive(left)
            if d is None:
                return
            self.assertIn(d.msg, allowed, "%s: unexpected delivery %r %r"
                          % (agent.agent, d, d.payload))

    def expect_message(self, raw, timeout_ms=WAIT_MS):
        """The next parsed message on a raw agent."""
        m = raw.recv_message(timeout_ms)
        self.assertIsNotNone(m, "no answer within %d ms" % timeout_ms)
        return m

    def assertError(self, raw, code, timeout_ms=WAIT_MS):
        m = self.expect_message(raw, timeout_ms)
        self.assertEqual(m.command, "ERROR", m.header)
        self.assertEqual(m.header.get("code"), code, m.header)
        return m

    def wait_until(self, predicate, what, timeout_ms=WAIT_MS, step=0.01):
        """Polls ``predicate()`` until it is true; fails naming ``what``
        if it is not within ``timeout_ms``.  Returns its last value."""
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail("%s: not within %d ms" % (what, timeout_ms))
            time.sleep(step)

    def assertRejected(self, code, fn, *args, **kwargs):
        with self.assertRaises(agentbus.Rejected) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.code, code, cm.exception.header)
        return cm.exception


def main():
    """Runs the tests of the calling script; exit 77 (skip) without a
    built agentbusd."""
    if not os.access(AGENTBUSD, os.X_OK):
        print("SKIP: %s is not built yet" % AGENTBUSD)
        sys.exit(77)
    unittest.main(verbosity=2)
