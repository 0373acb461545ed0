// client.test.js - @agentbus/client against the real agentbusd
//
// Copyright (c) the agentbus authors.
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.
//
// Each test gets a fresh broker on tests/clients/topology.yaml and is
// bounded by TEST_MS: a hang fails, it does not block.  Run with
// `node --test test/` (make check does, through tests/clients/test_js.sh).

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  Agent, AgentbusError, ClosedError, Delivery, ProtocolError, RejectedError,
  Reply, TimeoutError, encodePayload, tensor,
} from "@agentbus/client";
import { Broker, built } from "./broker.js";

const TEST_MS = 60000;
const LONG_MS = 15000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let broker;
let agents;

async function connect(name, options = {}) {
  const a = await Agent.connect(broker.endpoint, name, { timeoutMs: LONG_MS, ...options });
  agents.push(a);
  return a;
}

async function next(agent) {
  const d = await agent.receive(LONG_MS);
  assert.ok(d, `${agent.agent}: no delivery within ${LONG_MS} ms`);
  return d;
}

describe("@agentbus/client over agentbusd", { skip: !built && "agentbusd is not built" }, () => {
  beforeEach(async () => {
    agents = [];
    broker = await new Broker().start();
  });

  afterEach(async (t) => {
    for (const a of agents) await a.close();
    const status = await broker.stop();
    if (status !== 0 && status !== null) t.diagnostic(broker.stderr());
    await broker.close();
  });

  it("publishes, iterates deliveries and acks", { timeout: TEST_MS }, async () => {
    const worker = await connect("worker", { credit: 8 });
    const producer = await connect("producer");
    assert.match(worker.topology, /^clients@/);
    const oks = await Promise.all([0, 1, 2, 3, 4].map((i) =>
      producer.publish("task.item", { n: i }, { id: `t${i}`, seq: i + 1 })));
    assert.deepEqual(oks.map((ok) => ok.id), ["t0", "t1", "t2", "t3", "t4"]);
    const got = [];
    for await (const d of worker) {
      assert.ok(d instanceof Delivery);
      got.push([d.id, d.payload.n, d.sender, d.seq, d.attempt, d.request]);
      await d.ack();
      if (got.length === 5) break;
    }
    assert.deepEqual(got, [0, 1, 2, 3, 4].map((i) => [`t${i}`, i, "producer", i + 1, 1, false]));
    await worker.ping();
    assert.deepEqual(worker.errors, []);
  });

  it("nacks, and a second ack is an error in agent.errors", { timeout: TEST_MS }, async () => {
    const worker = await connect("worker");
    const producer = await connect("producer");
    await producer.publish("task.item", { n: 1 });
    const first = await next(worker);
    await first.nack({ reason: "later" });
    const again = await next(worker);
    assert.deepEqual([again.msg, again.attempt], [first.msg, 2]);
    await again.ack();
    await again.ack();
    await worker.ping();  // answers leave in order: the ERROR came first
    assert.deepEqual(worker.errors.map((e) => e.code), ["unknown_message"]);
  });

  it("throws RejectedError with errors, and goes on", { timeout: TEST_MS }, async () => {
    const producer = await connect("producer");
    await assert.rejects(producer.publish("task.item", { n: "x", score: 2 }, { id: "bad" }), (e) => {
      assert.ok(e instanceof RejectedError && e instanceof AgentbusError && e instanceof Error);
      assert.equal(e.code, "invalid");
      assert.equal(e.header.id, "bad");
      assert.deepEqual(e.errors.map((x) => x.path).sort(), ["/n", "/score"]);
      return true;
    });
    const results = await Promise.allSettled([
      producer.publish("task.item", { n: 1 }),
      producer.publish("no.such.type", {}),
      producer.publish("task.item", { n: 2 }),
    ]);
    assert.equal(results[0].value.routed, 1);
    assert.equal(results[1].reason.code, "unknown_type");
    assert.equal(results[2].value.routed, 1);
  });

  it("throws ProtocolError for an unknown agent", { timeout: TEST_MS }, async () => {
    const a = new Agent(broker.endpoint, "nobody");
    await assert.rejects(a.start(), (e) => e instanceof ProtocolError && e.code === "unknown_agent");
    assert.equal(a.closed, true);
  });

  it("streams partial replies as an async iterator", { timeout: TEST_MS }, async () => {
    const llm = await connect("llm");
    const fe = await connect("frontend");
    const serve = (async () => {
      const d = await next(llm);
      assert.equal(d.request, true);
      for (let i = 0; i < 3; i++) {
        const ok = await d.reply({ text: `p${i}`, index: i }, { partial: true });
        assert.equal(ok.msg, d.msg);
      }
      await d.reply({ text: "end", index: 3 });
    })();
    const got = [];
    for await (const r of fe.requestStream("llm.prompt", { prompt: "hi" }, { timeoutMs: LONG_MS })) {
      assert.ok(r instanceof Reply);
      got.push([r.partial, r.payload.text]);
    }
    await serve;
    assert.deepEqual(got, [[true, "p0"], [true, "p1"], [true, "p2"], [false, "end"]]);
    const serve2 = (async () => {
      const d = await next(llm);
      await d.reply({ text: "a" }, { partial: true });
      await d.reply({ text: "b" });
    })();
    const partials = [];
    const final = await fe.request("llm.prompt", { prompt: "x" },
      { timeoutMs: LONG_MS, onPartial: (r) => { partials.push(r.payload.text); } });
    await serve2;
    assert.deepEqual([partials, final.payload.text, final.sender], [["a"], "b", "llm"]);
  });

  it("rejects an invalid reply, then the broker times the request out", { timeout: TEST_MS }, async () => {
    const llm = await connect("llm");
    const fe = await connect("frontend");
    const pending = fe.request("llm.prompt", { prompt: "x" }, { timeoutMs: 1000 });
    pending.catch(() => {});
    const d = await next(llm);
    await assert.rejects(d.reply({ text: 1 }), (e) =>
      e instanceof RejectedError && e.code === "invalid" && e.errors[0].path === "/text");
    await assert.rejects(pending, (e) => e instanceof RejectedError && e.code === "timeout");
  });

  it("sends and receives typed-array tensors byte for byte, without copies", { timeout: TEST_MS }, async () => {
    const sink = await connect("sink");
    const producer = await connect("producer");
    const x = new Float32Array(20000 * 4).map((_, i) => i * 0.5);
    const y = new Uint8Array(300 * 256).map((_, i) => i & 255);
    const payload = { x: tensor(x, [20000, 4]), y, label: "l" };
    const [doc, frames] = encodePayload(payload);
    assert.deepEqual(JSON.parse(doc).x, { dtype: "float32", shape: [20000, 4], frame: 0 });
    assert.equal(frames[0], x);  // the array itself goes to zeromq: no copy here
    assert.equal(frames[1], y);
    await producer.publish("blob.tensor", payload);
    const d = await next(sink);
    const gx = d.tensor("x");
    const gy = d.tensor(d.payload.y);
    assert.deepEqual([gx.dtype, gx.shape, gy.dtype, gy.shape], ["float32", [20000, 4], "uint8", [76800]]);
    assert.ok(gx.data instanceof Float32Array);
    assert.ok(Buffer.from(gx.data.buffer, gx.data.byteOffset, gx.data.byteLength)
      .equals(Buffer.from(x.buffer)));
    assert.ok(Buffer.from(gy.data.buffer, gy.data.byteOffset, gy.data.byteLength).equals(Buffer.from(y)));
    // the views share the received frames' memory
    assert.equal(gx.data.buffer, d.attachments[0].buffer);
    assert.equal(gx.data.byteOffset, d.attachments[0].byteOffset);
    assert.equal(gy.data.buffer, d.attachments[1].buffer);
    await d.ack();
  });

  it("says HELLO again after a broker restart and sends what waited", { timeout: TEST_MS }, async () => {
    const worker = await connect("worker");
    const producer = await connect("producer");
    const fe = await connect("frontend");
    assert.equal(await broker.stop(), 0);
    const publish = producer.publish("task.item", { n: 9 }, { timeoutMs: LONG_MS });
    const request = fe.request("llm.prompt", { prompt: "again" }, { timeoutMs: LONG_MS });
    request.catch(() => {});
    await sleep(200);
    await broker.start();
    assert.equal((await publish).routed, 1);
    assert.ok(producer.helloCount >= 2);
    const d = await next(worker);  // its heartbeat found out and re-HELLOed
    assert.deepEqual(d.payload, { n: 9 });
    assert.ok(worker.helloCount >= 2);
    await d.ack();
    const llm = await connect("llm");
    const q = await next(llm);
    assert.deepEqual(q.payload, { prompt: "again" });
    await q.reply({ text: "done" });
    assert.deepEqual((await request).payload, { text: "done" });
  });

  it("every wait has a timeout", { timeout: TEST_MS }, async () => {
    const producer = await connect("producer", { timeoutMs: 300 });
    const worker = await connect("worker");
    assert.equal(await worker.receive(100), null);
    await broker.stop();
    await assert.rejects(producer.publish("task.item", { n: 1 }),
      (e) => e instanceof TimeoutError && e.code === "local_timeout");
    await assert.rejects(producer.ping(200), TimeoutError);
    const a = new Agent(broker.endpoint, "worker", { timeoutMs: 200 });
    await assert.rejects(a.start(), TimeoutError);
  });

  it("close ends every wait", { timeout: TEST_MS }, async () => {
    const worker = await connect("worker");
    const waiting = worker.receive(LONG_MS);
    waiting.catch(() => {});
    const iterated = (async () => { const got = []; for await (const d of worker) got.push(d); return got; })();
    await sleep(100);
    await worker.close();
    await assert.rejects(waiting, ClosedError);
    assert.deepEqual(await iterated, []);
    await assert.rejects(worker.publish("task.item", { n: 1 }), (e) => e instanceof ClosedError && e.code === "closed");
    await worker.close();
  });
});
