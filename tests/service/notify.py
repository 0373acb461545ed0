"""notify - agentbusd tells systemd its state through sd_notify.

A fake NOTIFY_SOCKET (a datagram socket this test binds) receives, in
order, READY=1 with STATUS= naming the bound endpoint once the broker
serves (the port then takes a connection), and STOPPING=1 on SIGTERM,
after which agentbusd exits 0. Skips (77) when agentbusd was built
without libsystemd. WATCHDOG=1 and RELOADING=1 are not sent yet.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile

srcdir = os.environ.get("AB_SRCDIR", ".")
builddir = os.environ.get("AB_BUILDDIR", ".")
TIMEOUT = 60  # seconds; generous: CI machines are loaded

with open(os.path.join(builddir, "config.h")) as f:
    if not re.search(r"^#define HAVE_LIBSYSTEMD 1", f.read(), re.M):
        print("SKIP: agentbusd is built without libsystemd")
        sys.exit(77)

failures = []


def check(what, ok, detail=""):
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok else ": " + detail))
    if not ok:
        failures.append(what)


with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(TIMEOUT)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    log = open(os.path.join(tmp, "agentbusd.log"), "w+")
    broker = subprocess.Popen(
        [os.path.join(builddir, "agentbusd"), "--topology",
         os.path.join(srcdir, "conf", "topology.yaml"),
         "--endpoint", "tcp://127.0.0.1:*"], env=env, stderr=log)
    messages = []
    try:
        messages.append(sock.recv(4096).decode())
        ready = messages[0].split("\n")
        check("READY=1 first", ready[0] == "READY=1", repr(messages[0]))
        status = [m for m in ready if m.startswith("STATUS=")]
        port = re.search(r"serving on tcp://127\.0\.0\.1:(\d+)",
                         status[0] if status else "")
        check("STATUS= names the bound endpoint", port is not None,
              repr(messages[0]))
        if port:
            with socket.create_connection(("127.0.0.1", int(port.group(1))),
                                          timeout=TIMEOUT):
                check("the broker takes connections once READY", True)
        broker.send_signal(signal.SIGTERM)
        messages.append(sock.recv(4096).decode())
        check("STOPPING=1 on SIGTERM", messages[-1] == "STOPPING=1",
              repr(messages[-1]))
        status = broker.wait(timeout=TIMEOUT)
        check("exit 0 after SIGTERM", status == 0, str(status))
    except socket.timeout:
        check("the notifications came", False,
              "only %r within %d s" % (messages, TIMEOUT))
    finally:
        if broker.poll() is None:
            broker.kill()
            broker.wait()
        log.seek(0)
        if failures:
            print("agentbusd's log:\n" + log.read())
sys.exit(1 if failures else 0)
