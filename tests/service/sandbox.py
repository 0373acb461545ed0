"""sandbox - agentbusd lives within the unit's sandbox.

Runs agentbusd under strace (a durable topology with a data_dir, a HELLO
round trip, SIGHUP, SIGTERM) and checks that it maps no writable
executable memory, that every system call it made is within the unit's
SystemCallFilter= lines (expanded with `systemd-analyze syscall-filter`,
applied in order as systemd does), and every socket family within
RestrictAddressFamilies=. A call outside them is what
makes the service die under systemd while every other test passes
(libzmq aborts when sched_setscheduler or a netlink socket is refused).
Skips (77) without strace.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

srcdir = os.environ.get("AB_SRCDIR", ".")
builddir = os.environ.get("AB_BUILDDIR", ".")
unit = os.path.join(builddir, "contrib", "systemd", "agentbusd.service")
TIMEOUT = 60  # seconds; generous: CI machines are loaded

if not shutil.which("strace"):
    print("SKIP: strace is missing (contrib/install-deps.sh installs it)")
    sys.exit(77)
try:
    import zmq
except ImportError:
    print("SKIP: python3-zmq is missing")
    sys.exit(77)

# the groups of systemd-analyze syscall-filter, expanded
groups, current = {}, None
for line in subprocess.run(["systemd-analyze", "syscall-filter"],
                           capture_output=True, text=True,
                           check=True).stdout.splitlines():
    if line.startswith("@"):
        current = groups.setdefault(line.split()[0], [])
    elif current is not None and line.strip() and \
            not line.strip().startswith("#"):
        current.append(line.strip())


def expand(name):
    if not name.startswith("@"):
        return {name}
    return set().union(*(expand(m) for m in groups.get(name, [])))


# the unit's filter: the first line decides allow- or deny-list; later
# lines add (allow) or remove (~) names
allowed, families = None, None
with open(unit) as f:
    for line in f:
        m = re.match(r"^SystemCallFilter=(~?)(.*)$", line.strip())
        if m:
            names = set().union(*(expand(n) for n in m.group(2).split()))
            if allowed is None:
                assert not m.group(1), "a deny-list unit: not handled here"
                allowed = names
            elif m.group(1):
                allowed -= names
            else:
                allowed |= names
        m = re.match(r"^RestrictAddressFamilies=(.*)$", line.strip())
        if m:
            families = set(m.group(1).split())
if allowed is None or families is None:
    print("FAIL: the unit has no SystemCallFilter= or RestrictAddressFamilies=")
    sys.exit(1)

failures = []
with tempfile.TemporaryDirectory() as tmp:
    trace = os.path.join(tmp, "trace")
    log = open(os.path.join(tmp, "agentbusd.log"), "w+")
    broker = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", trace,
         os.path.join(builddir, "agentbusd"), "--topology",
         os.path.join(srcdir, "tests", "fixtures", "broker",
                      "durable-topology.yaml"),
         "--data-dir", os.path.join(tmp, "data"),
         "--endpoint", "tcp://127.0.0.1:*"],
        stderr=log)
    try:
        # a tcp endpoint, so that libzmq's interface lookup is traced too
        deadline, endpoint = time.monotonic() + TIMEOUT, None
        while endpoint is None and time.monotonic() < deadline and \
                broker.poll() is None:
            log.seek(0)
            m = re.search(r"serving \S+ on (tcp://127\.0\.0\.1:\d+)",
                          log.read())
            endpoint = m.group(1) if m else time.sleep(0.1)
        if endpoint is None:
            raise RuntimeError("agentbusd did not say where it serves")
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.RCVTIMEO, TIMEOUT * 1000)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send_multipart([b"ABP/1", b"HELLO",
                          json.dumps({"agent": "producer"}).encode()])
        frames = s.recv_multipart()
        if frames[1] != b"WELCOME":
            failures.append("HELLO got %r" % frames)
        s.close()
        ctx.term()
        # the broker runs directly under strace: signal it, not strace
        children = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/stat" % pid) as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == broker.pid:
                children.append(int(pid))
        target = children[0] if children else broker.pid
        os.kill(target, signal.SIGHUP)
        deadline = time.monotonic() + TIMEOUT
        log.seek(0)
        while "reload" not in log.read() and time.monotonic() < deadline:
            time.sleep(0.1)
            log.seek(0)
        os.kill(target, signal.SIGTERM)
        broker.wait(timeout=TIMEOUT)
    finally:
        if broker.poll() is None:
            broker.kill()
            broker.wait()
    calls, used_families, wx = set(), set(), []
    with open(trace) as f:
        for line in f:
            # MemoryDenyWriteExecute=yes refuses writable executable memory
            if re.match(r"^\d+\s+(mmap|mprotect|pkey_mprotect)\(", line) and \
                    "PROT_WRITE" in line and "PROT_EXEC" in line:
                wx.append(line.strip())
            m = re.match(r"^\d+\s+([a-z_0-9]+)\(", line)
            if m:
                calls.add(m.group(1))
            m = re.match(r"^\d+\s+socket\((AF_[A-Z0-9]+)", line)
            if m:
                used_families.add(m.group(1))
    # execve of agentbusd itself happens before the filter applies
    calls.discard("execve")
    outside = sorted(calls - allowed)
    if outside:
        failures.append("system calls outside the unit's SystemCallFilter: "
                        + " ".join(outside))
    else:
        print("ok: %d system calls, all within SystemCallFilter" % len(calls))
    if used_families - families:
        failures.append("socket families outside RestrictAddressFamilies: "
                        + " ".join(sorted(used_families - families)))
    else:
        print("ok: socket families %s within RestrictAddressFamilies"
              % " ".join(sorted(used_families)))
    if wx:
        failures.append("writable executable memory, which "
                        "MemoryDenyWriteExecute= refuses: " + wx[0])
    else:
        print("ok: no writable executable memory")
    if failures:
        log.seek(0)
        print("agentbusd's log:\n" + log.read())
for failure in failures:
    print("FAIL: " + failure)
sys.exit(1 if failures else 0)
