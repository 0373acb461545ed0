// Types of @agentbus/client (index.js).
//
// Copyright (c) the agentbus authors.
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.

/// <reference types="node" />

import type { Dealer } from "zeromq";

export declare const SIGNATURE: "ABP/1";
export declare const REQUEST_GRACE_MS: number;

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A header as the broker sends it. */
export type Header = { [key: string]: any };

/** One entry of a REJECT invalid's `errors`. */
export interface SchemaError {
  path: string;
  keyword: string;
  schema_path: string;
  message: string;
}

/** The ABP/1 dtypes. */
export type Dtype =
  | "bool" | "int8" | "uint8" | "int16" | "uint16" | "int32" | "uint32"
  | "int64" | "uint64" | "float16" | "bfloat16" | "float32" | "float64";

/** The typed arrays a tensor can be made of. */
export type TypedArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array
  | Float32Array | Float64Array;

/** A tensor reference in a payload. */
export interface TensorRef {
  dtype: Dtype;
  shape: number[];
  frame: number;
}

/** A frame that can be sent as an attachment. */
export type Attachment = ArrayBufferView | ArrayBuffer | string;

/** Base class of every error this package throws. */
export declare class AgentbusError extends Error {
  constructor(message: string, code?: string | null, header?: Header);
  /** Which error: a broker code (REJECT, ERROR) or "local_timeout",
   *  "closed", "session_lost", "bad_frames". */
  readonly code: string | null | undefined;
  readonly header: Header;
}
/** The broker answered REJECT. */
export declare class RejectedError extends AgentbusError {
  constructor(header: Header);
  readonly code: string;
  readonly errors: SchemaError[];
}
/** The broker answered ERROR, or sent frames that break ABP/1. */
export declare class ProtocolError extends AgentbusError {}
/** No answer within the local deadline. */
export declare class TimeoutError extends AgentbusError {
  constructor(message: string);
  readonly code: "local_timeout";
}
/** The agent was closed. */
export declare class ClosedError extends AgentbusError {
  constructor(message: string);
  readonly code: "closed";
}
/** The broker forgot this instance during a streamed reply. */
export declare class SessionLostError extends AgentbusError {
  constructor(message: string);
  readonly code: "session_lost";
}

/** A CURVE key file that cannot be read. */
export declare class KeyFileError extends AgentbusError {
  constructor(message: string);
  readonly code: "key_file";
}

/** CURVE keys, Z85 (40 characters each). */
export interface CurveKeys {
  publicKey: string;
  secretKey: string;
  /** the broker's public key */
  serverKey: string;
}
/** Reads czmq certificate files: the agent's NAME.key_secret and the
 *  broker's NAME.key. */
export declare function loadCurveKeys(key: string, serverKey: string): CurveKeys;

/** A tensor: a typed array with a shape and an ABP/1 dtype. */
export declare class Tensor<T extends TypedArray = TypedArray> {
  constructor(data: T, shape?: number[], dtype?: Dtype);
  readonly data: T;
  readonly shape: number[];
  readonly dtype: Dtype;
}
export declare function tensor<T extends TypedArray>(data: T, shape?: number[], dtype?: Dtype): Tensor<T>;

/** A payload to send: JSON, where typed arrays and Tensors may stand for
 *  values (each becomes a tensor reference and an attachment). */
export type Payload =
  | Json | TypedArray | Tensor
  | Payload[] | { [key: string]: Payload | undefined };

export declare function encodePayload(payload: Payload, attachments?: Attachment[]): [string, Attachment[]];
export declare function tensorFrom(attachments: Buffer[], ref: TensorRef): Tensor;
export declare function buildFrames(command: string, header: Header | string | Buffer,
  payload?: Payload | string | Buffer, attachments?: Attachment[]): Attachment[];

/** A parsed message. */
export interface Message {
  command: string;
  header: Header;
  payload: any;
  attachments: Buffer[];
  frames: Buffer[];
}
export declare function parseFrames(frames: Buffer[]): Message;

declare class Received<P> {
  readonly header: Header;
  readonly payload: P;
  /** The received frames after the payload (zero-copy Buffers). */
  readonly attachments: Buffer[];
  readonly frames: Buffer[];
  /** The tensor named by a reference, or by the key of one at the
   *  payload's top level: a typed array over the received frame. */
  tensor(ref: string | TensorRef): Tensor;
}

/** One DELIVER. */
export declare class Delivery<P = any> extends Received<P> {
  readonly agent: Agent;
  readonly msg: string;
  readonly type: string;
  readonly version: number;
  readonly sender: string;
  readonly id?: string;
  readonly attempt: number;
  readonly seq?: number;
  readonly traceparent?: string;
  readonly request: boolean;
  readonly reason?: string;
  readonly original?: Header;
  ack(): Promise<void>;
  nack(options?: { requeue?: boolean; reason?: string }): Promise<void>;
  reply(payload: Payload, options?: { partial?: boolean; attachments?: Attachment[]; timeoutMs?: number }): Promise<Header>;
}

/** One REPLY. */
export declare class Reply<P = any> extends Received<P> {
  readonly id: string;
  readonly type: string;
  readonly version: number;
  readonly sender: string;
  readonly partial: boolean;
}

export interface AgentOptions {
  /** in-flight window (default 16) */
  credit?: number;
  /** free text for the broker's logs */
  instance?: string;
  /** send PING when idle (default true) */
  heartbeat?: boolean;
  /** default deadline of every wait (default 5000) */
  timeoutMs?: number;
  /** local deadline of a request without timeoutMs (default 120000) */
  requestTimeoutMs?: number;
  /** CURVE: this agent's secret certificate file (NAME.key_secret) */
  key?: string;
  /** CURVE: the broker's public certificate file (NAME.key) */
  serverKey?: string;
  /** CURVE: the keys themselves, instead of key and serverKey */
  curve?: CurveKeys;
}

export interface PublishOptions {
  version?: number;
  id?: string;
  seq?: number;
  ttlMs?: number;
  traceparent?: string;
  attachments?: Attachment[];
  timeoutMs?: number;
}

export interface RequestOptions extends Omit<PublishOptions, "seq"> {
  onPartial?: (reply: Reply) => void | Promise<void>;
}

/** One agent instance: a Dealer connected to the broker. */
export declare class Agent implements AsyncIterable<Delivery> {
  constructor(endpoint: string, agent: string, options?: AgentOptions);
  static connect(endpoint: string, agent: string, options?: AgentOptions): Promise<Agent>;
  readonly endpoint: string;
  readonly agent: string;
  readonly instance: string;
  readonly welcome: Header | null;
  readonly heartbeatMs: number | null;
  readonly topology: string | null;
  readonly helloCount: number;
  /** ERRORs that answered no waiting call. */
  readonly errors: Header[];
  readonly repliesDropped: number;
  readonly closed: boolean;
  readonly curve: CurveKeys | null;
  readonly socket: Dealer | null;
  timeoutMs: number;
  requestTimeoutMs: number;
  start(): Promise<Header>;
  close(options?: { bye?: boolean }): Promise<void>;
  hello(timeoutMs?: number): Promise<Header>;
  ping(timeoutMs?: number): Promise<Header>;
  credit(n: number): Promise<void>;
  bye(): Promise<void>;
  publish(type: string, payload: Payload, options?: PublishOptions): Promise<Header>;
  requestStream(type: string, payload: Payload, options?: Omit<RequestOptions, "onPartial">): AsyncGenerator<Reply, void, undefined>;
  request(type: string, payload: Payload, options?: RequestOptions): Promise<Reply>;
  receive(timeoutMs?: number): Promise<Delivery | null>;
  [Symbol.asyncIterator](): AsyncIterator<Delivery>;
}
