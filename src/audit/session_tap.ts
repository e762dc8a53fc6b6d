/**
 * The audit tap of one session: joins each CALL with its REPLY by (program, serial) into one
 * `call` record, and writes an `event` record per event delivered, a `stream` record per stream
 * when it ends, `connect` and `disconnect` records, and calls left unanswered at the end. The
 * level of each comes from the policy ({@linkcode AuditPolicy}); bodies are decoded only as far as
 * the level needs (a `metadata` call decodes its args for the object acted on, and its reply only
 * when the reply names the object or is an error).
 *
 * A reply the proxy made itself (a policy refusal, a local answer) reaches the tap in the same
 * synchronous step as its call: such records say `by: "virtmux"`. A call at level `none` that the
 * proxy refuses is still recorded, at `metadata`.
 *
 * @module
 */

import type { ClientIdentity, ObservedUpstream, SessionObserver } from "../proxy/observer.ts";
import { HEADER_BYTES, MessageStatus, MessageType, Program } from "../wire/constants.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  frameStatus,
  frameType,
} from "../wire/header.ts";
import { type DecodeError, decodeFrame } from "./decoder.ts";
import { type ActedOn, objectOf } from "./decoder_object.ts";
import { StreamSummary } from "./decoder_stream.ts";
import { eventObject } from "./handles.ts";
import { callKey, factsOf, type ProcedureFacts } from "./procedure_facts.ts";
import { type IdentityRecord, identityRecord } from "./identity.ts";
import { AUDIT_LEVEL_NAMES, AuditLevel, type AuditLevelValue } from "./policy.ts";
import type { AuditPolicy } from "./policy.ts";
import type { Redactor } from "./redact.ts";

/** What a a session tap uses of its tap. */
export interface TapContext {
  /** The policy. */
  readonly policy: AuditPolicy;
  /** The redactor. */
  readonly redactor: Redactor;
  /** The record size cap. */
  readonly maxBytes: number;
  /** Writes a record; a promise to wait for under `block`. */
  emit(record: Record<string, unknown>): Promise<void> | undefined;
  /** Applies the size cap to a record. */
  cap(record: Record<string, unknown>): void;
}

/** A call seen from the client, waiting for its reply. */
interface PendingCall {
  program: number;
  procedure: number;
  serial: number;
  level: AuditLevelValue;
  /** performance.now() when the call arrived. */
  at: number;
  bytes: number;
  args: unknown;
  decodeError: DecodeError | undefined;
}

/** A stream opened by an audited call. */
interface OpenStream {
  call: PendingCall;
  summary: StreamSummary;
  object: ActedOn | undefined;
}

/** Frames smaller than this many bytes (both together) never need the size check. */
function mayExceed(bytes: number, maxRecordBytes: number): boolean {
  return bytes * 8 + 2048 > maxRecordBytes;
}

function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** What a {@linkcode SessionTap} watches. */
export interface SessionTapOptions {
  /** Who the client is. */
  identity: ClientIdentity;
  /** Where its calls go. */
  upstream: ObservedUpstream;
}

/** Watches one session for the audit log; made by `AuditTap.observe` (src/audit/tap.ts). */
export class SessionTap implements SessionObserver {
  readonly #tap: TapContext;
  readonly #listener: string;
  readonly #shared: boolean;
  /** The fields every record of the session starts with. */
  readonly #base: {
    listener: string;
    client: number | string;
    identity: IdentityRecord;
    upstream: string;
    uri: string;
  };
  readonly #pending = new Map<number, PendingCall>();
  readonly #streams = new Map<number, OpenStream>();
  /** Keys of calls seen in the current synchronous step (see the module doc). */
  #justCalled: number[] = [];
  readonly #forget = () => {
    this.#justCalled = [];
  };
  readonly #started = performance.now();
  #calls = 0;
  #closed = false;

  /** Starts watching the session of `session.identity` to `session.upstream`. */
  constructor(tap: TapContext, session: SessionTapOptions) {
    const { identity, upstream } = session;
    this.#tap = tap;
    this.#listener = identity.listener;
    this.#shared = upstream.shared;
    this.#base = {
      listener: identity.listener,
      client: identity.client,
      identity: identityRecord(identity),
      upstream: upstream.name,
      uri: upstream.uri,
    };
  }

  /** The `connect` record. */
  connectRecord(): Record<string, unknown> {
    return { kind: "connect", ...this.#base, shared: this.#shared };
  }

  /** A frame from the client: calls wait for their reply, stream data is counted. */
  fromClient(frame: Uint8Array): Promise<void> | undefined {
    if (frame.length < HEADER_BYTES) return undefined;
    const program = frameProgram(frame);
    if (program === Program.KEEPALIVE) return undefined;
    const type = frameType(frame);
    if (type === MessageType.CALL || type === MessageType.CALL_WITH_FDS) {
      this.#call(frame, program);
      return undefined;
    }
    if (type === MessageType.STREAM || type === MessageType.STREAM_HOLE) {
      return this.#stream(frame, program, true);
    }
    return undefined;
  }

  /** A frame to the client: replies complete calls, events and stream ends are written. */
  toClient(frame: Uint8Array): Promise<void> | undefined {
    if (frame.length < HEADER_BYTES) return undefined;
    const program = frameProgram(frame);
    if (program === Program.KEEPALIVE) return undefined;
    switch (frameType(frame)) {
      case MessageType.REPLY:
      case MessageType.REPLY_WITH_FDS:
        return this.#reply(frame, program);
      case MessageType.MESSAGE:
        return this.#event(frame, program);
      case MessageType.STREAM:
      case MessageType.STREAM_HOLE:
        return this.#stream(frame, program, false);
    }
    return undefined;
  }

  /** The session ended: unanswered calls, unfinished streams, then the disconnect. */
  closed(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const now = performance.now();
    for (const call of this.#pending.values()) {
      if (call.level === AuditLevel.NONE) continue;
      const known = factsOf(call.program, call.procedure);
      const record = this.#callRecord(call, known, call.level, now, "unanswered");
      this.#withBodies(record, call, call.level, undefined, undefined);
      void this.#tap.emit(record);
    }
    this.#pending.clear();
    for (const stream of this.#streams.values()) void this.#emitStream(stream, "disconnect");
    this.#streams.clear();
    void this.#tap.emit({
      kind: "disconnect",
      ...this.#base,
      reason,
      duration_ms: roundMs(now - this.#started),
      calls: this.#calls,
    });
  }

  #call(frame: Uint8Array, program: number): void {
    const procedure = frameProcedure(frame);
    const serial = frameSerial(frame);
    const level = this.#tap.policy.level(this.#listener, program, procedure);
    const call: PendingCall = {
      program,
      procedure,
      serial,
      level,
      at: performance.now(),
      bytes: frame.length,
      args: undefined,
      decodeError: undefined,
    };
    // metadata needs the args only for the object they name
    if (
      level >= AuditLevel.REQUEST ||
      (level === AuditLevel.METADATA && factsOf(program, procedure).argsObject)
    ) {
      const decoded = decodeFrame(frame);
      call.args = decoded.args;
      call.decodeError = decoded.decode_error;
    }
    const key = callKey(program, serial);
    this.#pending.set(key, call);
    if (this.#justCalled.length === 0) queueMicrotask(this.#forget);
    this.#justCalled.push(key);
    this.#calls++;
  }

  #reply(frame: Uint8Array, program: number): Promise<void> | undefined {
    const key = callKey(program, frameSerial(frame));
    const call = this.#pending.get(key);
    if (call === undefined) return undefined;
    this.#pending.delete(key);
    const failed = frameStatus(frame) === MessageStatus.ERROR;
    const byVirtmux = this.#justCalled.includes(key);
    let level = call.level;
    if (level === AuditLevel.NONE) {
      if (!failed || !byVirtmux) return undefined;
      level = AuditLevel.METADATA; // a refusal is recorded whatever the policy says
    }
    const known = factsOf(call.program, call.procedure);
    const record = this.#callRecord(call, known, level, performance.now(), failed ? "error" : "ok");
    record.reply_bytes = frame.length;
    if (byVirtmux) record.by = "virtmux";
    let ret: unknown;
    let error: unknown;
    let replyError: DecodeError | undefined;
    if (
      failed || level === AuditLevel.REQUEST_RESPONSE ||
      (known.replyObject &&
        (call.args === undefined ||
          objectOf(call.program, call.procedure, call.args) === undefined))
    ) {
      const decoded = decodeFrame(frame);
      ret = decoded.ret;
      error = decoded.error;
      replyError = decoded.decode_error;
    }
    const object = this.#withBodies(record, call, level, ret, error);
    if (replyError !== undefined) record.reply_decode_error = replyError;
    if (!failed && known.stream) {
      this.#streams.set(key, { call, summary: new StreamSummary(), object });
    }
    if (level >= AuditLevel.REQUEST && mayExceed(call.bytes + frame.length, this.#tap.maxBytes)) {
      this.#tap.cap(record);
    }
    return this.#tap.emit(record);
  }

  /** The header part of a call record. */
  #callRecord(
    call: PendingCall,
    known: ProcedureFacts,
    level: AuditLevelValue,
    now: number,
    status: string,
  ): Record<string, unknown> {
    const base = this.#base;
    return {
      kind: "call",
      listener: base.listener,
      client: base.client,
      identity: base.identity,
      upstream: base.upstream,
      uri: base.uri,
      program: known.program,
      procedure: known.procedure,
      class: known.class,
      serial: call.serial,
      status,
      level: AUDIT_LEVEL_NAMES[level],
      latency_ms: roundMs(now - call.at),
      call_bytes: call.bytes,
    };
  }

  /** Adds the object and the bodies `level` allows to `record`; returns the object. */
  #withBodies(
    record: Record<string, unknown>,
    call: PendingCall,
    level: AuditLevelValue,
    ret: unknown,
    error: unknown,
  ): ActedOn | undefined {
    const name = typeof record.procedure === "string" ? record.procedure : "";
    const object = call.args === undefined && ret === undefined
      ? undefined
      : objectOf(call.program, call.procedure, call.args, ret);
    if (object !== undefined) record.object = object;
    const redactor = this.#tap.redactor;
    if (level >= AuditLevel.REQUEST && call.args !== undefined) {
      record.args = redactor.body(name, "args", call.args);
    }
    if (level >= AuditLevel.REQUEST_RESPONSE && ret !== undefined) {
      record.ret = redactor.body(name, "ret", ret);
    }
    if (error !== undefined) record.error = redactor.body(name, "error", error);
    if (call.decodeError !== undefined) record.decode_error = call.decodeError;
    return object;
  }

  #event(frame: Uint8Array, program: number): Promise<void> | undefined {
    const procedure = frameProcedure(frame);
    const level = this.#tap.policy.level(this.#listener, program, procedure);
    if (level === AuditLevel.NONE) return undefined;
    const decoded = decodeFrame(frame);
    const record: Record<string, unknown> = {
      kind: "event",
      ...this.#base,
      ...names(factsOf(program, procedure)),
      serial: frameSerial(frame),
      level: AUDIT_LEVEL_NAMES[level],
      bytes: frame.length,
    };
    const object = eventObject(program, procedure, decoded.msg);
    if (object !== undefined) record.object = object;
    if (level >= AuditLevel.REQUEST && decoded.msg !== undefined) {
      record.msg = this.#tap.redactor.body(String(record.procedure), "msg", decoded.msg);
      if (mayExceed(frame.length, this.#tap.maxBytes)) this.#tap.cap(record);
    }
    if (decoded.decode_error !== undefined) record.decode_error = decoded.decode_error;
    return this.#tap.emit(record);
  }

  #stream(frame: Uint8Array, program: number, fromClient: boolean): Promise<void> | undefined {
    const key = callKey(program, frameSerial(frame));
    const stream = this.#streams.get(key);
    if (stream === undefined) return undefined;
    stream.summary.add(frame, fromClient);
    if (!stream.summary.done) return undefined;
    this.#streams.delete(key);
    return this.#emitStream(stream, undefined);
  }

  #emitStream(stream: OpenStream, endedBy: string | undefined): Promise<void> | undefined {
    const { call, summary, object } = stream;
    const record: Record<string, unknown> = {
      kind: "stream",
      ...this.#base,
      ...names(factsOf(call.program, call.procedure)),
      serial: call.serial,
      status: summary.outcome,
      level: AUDIT_LEVEL_NAMES[call.level],
      duration_ms: roundMs(performance.now() - call.at),
    };
    if (object !== undefined) record.object = object;
    record.stream = summary.toJSON();
    if (endedBy !== undefined) record.ended_by = endedBy;
    return this.#tap.emit(record);
  }
}

/** `program`, `procedure` and `class` of a record, by name when known. */
function names(known: ProcedureFacts): Record<string, unknown> {
  const named: Record<string, unknown> = { program: known.program, procedure: known.procedure };
  if (known.class !== undefined) named.class = known.class;
  return named;
}
