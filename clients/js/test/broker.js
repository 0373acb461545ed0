// broker.js - runs the real agentbusd for the client's tests
//
// Copyright (c) the agentbus authors.
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.
//
// AB_BUILDDIR (set by make check) names the build tree with agentbusd,
// AB_SRCDIR the source tree with tests/clients/topology.yaml; both default
// to this file's place in the source tree.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Dealer } from "zeromq";

const here = dirname(fileURLToPath(import.meta.url));
export const SRCDIR = process.env.AB_SRCDIR ?? resolve(here, "..", "..", "..");
export const BUILDDIR = process.env.AB_BUILDDIR ?? SRCDIR;
export const AGENTBUSD = join(BUILDDIR, "agentbusd");
export const TOPOLOGY = join(SRCDIR, "tests", "clients", "topology.yaml");

/** A TCP port on 127.0.0.1 nobody listens on right now. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One agentbusd on a free port; start() again after stop() keeps it. */
export class Broker {
  constructor(topology = TOPOLOGY) {
    this.topology = topology;
    this.dir = mkdtempSync(join(tmpdir(), "abjs-"));
    this.log = join(this.dir, "agentbusd.log");
    this.endpoint = null;
    this.proc = null;
  }

  async start() {
    if (!this.endpoint) this.endpoint = `tcp://127.0.0.1:${await freePort()}`;
    const out = openSync(this.log, "a");
    this.proc = spawn(AGENTBUSD, ["--topology", this.topology, "--endpoint", this.endpoint],
      { stdio: ["ignore", out, out] });
    this.exited = new Promise((r) => this.proc.on("exit", (code, sig) => r(code ?? sig)));
    await this.waitReady();
    return this;
  }

  /** Waits until the broker answers a PING (PONG or ERROR: it serves). */
  async waitReady(seconds = 10) {
    const deadline = Date.now() + seconds * 1000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`agentbusd exited:\n${this.stderr()}`);
      const probe = new Dealer({ linger: 0, receiveTimeout: 200 });
      probe.connect(this.endpoint);
      try {
        await probe.send(["ABP/1", "PING", "{}"]);
        await probe.receive();
        return;
      } catch {
        await sleep(50);
      } finally {
        probe.close();
      }
    }
    throw new Error(`agentbusd did not answer within ${seconds} s:\n${this.stderr()}`);
  }

  /** SIGTERM; resolves with the exit status (SIGKILL after 5 s). */
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return this.proc?.exitCode;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  stderr() {
    try { return readFileSync(this.log, "utf8").slice(-4000); } catch { return ""; }
  }

  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const built = existsSync(AGENTBUSD);
