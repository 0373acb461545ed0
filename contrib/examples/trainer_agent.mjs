#!/usr/bin/env node
// trainer_agent.mjs - a trainer publishing Float32Array gradients
//
// Copyright (c) the agentbus authors.
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.
//
// A data-parallel trainer (agent trainer-0 of conf/topology.yaml) on
// @agentbus/client: each step publishes a train.gradient whose gradient is
// a Float32Array sent as a tensor attachment, without copies, with `seq`
// = step on the strict edge to the parameter server.  With --demo N the
// same process also plays the parameter server: it applies the N
// gradients (they arrive in step order: the edge is strict), checks each
// one byte for byte against what was sent, prints one summary line and
// exits (0 when the checks pass).
//
//   agentbusd --topology conf/topology.yaml &
//   (cd clients/js && npm ci)
//   node contrib/examples/trainer_agent.mjs --demo 8

import { parseArgs } from "node:util";
import { Agent, tensor } from "../../clients/js/index.js";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string", default: process.env.AGENTBUS_ENDPOINT ?? "tcp://127.0.0.1:7780" },
    trainer: { type: "string", default: "trainer-0" },
    size: { type: "string", default: "65536" },
    demo: { type: "string", default: "0" },
    topology: { type: "string" },  // ignored (the demos pass it)
  },
});
const size = Number(values.size);
const steps = Number(values.demo) || 4;

/** The gradient of one step (a stand-in: a deterministic pattern). */
function gradient(step) {
  return new Float32Array(size).map((_, i) => Math.sin(i * 0.001 + step) / (step + 1));
}

async function train(bus) {
  const sent = [];
  // The broker's seq check remembers the last seq of this edge across
  // runs, so steps count on from the time (a real trainer: its step).
  const base = Date.now();
  for (let step = 0; step < steps; step++) {
    const g = gradient(step);
    await bus.publish("train.gradient", { trainer: values.trainer, step, gradient: tensor(g) },
      { seq: base + step, id: `${values.trainer}-${step}` });
    sent.push(g);
  }
  return sent;
}

const bus = await Agent.connect(values.endpoint, values.trainer);
let status = 0;
try {
  if (!Number(values.demo)) {
    await train(bus);
    console.log(`${values.trainer}: published ${steps} gradients of ${size} floats`);
  } else {
    const ps = await Agent.connect(values.endpoint, "param-server");
    try {
      const sent = await train(bus);
      const weights = new Float32Array(size);
      let inOrder = 0;
      let exact = 0;
      for (let step = 0; step < steps; step++) {
        const d = await ps.receive(20000);
        if (!d) break;
        const g = d.tensor("gradient").data;  // a Float32Array over the received frame
        if (d.payload.step === step) inOrder++;
        if (Buffer.compare(Buffer.from(g.buffer, g.byteOffset, g.byteLength),
          Buffer.from(sent[step].buffer)) === 0) exact++;
        for (let i = 0; i < size; i++) weights[i] -= 0.1 * g[i];
        await d.ack();
      }
      const ok = inOrder === steps && exact === steps;
      console.log(`trainer (node): ${steps} gradients of ${size} floats (weights[0] now ` +
        `${weights[0].toFixed(4)}), ${inOrder} in order, ${exact} byte for byte: ${ok ? "ok" : "FAIL"}`);
      status = ok ? 0 : 1;
    } finally {
      await ps.close();
    }
  }
} finally {
  await bus.close();
}
process.exit(status);
