// @agentbus/client - agents for the agentbus broker (ABP/1) on zeromq 6
//
// Copyright (c) the agentbus authors.
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.
//
// One Agent is one instance: one Dealer connected to the broker's Router.
// A reader loop hands every message to whoever waits for it (deliveries to
// the async iterator, OK/REJECT to the publish that caused it, REPLYs to
// their request's stream); a heartbeat timer sends PING whenever half of
// heartbeat_ms passed without the agent sending anything.  Answers are
// matched as the Python asyncio agent does (docs/agents-js.md): the broker
// answers one instance's commands in order and each kind of answer names
// its command.  After ERROR not_registered the agent says HELLO again and
// sends once more every command still waiting, and every request without
// a reply yet.  Every wait has a deadline.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { endianness } from "node:os";
import { Dealer } from "zeromq";

export const SIGNATURE = "ABP/1";

/** Commands whose frame 3 is a JSON payload. */
const PAYLOAD_COMMANDS = new Set(["PUB", "REQ", "REP", "DELIVER", "REPLY"]);

/** Commands answered only when they fail. */
const MAYBE = new Set(["ACK", "NACK", "CREDIT", "REQ", "BYE"]);

/** The commands an ERROR code can answer (absent: any). */
const ERROR_SOURCES = {
  unknown_message: new Set(["ACK", "NACK", "REP"]),
  unknown_agent: new Set(["HELLO"]),
  unauthorized: new Set(["HELLO"]),
};

/** How much longer than timeoutMs a request waits for the broker's own
 *  REJECT timeout. */
export const REQUEST_GRACE_MS = 5000;

/** Typed-array constructor name -> ABP/1 dtype. */
const DTYPE_OF = {
  Int8Array: "int8", Uint8Array: "uint8", Uint8ClampedArray: "uint8",
  Int16Array: "int16", Uint16Array: "uint16", Int32Array: "int32",
  Uint32Array: "uint32", BigInt64Array: "int64", BigUint64Array: "uint64",
  Float32Array: "float32", Float64Array: "float64",
};

/** ABP/1 dtype -> [typed-array constructor, itemsize].  float16 and
 *  bfloat16 come as Uint16Array (their raw bits), bool as Uint8Array. */
const ARRAY_OF = {
  bool: [Uint8Array, 1], int8: [Int8Array, 1], uint8: [Uint8Array, 1],
  int16: [Int16Array, 2], uint16: [Uint16Array, 2],
  int32: [Int32Array, 4], uint32: [Uint32Array, 4],
  int64: [BigInt64Array, 8], uint64: [BigUint64Array, 8],
  float16: [Uint16Array, 2], bfloat16: [Uint16Array, 2],
  float32: [Float32Array, 4], float64: [Float64Array, 8],
};

if (endianness() !== "LE") {
  throw new Error("@agentbus/client: tensors are little-endian; this host is not");
}

// -- errors ---------------------------------------------------------------

/** Base class of every error this package throws; `code` says which. */
export class AgentbusError extends Error {
  constructor(message, code, header) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.header = header ?? {};
  }
}

/** The broker answered REJECT: `code`, `errors` (for invalid). */
export class RejectedError extends AgentbusError {
  constructor(header) {
    super(`${header.code}: ${header.message ?? ""}`, header.code, header);
    this.errors = header.errors ?? [];
  }
}

/** The broker answered ERROR (`code`), or sent frames that break ABP/1
 *  (`code` "bad_frames"). */
export class ProtocolError extends AgentbusError {}

/** No answer came within the local deadline (code "local_timeout"). */
export class TimeoutError extends AgentbusError {
  constructor(message) { super(message, "local_timeout"); }
}

/** The agent was closed (code "closed"). */
export class ClosedError extends AgentbusError {
  constructor(message) { super(message, "closed"); }
}

/** The broker forgot this instance during a streamed reply (code
 *  "session_lost"). */
export class SessionLostError extends AgentbusError {
  constructor(message) { super(message, "session_lost"); }
}

/** A CURVE key file is missing or is not a czmq certificate (code
 *  "key_file"). */
export class KeyFileError extends AgentbusError {
  constructor(message) { super(message, "key_file"); }
}

// -- CURVE keys -----------------------------------------------------------

function zcertField(path, text, name) {
  const m = text.match(new RegExp(`^\\s+${name}\\s*=\\s*"([^"]*)"`, "m"));
  if (!m) return null;
  if (m[1].length !== 40) throw new KeyFileError(`${path}: ${name} is not 40 Z85 characters`);
  return m[1];
}

/** Reads the agent's secret certificate `key` (NAME.key_secret) and the
 *  broker's public certificate `serverKey` (NAME.key), czmq (zcert)
 *  files; returns {publicKey, secretKey, serverKey} (Z85).  Throws
 *  KeyFileError. */
export function loadCurveKeys(key, serverKey) {
  const read = (path) => {
    try {
      return readFileSync(path, "utf8");
    } catch (e) {
      throw new KeyFileError(`${path}: ${e.message}`);
    }
  };
  const mine = read(key);
  const publicKey = zcertField(key, mine, "public-key");
  const secretKey = zcertField(key, mine, "secret-key");
  if (!publicKey || !secretKey) {
    throw new KeyFileError(`${key}: no public-key and secret-key (give the .key_secret file)`);
  }
  const server = zcertField(serverKey, read(serverKey), "public-key");
  if (!server) throw new KeyFileError(`${serverKey}: no public-key`);
  return { publicKey, secretKey, serverKey: server };
}

// -- tensors --------------------------------------------------------------

/** A tensor to send (or one received): `data` a typed array, `shape`,
 *  `dtype`. */
export class Tensor {
  constructor(data, shape, dtype) {
    this.data = data;
    this.dtype = dtype ?? DTYPE_OF[data.constructor.name];
    if (this.dtype === undefined) {
      throw new TypeError(`${data.constructor.name} is not an ABP/1 dtype`);
    }
    this.shape = shape ?? [data.length];
    const n = this.shape.reduce((a, b) => a * b, 1);
    const itemsize = ARRAY_OF[this.dtype][1];
    if (n * itemsize !== data.byteLength) {
      throw new RangeError(`shape [${this.shape}] of ${this.dtype} is ` +
        `${n * itemsize} bytes, the data ${data.byteLength}`);
    }
  }
}

/** `new Tensor(data, shape, dtype)`. */
export function tensor(data, shape, dtype) {
  return new Tensor(data, shape, dtype);
}

/** Returns [JSON text, attachments]: every typed array or Tensor in
 *  `payload` becomes a reference {dtype, shape, frame} and its data an
 *  attachment after `attachments` (the typed array itself: no copy). */
export function encodePayload(payload, attachments = []) {
  const frames = [...attachments];
  const walk = (value) => {
    if (value instanceof Tensor || (ArrayBuffer.isView(value) &&
        !(value instanceof DataView) && !Buffer.isBuffer(value))) {
      const t = value instanceof Tensor ? value : new Tensor(value);
      frames.push(t.data);
      return { dtype: t.dtype, shape: t.shape, frame: frames.length - 1 };
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value !== null && typeof value === "object" && !Buffer.isBuffer(value)) {
      const out = {};
      for (const [k, v] of Object.entries(value)) out[k] = walk(v);
      return out;
    }
    return value;
  };
  return [JSON.stringify(walk(payload)), frames];
}

/** Views the attachment named by `ref` as a Tensor whose data is a typed
 *  array over the received frame's memory (no copy when the frame's
 *  offset is aligned for the dtype, which zeromq's own buffers are). */
export function tensorFrom(attachments, ref) {
  const entry = ARRAY_OF[ref.dtype];
  if (entry === undefined) throw new TypeError(`unknown dtype ${ref.dtype}`);
  const [Ctor, itemsize] = entry;
  const buf = attachments[ref.frame];
  if (buf === undefined) throw new RangeError(`no attachment ${ref.frame}`);
  let data;
  if (buf.byteOffset % itemsize === 0) {
    data = new Ctor(buf.buffer, buf.byteOffset, buf.byteLength / itemsize);
  } else {  // a pooled small buffer: copy to align it
    data = new Ctor(new Uint8Array(buf).buffer, 0, buf.byteLength / itemsize);
  }
  return new Tensor(data, ref.shape, ref.dtype);
}

// -- frames ---------------------------------------------------------------

/** The frames of one ABP/1 message (payload undefined: no frame 3). */
export function buildFrames(command, header, payload, attachments = []) {
  const frames = [SIGNATURE, command,
    typeof header === "string" || ArrayBuffer.isView(header)
      ? header : JSON.stringify(header)];
  let extra = [...attachments];
  if (payload !== undefined) {
    if (typeof payload === "string" || Buffer.isBuffer(payload)) {
      frames.push(payload);
    } else {
      const [doc, att] = encodePayload(payload, extra);
      frames.push(doc);
      extra = att;
    }
  }
  return frames.concat(extra);
}

/** Parses received frames into {command, header, payload, attachments}. */
export function parseFrames(frames) {
  const bad = (m) => new ProtocolError(m, "bad_frames");
  if (frames.length < 3) throw bad(`message of ${frames.length} frames`);
  if (frames[0].toString("latin1") !== SIGNATURE) throw bad("bad signature");
  const command = frames[1].toString("latin1");
  let header;
  try {
    header = JSON.parse(frames[2].toString("utf8"));
  } catch (e) {
    throw bad(`header is not JSON: ${e.message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw bad("header is not a JSON object");
  }
  let payload;
  let first = 3;
  if (PAYLOAD_COMMANDS.has(command)) {
    if (frames.length < 4) throw bad(`${command} without payload`);
    try {
      payload = JSON.parse(frames[3].toString("utf8"));
    } catch (e) {
      throw bad(`payload is not JSON: ${e.message}`);
    }
    first = 4;
  } else if (frames.length > 3) {
    throw bad(`${command} with extra frames`);
  }
  return { command, header, payload, attachments: frames.slice(first), frames };
}

function pubHeader(type, opts) {
  const h = { type };
  for (const [key, name] of [["version", "version"], ["id", "id"],
    ["seq", "seq"], ["ttl_ms", "ttlMs"], ["traceparent", "traceparent"]]) {
    if (opts[name] !== undefined && opts[name] !== null) h[key] = opts[name];
  }
  return h;
}

// -- a queue with deadlines -------------------------------------------------

class Queue {
  constructor() { this.items = []; this.waiters = []; this.closedWith = null; }

  put(item) {
    const w = this.waiters.shift();
    if (w) w.resolve(item); else this.items.push(item);
  }

  close(error) {
    this.closedWith = error;
    for (const w of this.waiters.splice(0)) w.reject(error);
  }

  /** The next item; `null` after `ms` (undefined: forever). */
  get(ms) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      if (ms !== undefined) {
        const timer = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          resolve(null);
        }, ms);
        w.resolve = (v) => { clearTimeout(timer); resolve(v); };
        w.reject = (e) => { clearTimeout(timer); reject(e); };
      }
      this.waiters.push(w);
    });
  }
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject, done: false };
}

// -- received messages ----------------------------------------------------

class Received {
  /** The tensor named by `ref` (a reference from the payload, or the key
   *  of one at the payload's top level). */
  tensor(ref) {
    return tensorFrom(this.attachments, typeof ref === "string" ? this.payload[ref] : ref);
  }
}

/** One DELIVER.  Finish it with exactly one of ack(), nack() or, for a
 *  request, reply(payload) (final). */
export class Delivery extends Received {
  constructor(agent, m) {
    super();
    const h = m.header;
    this.agent = agent;
    this.header = h;
    this.msg = h.msg;
    this.type = h.type;
    this.version = h.version;
    this.sender = h.from;
    this.id = h.id;
    this.attempt = h.attempt;
    this.seq = h.seq;
    this.traceparent = h.traceparent;
    this.request = Boolean(h.request);
    this.reason = h.reason;
    this.original = h.original;
    this.payload = m.payload;
    this.attachments = m.attachments;
    this.frames = m.frames;
  }

  /** ACK; no answer is awaited (a failure lands in agent.errors). */
  async ack() {
    await this.agent._send("ACK", { msg: this.msg }, { msg: this.msg });
  }

  /** NACK: redelivered later when requeue, dead-lettered otherwise. */
  async nack({ requeue = true, reason } = {}) {
    const h = { msg: this.msg, requeue };
    if (reason !== undefined) h.reason = reason;
    await this.agent._send("NACK", h, { msg: this.msg });
  }

  /** REP; resolves with the broker's OK header.  Throws RejectedError
   *  when the reply fails validation (the request stays open). */
  async reply(payload, { partial = false, attachments = [], timeoutMs } = {}) {
    const h = { msg: this.msg };
    if (partial) h.partial = true;
    return this.agent._call("REP", h, payload, attachments, timeoutMs, this.msg);
  }
}

/** One REPLY to a request. */
export class Reply extends Received {
  constructor(m) {
    super();
    const h = m.header;
    this.header = h;
    this.id = h.id;
    this.type = h.type;
    this.version = h.version;
    this.sender = h.from;
    this.partial = Boolean(h.partial);
    this.payload = m.payload;
    this.attachments = m.attachments;
    this.frames = m.frames;
  }
}

// -- the agent ------------------------------------------------------------

let instances = 0;

/** One agent instance.  `await Agent.connect(endpoint, name, options)`, or
 *  `new Agent(...)` then `await agent.start()`. */
export class Agent {
  constructor(endpoint, agent, options = {}) {
    this.endpoint = endpoint;
    this.agent = agent;
    this.creditWindow = options.credit ?? 16;
    this.instance = options.instance ??
      `js-${process.pid}-${++instances}-${randomUUID().slice(0, 8)}`;
    this.heartbeat = options.heartbeat ?? true;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 120000;
    this.curve = options.curve ?? null;
    if (!this.curve && (options.key !== undefined || options.serverKey !== undefined)) {
      if (options.key === undefined || options.serverKey === undefined) {
        throw new TypeError("CURVE needs both key and serverKey");
      }
      this.curve = loadCurveKeys(options.key, options.serverKey);
    }
    this.welcome = null;
    this.heartbeatMs = null;
    this.topology = null;
    this.helloCount = 0;
    this.errors = [];         // ERRORs that answered no waiting call
    this.repliesDropped = 0;  // REPLYs for no open request
    this.socket = null;
    this.closed = false;
    this._pending = [];       // commands sent, not known to be answered
    this._requests = new Map();
    this._deliveries = new Queue();
    this._seq = 0;
    this._ids = 0;
    this._sendChain = Promise.resolve();
    this._lastSend = 0;
    this._timer = null;
    this._reader = null;
    this._rehello = null;
  }

  static async connect(endpoint, agent, options) {
    const a = new Agent(endpoint, agent, options);
    await a.start();
    return a;
  }

  /** Connects, starts the reader and the heartbeat, says HELLO; resolves
   *  with WELCOME's header.  On failure the agent is closed. */
  async start() {
    if (this.closed) throw new ClosedError(`agent ${this.agent} is closed`);
    if (this.socket === null) {
      const curve = this.curve ? { curveServerKey: this.curve.serverKey,
        curvePublicKey: this.curve.publicKey, curveSecretKey: this.curve.secretKey } : {};
      this.socket = new Dealer({
        ...curve, linger: 0, reconnectInterval: 100, reconnectMaxInterval: 2000,
        heartbeatInterval: 1000, heartbeatTimeout: 3000,
      });
      this.socket.connect(this.endpoint);
      this._lastSend = Date.now();
      this._reader = this._read();
      this._scheduleHeartbeat();
    }
    try {
      return await this.hello();
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Stops the reader and the heartbeat and closes the socket (after BYE
   *  when asked).  Every wait ends with ClosedError; the async iteration
   *  over deliveries ends. */
  async close({ bye = false } = {}) {
    if (this.closed) return;
    if (bye && this.socket) {
      try { await this._send("BYE", {}); } catch { /* closing anyway */ }
    }
    this.closed = true;
    clearTimeout(this._timer);
    const error = new ClosedError(`agent ${this.agent} is closed`);
    for (const e of this._pending) if (e.future && !e.future.done) this._settle(e, error);
    this._pending = [];
    for (const r of this._requests.values()) r.queue.put(error);
    this._deliveries.close(error);
    if (this.socket) {
      this.socket.close();
      await this._reader;
    }
  }

  _check() {
    if (this.closed || !this.socket) {
      throw new ClosedError(`agent ${this.agent} is ${this.closed ? "closed" : "not started"}`);
    }
  }

  // -- sending -------------------------------------------------------------

  /** Sends one command (sends are serialised: zeromq takes one at a time)
   *  and records it as pending, in order. */
  _send(command, header, { payload, attachments = [], future = null, msg = null, frames } = {}) {
    this._check();
    const entry = { kind: command, frames: frames ?? buildFrames(command, header, payload, attachments),
      future, msg, seq: 0 };
    const run = async () => {
      this._check();
      entry.seq = ++this._seq;
      this._pending.push(entry);
      try {
        await this.socket.send(entry.frames);
      } catch (e) {
        this._pending.splice(this._pending.indexOf(entry), 1);
        throw this.closed ? new ClosedError(`agent ${this.agent} is closed`) : e;
      }
      this._lastSend = Date.now();
      return entry;
    };
    const result = this._sendChain.then(run, run);
    this._sendChain = result.catch(() => {});
    return result;
  }

  async _call(command, header, payload, attachments, timeoutMs, msg = null) {
    const future = deferred();
    await this._send(command, header, { payload, attachments, future, msg });
    const ms = timeoutMs ?? this.timeoutMs;
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        future.done = true;  // a late answer is dropped
        reject(new TimeoutError(`no answer to ${command} within ${ms} ms`));
      }, ms);
    });
    try {
      return await Promise.race([future.promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  _settle(entry, result) {
    if (!entry.future || entry.future.done) return;
    entry.future.done = true;
    if (result instanceof Error) entry.future.reject(result);
    else entry.future.resolve(result);
  }

  // -- session -------------------------------------------------------------

  /** HELLO; resolves with WELCOME's header. */
  hello(timeoutMs) {
    return this._call("HELLO", { agent: this.agent, credit: this.creditWindow,
      instance: this.instance }, undefined, [], timeoutMs);
  }

  /** PING; resolves with PONG's header. */
  ping(timeoutMs) {
    return this._call("PING", {}, undefined, [], timeoutMs);
  }

  /** CREDIT: this instance's window of unacknowledged copies. */
  async credit(n) {
    this.creditWindow = n;
    await this._send("CREDIT", { credit: n });
  }

  /** BYE: the broker forgets this instance. */
  async bye() {
    await this._send("BYE", {});
  }

  _scheduleHeartbeat() {
    if (this.closed) return;
    const hb = this.heartbeat && this.heartbeatMs ? this.heartbeatMs / 2 : 100;
    const wait = Math.max(0, this._lastSend + hb - Date.now());
    this._timer = setTimeout(() => {
      if (this.closed) return;
      if (this.heartbeat && this.heartbeatMs && Date.now() >= this._lastSend + hb) {
        this._send("PING", {}).catch(() => {});
      }
      this._scheduleHeartbeat();
    }, this.heartbeat && this.heartbeatMs ? wait : 100);
  }

  // -- messages ------------------------------------------------------------

  /** PUB; resolves with OK's header ({routed, id}).  Typed arrays and
   *  Tensors in the payload go as attachments, without copies. */
  publish(type, payload, opts = {}) {
    return this._call("PUB", pubHeader(type, opts), payload, opts.attachments ?? [], opts.timeoutMs);
  }

  /** REQ; yields every Reply, the partial ones as they stream in, the
   *  final one last. */
  async *requestStream(type, payload, opts = {}) {
    const id = opts.id ?? `req-${++this._ids}-${randomUUID().slice(0, 8)}`;
    const h = pubHeader(type, { ...opts, id });
    if (opts.timeoutMs !== undefined) h.timeout_ms = opts.timeoutMs;
    const local = opts.timeoutMs === undefined ? this.requestTimeoutMs
      : opts.timeoutMs + REQUEST_GRACE_MS;
    const frames = buildFrames("REQ", h, payload, opts.attachments ?? []);
    const request = { frames, queue: new Queue(), replies: 0, seq: 0 };
    this._requests.set(id, request);
    try {
      const entry = await this._send("REQ", h, { frames });
      request.seq = entry.seq;
      for (;;) {
        const item = await request.queue.get(local);
        if (item === null) throw new TimeoutError(`no reply to request ${id} within ${local} ms`);
        if (item instanceof Error) throw item;
        if (item.command === "REJECT") throw new RejectedError(item.header);
        const reply = new Reply(item);
        yield reply;
        if (!reply.partial) return;
      }
    } finally {
      if (this._requests.get(id) === request) this._requests.delete(id);
    }
  }

  /** REQ; resolves with the final Reply, partial ones go to onPartial. */
  async request(type, payload, opts = {}) {
    for await (const reply of this.requestStream(type, payload, opts)) {
      if (!reply.partial) return reply;
      if (opts.onPartial) await opts.onPartial(reply);
    }
    throw new ProtocolError("request ended without a final reply", "bad_frames");
  }

  /** The next Delivery, or null after timeoutMs. */
  async receive(timeoutMs) {
    this._check();
    return this._deliveries.get(timeoutMs ?? this.timeoutMs);
  }

  /** Deliveries until the agent is closed. */
  async *[Symbol.asyncIterator]() {
    for (;;) {
      let d;
      try {
        d = await this._deliveries.get();
      } catch (e) {
        if (e instanceof ClosedError) return;
        throw e;
      }
      yield d;
    }
  }

  // -- the reader ----------------------------------------------------------

  async _read() {
    try {
      for await (const frames of this.socket) {
        let m;
        try {
          m = parseFrames(frames);
        } catch (e) {
          this.errors.push({ code: null, message: e.message });
          continue;
        }
        this._onMessage(m);
      }
    } catch (e) {
      if (!this.closed) this.errors.push({ code: null, message: `reader: ${e.message}` });
    }
  }

  _oldest(kinds, msg = null) {
    return this._pending.find((e) => (!kinds || kinds.has(e.kind)) &&
      (msg === null || e.msg === msg));
  }

  _resolve(entry, result) {
    this._pending = this._pending.filter((e) => e !== entry &&
      !(MAYBE.has(e.kind) && e.seq < entry.seq));
    this._settle(entry, result);
  }

  _onMessage(m) {
    const h = m.header;
    switch (m.command) {
      case "DELIVER":
        this._deliveries.put(new Delivery(this, m));
        break;
      case "REPLY": {
        const r = this._requests.get(h.id);
        if (!r) { this.repliesDropped++; break; }
        r.replies++;
        r.queue.put(m);
        break;
      }
      case "WELCOME": {
        this.welcome = h;
        this.heartbeatMs = h.heartbeat_ms ?? null;
        this.topology = h.topology ?? null;
        this.helloCount++;
        const e = this._oldest(new Set(["HELLO"]));
        if (e) this._resolve(e, h);
        break;
      }
      case "PONG": {
        const e = this._oldest(new Set(["PING"]));
        if (e) this._resolve(e, h);
        break;
      }
      case "OK":
      case "REJECT":
        this._onAnswer(m);
        break;
      case "ERROR":
        this._onError(h);
        break;
      default:
        this.errors.push({ code: null, message: `unexpected ${m.command}`, header: h });
    }
  }

  _onAnswer(m) {
    const h = m.header;
    let entry;
    if ("msg" in h) {
      entry = this._oldest(new Set(["REP"]), String(h.msg));
    } else {
      const r = m.command === "REJECT" ? this._requests.get(h.id) : undefined;
      if (r) {
        const e = this._oldest(new Set(["REQ"]));
        if (e) this._resolve(e, null);
        r.queue.put(m);
        return;
      }
      entry = this._oldest(new Set(["PUB"]));
    }
    if (!entry) {
      this.errors.push({ code: null, message: `${m.command} for no command`, header: h });
      return;
    }
    this._resolve(entry, m.command === "REJECT" ? new RejectedError(h) : h);
  }

  _onError(h) {
    if (h.code === "not_registered") {
      this._sessionLost();
      return;
    }
    const entry = this._oldest(ERROR_SOURCES[h.code] ?? null);
    if (!entry || !entry.future || entry.future.done) {
      this.errors.push(h);
      if (entry) this._pending.splice(this._pending.indexOf(entry), 1);
      return;
    }
    this._resolve(entry, new ProtocolError(`${h.code}: ${h.message ?? ""}`, h.code, h));
  }

  // -- re-HELLO ------------------------------------------------------------

  _sessionLost() {
    if (this.closed || this._rehello) return;
    if (this._pending.some((e) => e.kind === "HELLO")) return;
    const staleUpto = this._seq;
    this._rehello = this._helloAgain(staleUpto).finally(() => { this._rehello = null; });
  }

  async _helloAgain(staleUpto) {
    try {
      await this.hello();
    } catch {
      return;  // the next not_registered tries again
    }
    const stale = this._pending.filter((e) => e.seq <= staleUpto);
    this._pending = this._pending.filter((e) => e.seq > staleUpto);
    try {
      for (const e of stale) {
        if (["PUB", "REP", "PING"].includes(e.kind) && e.future && !e.future.done) {
          await this._send(e.kind, {}, { future: e.future, msg: e.msg, frames: e.frames });
        }
      }
      for (const r of this._requests.values()) {
        if (r.seq === 0 || r.seq > staleUpto) continue;
        if (r.replies) {
          r.queue.put(new SessionLostError("the broker forgot this instance during a streamed reply"));
          continue;
        }
        const e = await this._send("REQ", {}, { frames: r.frames });
        r.seq = e.seq;
      }
    } catch {
      /* closed meanwhile */
    }
  }
}
