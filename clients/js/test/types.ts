// types.ts - compiled by `tsc --noEmit` (never run): the way an agent uses
// the package type-checks against index.d.ts, and misuse does not.
import { Agent, KeyFileError, RejectedError, TimeoutError, loadCurveKeys, tensor, type Delivery, type Reply } from "@agentbus/client";

interface Passage { text: string; score: number }

export async function gate(endpoint: string): Promise<void> {
  const bus = await Agent.connect(endpoint, "reasoner", { credit: 4, timeoutMs: 2000, key: "me.key_secret", serverKey: "broker.key" });
  const keys: { publicKey: string } = loadCurveKeys("me.key_secret", "broker.key");
  console.log(keys.publicKey, bus.curve?.serverKey);
  for await (const d of bus) {
    const delivery: Delivery<{ query: string; passages: Passage[] }> = d;
    const best: number = Math.max(...delivery.payload.passages.map((p) => p.score));
    try {
      const ok = await bus.publish("reasoning.answer", { answer: delivery.payload.query, best },
        { id: delivery.id, ttlMs: 1000 });
      console.log(ok.routed);
    } catch (e) {
      if (e instanceof RejectedError) console.log(e.code, e.errors.map((x) => x.path));
      else if (e instanceof TimeoutError) console.log(e.code === "local_timeout");
      else if (e instanceof KeyFileError) console.log(e.code === "key_file");
    }
    await d.ack();
    await d.nack({ requeue: false, reason: "x" });
    // @ts-expect-error: nack takes an options object
    await d.nack(false);
  }
  const g = tensor(new Float32Array(8), [2, 4]);
  await bus.publish("train.gradient", { step: 1, gradient: g, raw: new BigInt64Array(2) });
  for await (const r of bus.requestStream("llm.prompt", { prompt: "hi" }, { timeoutMs: 500 })) {
    const piece: Reply = r;
    console.log(piece.partial, piece.tensor("logits").data.length);
  }
  const final = await bus.request("llm.prompt", { prompt: "x" }, { onPartial: async (r) => { console.log(r.payload); } });
  console.log(final.sender);
  const next: Delivery | null = await bus.receive(100);
  console.log(next?.msg);
  // @ts-expect-error: the payload must be JSON-like
  await bus.publish("t", { f: () => 1 });
  await bus.close({ bye: true });
}
