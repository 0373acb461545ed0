#!/usr/bin/env node
// rag_gate_agent.mjs - the RAG confidence gate on @agentbus/client
//
// Copyright (c) the agentbus authors.
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.
//
// The reasoner of conf/topology.yaml as a confidence gate, in JavaScript:
// each retrieval.context whose best passage scores at least --threshold is
// answered (printed) and acked; the others are refused (NACK
// requeue:false, dead-lettered).  The same agent in Python is
// rag_gate_agent.py.  With --feed N it also plays the retriever: it
// publishes N retrievals (every other one below the threshold), gates
// them, checks each verdict, prints one summary line and exits.
//
//   agentbusd --topology conf/topology.yaml &
//   (cd clients/js && npm ci)
//   node contrib/examples/rag_gate_agent.mjs --feed 6
//
// An installed package is imported as "@agentbus/client"; in this source
// tree the example takes it from clients/js.

import { parseArgs } from "node:util";
import { Agent } from "../../clients/js/index.js";

const { values } = parseArgs({
  options: {
    endpoint: { type: "string", default: process.env.AGENTBUS_ENDPOINT ?? "tcp://127.0.0.1:7780" },
    threshold: { type: "string", default: "0.5" },
    feed: { type: "string", default: "0" },
    topology: { type: "string" },  // ignored (the demos pass it)
  },
});
const threshold = Number(values.threshold);
const n = Number(values.feed);

const best = (payload) => payload.passages.reduce((a, b) => (b.score > a.score ? b : a));

async function gate(bus, count, quiet) {
  const verdicts = {};
  for await (const d of bus) {
    const top = best(d.payload);
    if (top.score >= threshold) {
      if (!quiet) console.log(`${d.payload.query} -> ${top.text}`);
      await d.ack();
      verdicts[d.id] = "answered";
    } else {
      await d.nack({ requeue: false, reason: `low confidence ${top.score.toFixed(2)}` });
      verdicts[d.id] = "refused";
    }
    if (count && Object.keys(verdicts).length >= count) break;
  }
  return verdicts;
}

async function feed() {
  const expected = {};
  const retriever = await Agent.connect(values.endpoint, "retriever");
  try {
    for (let i = 0; i < n; i++) {
      const score = i % 2 === 0 ? threshold + 0.2 : threshold / 2;
      const id = `gate-js-${i}`;
      await retriever.publish("retrieval.context", {
        query: `question ${i}`,
        passages: [{ text: `answer ${i}`, score }, { text: "noise", score: score / 3 }],
      }, { id });
      expected[id] = score >= threshold ? "answered" : "refused";
    }
  } finally {
    await retriever.close();
  }
  return expected;
}

const bus = await Agent.connect(values.endpoint, "reasoner", { credit: 4 });
process.on("SIGINT", () => { bus.close(); });
if (!n) {
  await gate(bus, 0, false);
  process.exit(0);
}
let status = 1;
try {
  const expected = await feed();
  const timer = setTimeout(() => { console.log("rag gate (node): no deliveries in 60 s"); bus.close(); }, 60000);
  const got = await gate(bus, n, true);
  clearTimeout(timer);
  const answered = Object.values(got).filter((v) => v === "answered").length;
  const ok = JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(expected).sort());
  console.log(`rag gate (node): ${Object.keys(got).length} retrievals, ${answered} answered, ` +
    `${Object.keys(got).length - answered} refused: ${ok ? "ok" : `FAIL (expected ${JSON.stringify(expected)})`}`);
  status = ok ? 0 : 1;
} finally {
  await bus.close();
}
process.exit(status);
