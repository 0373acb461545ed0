# Shared helpers of the store integration tests (test_crash.py,
# test_store_full.py, test_admin.py, test_memory_store.py): run the real
# agentbusd (on a data_dir, or none), speak ABP/1 with plain pyzmq.
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import zmq

SRCDIR = os.environ.get("AB_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDDIR = os.environ.get("AB_BUILDDIR", SRCDIR)
AGENTBUSD = os.path.join(BUILDDIR, "agentbusd")
AGENTBUS = os.path.join(BUILDDIR, "agentbus")
SCHEMAS = os.path.abspath(os.path.join(SRCDIR, "tests", "fixtures", "broker", "schemas"))

#: How long a test waits for something that must happen, in ms: generous,
#: since a loaded CI machine may take seconds for what an idle one does at
#: once (waiting costs nothing when the thing comes).
WAIT_MS = 20000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """agentbusd on a temporary data_dir; kill () and start () at will."""

    def __init__(self, config_extra="", dead_letter=False, max_attempts=5,
                 durable=True, consumers=("consumer",), data_dir=True,
                 ack_timeout_ms=1000, heartbeat_ms=20000):
        """One edge producer -> C of type test.note per name C in
        `consumers` (a fan-out when there are several), durable or not;
        `dead_letter` adds an agent `graveyard` as their dead_letter
        agent; `data_dir` False runs without one (memory store only).
        The heartbeat is long: the raw agents below do not PING by
        themselves, and no test here measures it."""
        self.dir = tempfile.mkdtemp(prefix="ab-durable-")
        self.data = os.path.join(self.dir, "data") if data_dir else None
        self.endpoint = "tcp://127.0.0.1:%d" % free_port()
        self.admin = "tcp://127.0.0.1:%d" % free_port()
        topology = os.path.join(self.dir, "topology.yaml")
        agents = ["producer", *consumers] + (["graveyard"] if dead_letter
                                             else [])
        with open(topology, "w") as f:
            f.write("topology: durable\nschemas: %s\nagents:\n" % SCHEMAS)
            f.write("".join("  %s: {}\n" % name for name in agents))
            f.write("edges:\n")
            for name in consumers:
                f.write("  - {from: producer, to: %s, type: test.note, "
                        "durable: %s, max_attempts: %d, ack_timeout_ms: %d, "
                        "retry_backoff_ms: 10%s}\n"
                        % (name, "true" if durable else "false", max_attempts,
                           ack_timeout_ms,
                           ", dead_letter: graveyard" if dead_letter else ""))
        self.config = os.path.join(self.dir, "agentbusd.yaml")
        with open(self.config, "w") as f:
            f.write("endpoint: %s\ntopology: %s\n%s"
                    "admin_endpoint: %s\nheartbeat_ms: %d\n%s"
                    % (self.endpoint, topology,
                       "data_dir: %s\n" % self.data if self.data else "",
                       self.admin, heartbeat_ms, config_extra))
        self.proc = None
        self.log = open(os.path.join(self.dir, "agentbusd.log"), "ab")

    def start(self):
        """Starts agentbusd and waits until its admin socket answers (it
        has recovered its store and serves)."""
        self.proc = subprocess.Popen([AGENTBUSD, "--config", self.config],
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + WAIT_MS / 1000.0
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("agentbusd exited %d; log in %s"
                                   % (self.proc.returncode, self.dir))
            try:
                if self.admin_request({"cmd": "counters"}, 200).get("ok"):
                    return
            except zmq.Again:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("agentbusd did not answer within %d ms; "
                                   "log in %s" % (WAIT_MS, self.dir))

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.proc.terminate()
        return self.proc.wait(timeout=10)

    def admin_request(self, request, timeout=WAIT_MS):
        ctx = zmq.Context.instance()
        req = ctx.socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.setsockopt(zmq.RCVTIMEO, timeout)
        req.connect(self.admin)
        req.send_string(json.dumps(request))
        try:
            return json.loads(req.recv_string())
        finally:
            req.close()

    def cleanup(self):
        """Removes the directory; raises when agentbusd reported a
        sanitizer error in its log (ASan builds)."""
        if self.proc and self.proc.poll() is None:
            self.kill()
        self.log.close()
        with open(os.path.join(self.dir, "agentbusd.log"), "rb") as f:
            log = f.read().decode(errors="replace")
        shutil.rmtree(self.dir, ignore_errors=True)
        for mark in ("AddressSanitizer", "LeakSanitizer", "runtime error"):
            if mark in log:
                raise AssertionError("agentbusd: %s\n%s" % (mark, log[-4000:]))


class Agent:
    """One DEALER instance; says HELLO again whenever the broker forgot it
    (a restart)."""

    def __init__(self, endpoint, agent, credit=64):
        self.agent = agent
        self.credit = credit
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.sessions = 0
        self.frames = None  # every frame of the last message received
        self.hello()

    def send(self, command, header, payload=None, attachments=()):
        """`payload`: a JSON value, or bytes sent as they are."""
        frames = [b"ABP/1", command.encode(), json.dumps(header).encode()]
        if payload is not None:
            frames.append(payload if isinstance(payload, bytes)
                          else json.dumps(payload).encode())
        self.sock.send_multipart(frames + list(attachments))

    def hello(self):
        self.sessions += 1
        self.hello_at = time.time()
        self.send("HELLO", {"agent": self.agent, "credit": self.credit})

    def recv(self, timeout_ms):
        """(command, header, payload) or None."""
        if not self.sock.poll(timeout_ms):
            return None
        frames = self.frames = self.sock.recv_multipart()
        command = frames[1].decode()
        header = json.loads(frames[2])
        payload = json.loads(frames[3]) if len(frames) > 3 else None
        # one HELLO per restart: a second one would end the first session
        # and requeue its copies without counting an attempt
        if command == "WELCOME":
            self.hello_at = None
        elif (command == "ERROR" and header.get("code") == "not_registered"
              and (self.hello_at is None or time.time() - self.hello_at > 5)):
            self.hello()
        return command, header, payload

    def close(self):
        self.sock.close()
