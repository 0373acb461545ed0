// curve.test.js - @agentbus/client's CURVE keys against a CURVE peer
//
// Copyright (c) the agentbus authors.
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.
//
// agentbusd does not speak CURVE yet (security.md), so the peer here is a
// zeromq Router that does, with a ZAP handler (RFC 27) that admits only
// one client key and records every key it was asked about.  The agent
// reads czmq certificate files (key: NAME.key_secret, serverKey: NAME.key).

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Agent, KeyFileError, TimeoutError, loadCurveKeys } from "@agentbus/client";
import { Reply, Router, capability, curveKeyPair } from "zeromq";

const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

function z85(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 4) {
    let value = ((bytes[i] << 24) >>> 0) + (bytes[i + 1] << 16) + (bytes[i + 2] << 8) + bytes[i + 3];
    const chunk = [];
    for (let j = 0; j < 5; j++) { chunk.unshift(Z85[value % 85]); value = Math.floor(value / 85); }
    out += chunk.join("");
  }
  return out;
}

function writeCert(dir, name, pair) {
  const pub = join(dir, `${name}.key`);
  const sec = join(dir, `${name}.key_secret`);
  writeFileSync(pub, `#   ZeroMQ CURVE Public Certificate\n\nmetadata\ncurve\n    public-key = "${pair.publicKey}"\n`);
  writeFileSync(sec, `#   ZeroMQ CURVE **Secret** Certificate\n\nmetadata\ncurve\n    public-key = "${pair.publicKey}"\n    secret-key = "${pair.secretKey}"\n`);
  return { pub, sec };
}

describe("CURVE", { skip: !capability.curve && "libzmq without CURVE" }, () => {
  let dir, router, zap, endpoint, broker, agent, stranger, other;
  const asked = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "abjs-curve-"));
    const brokerPair = curveKeyPair();
    const agentPair = curveKeyPair();
    broker = writeCert(dir, "broker", brokerPair);
    agent = { ...writeCert(dir, "agent", agentPair), z85: agentPair.publicKey };
    stranger = writeCert(dir, "stranger", curveKeyPair());
    other = writeCert(dir, "other", curveKeyPair());
    zap = new Reply();
    await zap.bind("inproc://zeromq.zap.01");
    (async () => {
      for await (const [version, id, , , , mechanism, key] of zap) {
        const seen = z85(key);
        asked.push([mechanism.toString(), seen]);
        const ok = seen === agentPair.publicKey;
        await zap.send([version, id, ok ? "200" : "400", ok ? "OK" : "no", ok ? seen : "", ""]);
      }
    })();
    router = new Router({ curveServer: true, curveSecretKey: brokerPair.secretKey, linger: 0 });
    await router.bind("tcp://127.0.0.1:*");
    endpoint = router.lastEndpoint;
    (async () => {
      for await (const [peer, , command, header] of router) {
        const h = JSON.parse(header.toString());
        const cmd = command.toString();
        if (cmd === "HELLO") {
          await router.send([peer, "ABP/1", "WELCOME", JSON.stringify({ agent: h.agent, heartbeat_ms: 1000, topology: "curve@00000000" })]);
        } else if (cmd === "PUB") {
          await router.send([peer, "ABP/1", "OK", JSON.stringify({ routed: 0 })]);
        }
      }
    })();
  });

  after(() => {
    router.close();
    zap.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads czmq certificates and completes the handshake", { timeout: 30000 }, async () => {
    const keys = loadCurveKeys(agent.sec, broker.pub);
    assert.equal(keys.publicKey, agent.z85);
    const bus = await Agent.connect(endpoint, "worker", { key: agent.sec, serverKey: broker.pub, timeoutMs: 5000 });
    try {
      assert.equal(bus.welcome.agent, "worker");
      assert.equal((await bus.publish("t", {})).routed, 0);
      assert.ok(asked.some(([m, k]) => m === "CURVE" && k === agent.z85));
    } finally {
      await bus.close();
    }
  });

  it("gets no answer with a wrong broker key or a key not admitted", { timeout: 30000 }, async () => {
    const wrong = new Agent(endpoint, "worker", { key: agent.sec, serverKey: other.pub, timeoutMs: 500 });
    await assert.rejects(wrong.start(), TimeoutError);
    const refused = new Agent(endpoint, "worker", { key: stranger.sec, serverKey: broker.pub, timeoutMs: 500 });
    await assert.rejects(refused.start(), TimeoutError);
    const strangerZ85 = loadCurveKeys(stranger.sec, broker.pub).publicKey;
    assert.ok(asked.some(([, k]) => k === strangerZ85), "the ZAP handler was asked about the stranger");
  });

  it("throws KeyFileError for bad files", () => {
    const garbage = join(dir, "garbage.key");
    writeFileSync(garbage, "curve\n    public-key = \"short\"\n");
    for (const [key, server] of [[join(dir, "missing.key_secret"), broker.pub], [agent.pub, broker.pub], [agent.sec, garbage]]) {
      assert.throws(() => new Agent(endpoint, "worker", { key, serverKey: server }),
        (e) => e instanceof KeyFileError && e.code === "key_file");
    }
    assert.throws(() => new Agent(endpoint, "worker", { key: agent.sec }), TypeError);
  });
});
