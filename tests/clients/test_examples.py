# test_examples.py - the client examples run and pass their own checks
#
# Copyright (c) the agentbus authors.
# This Source Code Form is subject to the terms of the Mozilla Public
# License, v. 2.0. If a copy of the MPL was not distributed with this
# file, You can obtain one at http://mozilla.org/MPL/2.0/.

"""Each example of contrib/examples/ written on the client packages runs in
its self-checking mode (``--feed N`` / ``--demo N``) against a fresh
agentbusd on conf/topology.yaml and must exit 0 with its ``ok`` summary
line.  The JavaScript ones are skipped when node or clients/js's
node_modules are missing.  Exits 77 when agentbusd is not built."""

import os
import shutil
import subprocess
import sys

from clienttest import abtest, main

EXAMPLES = os.path.join(abtest.SRCDIR, "contrib", "examples")
JS_READY = shutil.which("node") is not None and os.path.isdir(
    os.path.join(abtest.SRCDIR, "clients", "js", "node_modules", "zeromq"))


class Examples(abtest.BrokerTestCase):

    topology = os.path.join(abtest.SRCDIR, "conf", "topology.yaml")

    def run_example(self, argv, summary):
        proc = subprocess.run(argv + ["--endpoint", self.broker.endpoint],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, "%s:\n%s\n%s" % (
            " ".join(argv), proc.stdout, proc.stderr))
        lines = [l for l in proc.stdout.splitlines() if l.startswith(summary)]
        self.assertEqual(len(lines), 1, proc.stdout)
        self.assertTrue(lines[0].endswith(": ok"), lines[0])
        return lines[0]

    def python(self, name, summary, *args):
        return self.run_example([sys.executable, os.path.join(EXAMPLES, name)]
                                + list(args), summary)

    def node(self, name, summary, *args):
        if not JS_READY:
            self.skipTest("no node or no clients/js/node_modules")
        return self.run_example(["node", os.path.join(EXAMPLES, name)]
                                + list(args), summary)

    def test_rag_gate_python(self):
        line = self.python("rag_gate_agent.py", "rag gate (python)", "--feed", "6")
        self.assertIn("6 retrievals, 3 answered, 3 refused", line)

    def test_rag_gate_js(self):
        line = self.node("rag_gate_agent.mjs", "rag gate (node)", "--feed", "6")
        self.assertIn("6 retrievals, 3 answered, 3 refused", line)

    def test_llm_replica_python(self):
        line = self.python("llm_replica_agent.py", "llm replica (python)",
                           "--demo", "4")
        self.assertIn("4 requests, 4 answered whole", line)

    def test_trainer_js(self):
        line = self.node("trainer_agent.mjs", "trainer (node)", "--demo", "6")
        self.assertIn("6 in order, 6 byte for byte", line)


if __name__ == "__main__":
    main()
