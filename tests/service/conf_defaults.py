"""conf_defaults - conf/agentbusd.yaml tells the truth about the defaults.

Every key of agentbusd's option table (`agentbusd --list-options`, from
the compiled table) appears in conf/agentbusd.yaml exactly once as a
default line, `#key: VALUE` (or `#key:` for a key that is off by
default), with VALUE the compiled default; no line names a key the broker
does not know; a line in force sets a key that has no default or sets it
to its default. Then the file itself, and a copy with every default line
uncommented, pass `agentbusd --check-config`, and both load the same.
"""

import os
import re
import subprocess
import sys
import tempfile

srcdir = os.environ.get("AB_SRCDIR", ".")
builddir = os.environ.get("AB_BUILDDIR", ".")
agentbusd = os.path.join(builddir, "agentbusd")
conf = os.path.join(srcdir, "conf", "agentbusd.yaml")
failures = []


def fail(message):
    print("FAIL: " + message)
    failures.append(message)


def value_of(rest):
    """The value of a `key: value  # comment` line, without the comment."""
    return re.sub(r"\s+#.*$", "", rest).strip()


listing = subprocess.run([agentbusd, "--list-options"], capture_output=True,
                         text=True, check=True).stdout
defaults = {}
for line in listing.splitlines():
    name, _type, default = line.split("\t")
    defaults[name] = "" if default == "-" else default
if len(defaults) < 10:
    fail("agentbusd --list-options lists only %d keys" % len(defaults))

with open(conf) as f:
    lines = f.read().splitlines()

default_lines = {}
for number, line in enumerate(lines, 1):
    m = re.match(r"^(#?)([A-Za-z_][A-Za-z0-9_]*):(.*)$", line)
    if not m:
        continue
    commented, key, rest = m.group(1) == "#", m.group(2), m.group(3)
    where = "%s:%d" % (conf, number)
    if key not in defaults:
        fail("%s: %s is not a key of agentbusd" % (where, key))
        continue
    value = value_of(rest)
    if commented:
        default_lines.setdefault(key, []).append(number)
        if value != defaults[key]:
            fail("%s: #%s: %r, but the compiled default is %r"
                 % (where, key, value, defaults[key] or "(none)"))
    elif defaults[key] and value != defaults[key]:
        fail("%s: %s: %r is in force, but it is not the default %r"
             % (where, key, value, defaults[key]))
    elif not defaults[key]:
        default_lines.setdefault(key, []).append(number)
for key in defaults:
    count = len(default_lines.get(key, []))
    if count != 1:
        fail("%s: %d lines `#%s:` (want 1)" % (conf, count, key))
    else:
        print("ok: %s default %r" % (key, defaults[key] or "(none)"))


def check_config(path):
    """agentbusd --check-config on `path` must pass."""
    run = subprocess.run([agentbusd, "--check-config", "--config", path],
                         capture_output=True, text=True)
    if run.returncode != 0:
        fail("agentbusd --check-config --config %s: exit %d: %s"
             % (path, run.returncode, run.stderr.strip()))
    return run.stdout.split(":", 1)[-1]


check_config(conf)
with tempfile.TemporaryDirectory() as tmp:
    # the topology is relative to the file: keep the copy beside a link
    os.symlink(os.path.abspath(os.path.join(srcdir, "conf", "topology.yaml")),
               os.path.join(tmp, "topology.yaml"))
    os.symlink(os.path.abspath(os.path.join(srcdir, "conf", "schemas")),
               os.path.join(tmp, "schemas"))
    copy = os.path.join(tmp, "agentbusd.yaml")
    with open(copy, "w") as f:
        for line in lines:
            m = re.match(r"^#([A-Za-z_][A-Za-z0-9_]*):(.*)$", line)
            if m and value_of(m.group(2)):
                line = line[1:]  # a key at its default, now in force
            f.write(line + "\n")
    before = len(failures)
    check_config(copy)
    if len(failures) == before:
        print("ok: every default uncommented passes --check-config")

sys.exit(1 if failures else 0)
