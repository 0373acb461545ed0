# test_python_install.py - the Python client installs offline into a venv
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""``pip install --no-build-isolation ./clients/python`` into a fresh
venv made with ``--system-site-packages`` (pyzmq and setuptools from
Debian), with ``--no-index`` so that it cannot reach the network, then
imports the installed package from outside the source tree.  The package
is copied first, so the build's egg-info does not land in the source tree.
Exits 77 only when this Python cannot make a venv with pip
(python3-venv missing)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("AB_SRCDIR") or os.path.abspath(
    os.path.join(HERE, "..", ".."))
PACKAGE = os.path.join(SRCDIR, "clients", "python")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable

CHECK = r"""
import json, os, sys
import agentbus, agentbus.aio
print(json.dumps({
    "file": agentbus.__file__,
    "version": agentbus.__version__,
    "typed": os.path.exists(os.path.join(os.path.dirname(agentbus.__file__),
                                         "py.typed")),
    "errors": [c.__name__ for c in (agentbus.Rejected, agentbus.Timeout,
               agentbus.ProtocolError, agentbus.Closed)
               if issubclass(c, agentbus.AgentbusError)],
    "aio": agentbus.aio.Agent.__name__,
}))
"""


class Install(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="abinstall-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def run_ok(self, *cmd, **kwargs):
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=600, **kwargs)
        self.assertEqual(proc.returncode, 0, "%s:\n%s\n%s" % (
            " ".join(cmd), proc.stdout, proc.stderr))
        return proc.stdout

    def test_offline_venv_install_and_import(self):
        venv = os.path.join(self.tmp, "venv")
        source = os.path.join(self.tmp, "src")
        shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns(
            "__pycache__", "*.egg-info", "build"))
        self.run_ok(PYTHON, "-m", "venv", "--system-site-packages", venv)
        pip = os.path.join(venv, "bin", "pip")
        env = dict(os.environ, PIP_NO_INDEX="1",
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        env.pop("PYTHONPATH", None)
        self.run_ok(pip, "install", "--no-build-isolation", "--no-index",
                    source, env=env)
        out = self.run_ok(os.path.join(venv, "bin", "python"), "-c", CHECK,
                          cwd=self.tmp, env=env)
        import json
        info = json.loads(out)
        self.assertTrue(info["file"].startswith(venv), info)
        self.assertIn("site-packages", info["file"])
        self.assertTrue(info["typed"], "py.typed is not installed")
        self.assertEqual(len(info["errors"]), 4)
        self.assertEqual(info["aio"], "Agent")
        self.run_ok(pip, "uninstall", "-y", "agentbus", env=env)


def main():
    probe = subprocess.run([PYTHON, "-c", "import ensurepip, venv"],
                           capture_output=True)
    if probe.returncode != 0:
        print("SKIP: %s cannot make a venv with pip (install python3-venv)"
              % PYTHON)
        sys.exit(77)
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()
