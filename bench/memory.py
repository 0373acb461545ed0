#!/usr/bin/python3
"""Bytes of agentbusd memory per queued message.

usage: /usr/bin/python3 bench/memory.py [--count N] [--agentbusd PATH]
                                        [--json FILE] [--modes LIST] [--keep]

For each mode (`memory`: a non-durable edge, no data_dir; `durable`: a
durable edge, `sync: {batch_ms: 10}`), starts a fresh agentbusd from the build tree (or
--agentbusd) on a topology generated in a temp dir, publishes N (default
1,000,000) 256-byte JSON messages to an agent that never connects, so every
one stays queued, and reads the broker's memory from /proc/PID/smaps_rollup
and /proc/PID/smaps before the first PUB and after the last OK:

* rss: VmRSS, everything resident;
* anon: anonymous memory (the heap: messages, copies, queues, indexes);
* mdb: resident pages of the file mapping of data.mdb (LMDB's mapped
  pages; only durable), which the kernel can drop and read back.

Bytes per message = growth / N. For `memory` that is the RSS growth; for
`durable` the figure that counts is the anonymous growth, the RAM beyond
LMDB's mapped pages (the issue's goal: <= 500 bytes non-durable, <= 150
bytes durable beyond the mapping). The producer keeps a window of 2048
PUBs unanswered, as agentbus-bench does. Prints a table and the JSON
(also to --json FILE). Not a test: it asserts nothing about the figures;
it exits 1 when a PUB was refused or the broker died.

Needs pyzmq (Debian's python3-zmq).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
PAYLOAD_BYTES = 256
WINDOW = 2048

SCHEMA = """type: bench.mem
version: 1
description: a 256-byte agent event, as bench/memory.py sends it
schema:
  type: object
  required: [id, text]
  properties:
    id: {type: string}
    text: {type: string, maxLength: 4096}
"""

TOPOLOGY = """topology: bench-memory
schemas: schemas
defaults: {{ack_timeout_ms: 60000, queue_limit: {limit}}}
agents: {{prod: {{}}, absent: {{}}}}
edges:
  - {{from: prod, to: absent, type: bench.mem, durable: {durable}}}
"""

CONFIG = """topology: topology-{mode}.yaml
data_dir: data-{mode}
sync: {{batch_ms: 10}}
map_size: {map_size}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def payload():
    head = '{"id":"evt-1024","text":"'
    words = "the quick brown fox jumps over a lazy dog "
    body = (words * 8)[:PAYLOAD_BYTES - len(head) - 2]
    text = head + body + '"}'
    assert len(text) == PAYLOAD_BYTES
    return text.encode()


def memory_of(pid):
    """rss, anon and data.mdb resident bytes of a process."""
    fields = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[0].endswith(":"):
                fields[parts[0][:-1]] = int(parts[1]) * 1024
    mdb = 0
    with open("/proc/%d/smaps" % pid) as f:
        in_mdb = False
        for line in f:
            parts = line.split()
            if parts and "-" in parts[0] and len(parts) >= 5 and \
                    not parts[0].endswith(":"):
                in_mdb = len(parts) >= 6 and parts[-1].endswith("data.mdb")
            elif in_mdb and parts and parts[0] == "Rss:":
                mdb += int(parts[1]) * 1024
    return {"rss": fields.get("Rss", 0), "anon": fields.get("Anonymous", 0),
            "mdb": mdb}


class Broker:
    def __init__(self, agentbusd, tmp, mode, count):
        self.endpoint = "tcp://127.0.0.1:%d" % free_port()
        durable = mode == "durable"
        with open(os.path.join(tmp, "topology-%s.yaml" % mode), "w") as f:
            f.write(TOPOLOGY.format(limit=count + WINDOW,
                                    durable="true" if durable else "false"))
        # room for the records with plenty to spare: ~1 KiB each
        map_size = max(1 << 30, (count * 1024 // 65536 + 1) * 65536)
        config = os.path.join(tmp, "agentbusd-%s.yaml" % mode)
        with open(config, "w") as f:
            if durable:
                f.write(CONFIG.format(mode=mode, map_size=map_size))
            else:
                # no data_dir: no store at all beside the queued messages
                f.write("topology: topology-%s.yaml\n" % mode)
        self.log = open(os.path.join(tmp, "agentbusd-%s.log" % mode), "w")
        self.proc = subprocess.Popen(
            [agentbusd, "--config", config, "--endpoint", self.endpoint],
            cwd=tmp, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def recv(sock, timeout_ms):
    if not sock.poll(timeout_ms):
        return None
    return sock.recv_multipart()


def hello(ctx, endpoint):
    """A DEALER registered as prod, once the broker answers."""
    deadline = time.time() + 30
    while time.time() < deadline:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.connect(endpoint)
        sock.send_multipart([b"ABP/1", b"HELLO",
                             b'{"agent":"prod","credit":1}'])
        frames = recv(sock, 500)
        if frames and frames[1] == b"WELCOME":
            return sock
        sock.close()
    raise RuntimeError("agentbusd did not answer HELLO on " + endpoint)


def publish(sock, count):
    """N PUBs with WINDOW unanswered at most; returns (ok, refused)."""
    header = b'{"type":"bench.mem"}'
    body = payload()
    frames = [b"ABP/1", b"PUB", header, body]
    sent = ok = refused = 0
    while ok + refused < count:
        while sent < count and sent - ok - refused < WINDOW:
            sock.send_multipart(frames)
            sent += 1
        answer = recv(sock, 10000)
        if answer is None:
            raise RuntimeError("no answer to PUB for 10 s (%d sent, %d OK)"
                               % (sent, ok))
        while answer is not None:
            if answer[1] == b"OK":
                ok += 1
            elif answer[1] == b"REJECT":
                refused += 1
                if refused == 1:
                    print("REJECT:", answer[2].decode(errors="replace"),
                          file=sys.stderr)
            try:
                answer = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                answer = None
    return ok, refused


def measure(agentbusd, tmp, mode, count):
    broker = Broker(agentbusd, tmp, mode, count)
    ctx = zmq.Context()
    try:
        sock = hello(ctx, broker.endpoint)
        time.sleep(0.2)
        before = memory_of(broker.proc.pid)
        start = time.time()
        ok, refused = publish(sock, count)
        seconds = time.time() - start
        time.sleep(0.5)
        after = memory_of(broker.proc.pid)
        alive = broker.proc.poll() is None
        sock.close()
    finally:
        ctx.destroy(linger=0)
        broker.stop()
    per = {k: (after[k] - before[k]) / ok if ok else None for k in after}
    return {"mode": mode, "count": count, "queued": ok, "refused": refused,
            "payload_bytes": PAYLOAD_BYTES, "seconds": seconds,
            "alive": alive,
            "rss_before": before["rss"], "rss_after": after["rss"],
            "anon_before": before["anon"], "anon_after": after["anon"],
            "mdb_before": before["mdb"], "mdb_after": after["mdb"],
            "rss_per_msg": per["rss"], "anon_per_msg": per["anon"],
            "mdb_per_msg": per["mdb"] if mode == "durable" else None,
            "goal_per_msg": 500 if mode == "memory" else 150,
            "goal_measure": "rss_per_msg" if mode == "memory"
            else "anon_per_msg"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000000)
    parser.add_argument("--agentbusd",
                        default=os.path.join(HERE, "..", "agentbusd"))
    parser.add_argument("--json")
    parser.add_argument("--modes", default="memory,durable")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    agentbusd = os.path.abspath(args.agentbusd)
    if not os.access(agentbusd, os.X_OK):
        sys.exit("memory.py: %s is not built (give --agentbusd)" % agentbusd)
    tmp = tempfile.mkdtemp(prefix="agentbus-memory-")
    os.mkdir(os.path.join(tmp, "schemas"))
    with open(os.path.join(tmp, "schemas", "bench.mem.yaml"), "w") as f:
        f.write(SCHEMA)
    rows = []
    started = time.time()
    try:
        for mode in args.modes.split(","):
            if mode not in ("memory", "durable"):
                sys.exit("memory.py: unknown mode %r" % mode)
            rows.append(measure(agentbusd, tmp, mode, args.count))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%-8s %9s %8s %8s %9s %9s %9s %7s %7s %7s %6s" % (
        "mode", "queued", "send_s", "rss_MB0", "rss_MB", "anon_MB",
        "mdb_MB", "rss/msg", "anon/m", "mdb/m", "goal"))
    for r in rows:
        def mb(v):
            return "%.1f" % (v / 1e6)

        def per(v):
            return "-" if v is None else "%.0f" % v
        print("%-8s %9d %8.1f %8s %9s %9s %9s %7s %7s %7s %6s" % (
            r["mode"], r["queued"], r["seconds"], mb(r["rss_before"]),
            mb(r["rss_after"]), mb(r["anon_after"]), mb(r["mdb_after"]),
            per(r["rss_per_msg"]), per(r["anon_per_msg"]),
            per(r["mdb_per_msg"]),
            "%d %s" % (r["goal_per_msg"], r["goal_measure"].split("_")[0])))
    print("total %.1f s; bytes per queued %d-byte message; goal: memory "
          "rss/msg <= 500, durable anon/msg <= 150" %
          (time.time() - started, PAYLOAD_BYTES))
    print(json.dumps(rows, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    bad = [r for r in rows if r["refused"] or not r["alive"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
