/**
 * The audit decoder: one whole libvirt RPC frame in, one JSON-safe object out, driven by the
 * schema generated from libvirt's .x files (src/audit/schema.ts). Decode functions are compiled
 * per type on first use (src/audit/decoder_compile.ts) and kept for the process's life.
 *
 * What a frame becomes ({@linkcode DecodedMessage}): the header with program, procedure, type and
 * status by name (their numbers when unknown); then by type and status: CALL → `args`; REPLY OK →
 * `ret`; REPLY ERROR → `error` (remote_error); MESSAGE → `msg` (event bodies; keepalive has none);
 * STREAM CONTINUE → `data`, the byte count only (0 is the sender's end of stream), STREAM ERROR →
 * `error` (none when a client aborts); STREAM_HOLE → `hole`. Values follow src/audit/decoder_reader.ts:
 * hyper as a number when safe and a decimal string otherwise, opaque as `{ length, base64 }`,
 * UUIDs as text, enums by name.
 *
 * It never throws on input: a malformed frame yields `decode_error` (`offset`, `expected`, `path`)
 * beside everything decoded before the fault.
 *
 * @example Decode a keepalive PING
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeFrame } from "./decoder.ts";
 *
 * const frame = new Uint8Array(28);
 * new DataView(frame.buffer).setUint32(0, 28);
 * frame.set([0x6b, 0x65, 0x65, 0x70, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2], 4);
 * assert.deepEqual(decodeFrame(frame), {
 *   program: "KEEPALIVE", version: 1, procedure: "PING", type: "MESSAGE", serial: 0, status: "OK",
 *   bytes: 28,
 * });
 * ```
 *
 * @module
 */

import { HEADER_BYTES, MessageStatus, MessageType, NUM_FDS_MAX } from "../wire/constants.ts";
import { errorMessage } from "../log/error_message.ts";
import { type Decode, DecoderCompiler } from "./decoder_compile.ts";
import { type DecodeError, XdrReader } from "./decoder_reader.ts";
import { SCHEMA_PROGRAMS, SCHEMA_TYPES } from "./schema.ts";

export type { DecodeError } from "./decoder_reader.ts";

/** A decoded frame; see the module doc for which body field a frame gets. */
export interface DecodedMessage {
  /**
   * Program name (`REMOTE`, `QEMU`, `LXC`, `ADMIN`, `KEEPALIVE`), else its number. This and the
   * other header fields are null only when the frame is shorter than a header.
   */
  program: string | number | null;
  /** Program version. */
  version: number | null;
  /** Procedure name without `<PROG>_PROC_`, else its number. */
  procedure: string | number | null;
  /** `CALL`, `REPLY`, `MESSAGE`, `STREAM`, `CALL_WITH_FDS`, `REPLY_WITH_FDS`, `STREAM_HOLE`. */
  type: string | number | null;
  /** Serial number. */
  serial: number | null;
  /** `OK`, `ERROR`, `CONTINUE`, else the number. */
  status: string | number | null;
  /** Bytes of the frame, length word included. */
  bytes: number;
  /** File descriptors announced by a *_WITH_FDS message. */
  fds?: number;
  /** A call's arguments. */
  args?: unknown;
  /** A successful reply's return value. */
  ret?: unknown;
  /** An event's body. */
  msg?: unknown;
  /** An error reply's remote_error (also a stream's error). */
  error?: unknown;
  /** Payload bytes of a stream data message (never the data). */
  data?: number;
  /** A stream hole: `{ length, flags }`. */
  hole?: unknown;
  /** Present when the frame could not be decoded in full; the fields above hold what could. */
  decode_error?: DecodeError;
}

const TYPE_NAMES: Readonly<Record<number, string>> = invert(MessageType);
const STATUS_NAMES: Readonly<Record<number, string>> = invert(MessageStatus);

function invert(values: Readonly<Record<string, number>>): Record<number, string> {
  return Object.fromEntries(Object.entries(values).map(([name, value]) => [value, name]));
}

/** Decoders of one procedure, compiled on first use. */
interface ProcedureDecoders {
  name: string;
  args: Decode | null;
  ret: Decode | null;
  msg: Decode | null;
}

/** Decoders of one program. */
interface ProgramDecoders {
  name: string;
  error: Decode;
  procedures: Map<number, ProcedureDecoders | null>;
}

const compiler = new DecoderCompiler(SCHEMA_TYPES);
const programs = new Map<number, ProgramDecoders>();
const streamHole = compiler.named("virNetStreamHole");

function programDecoders(program: number): ProgramDecoders | undefined {
  let found = programs.get(program);
  if (found) return found;
  const schema = SCHEMA_PROGRAMS.get(program);
  if (!schema) return undefined;
  found = { name: schema.name, error: compiler.named(schema.error), procedures: new Map() };
  programs.set(program, found);
  return found;
}

function procedureDecoders(program: ProgramDecoders, number: number, programNumber: number) {
  let found = program.procedures.get(number);
  if (found !== undefined) return found;
  const schema = SCHEMA_PROGRAMS.get(programNumber)?.procedures[number];
  const named = (name: string | null) => name === null ? null : compiler.named(name);
  found = schema
    ? { name: schema[0], args: named(schema[1]), ret: named(schema[2]), msg: named(schema[3]) }
    : null;
  program.procedures.set(number, found);
  return found;
}

/**
 * Decodes one whole frame (length word, header, body). Never throws.
 *
 * @param frame The frame's bytes, from its length word to its last body byte.
 * @returns The header by name and the decoded body; `decode_error` when something did not fit.
 */
export function decodeFrame(frame: Uint8Array): DecodedMessage {
  const reader = new XdrReader(frame, 0, frame.length);
  const result: DecodedMessage = {
    program: null,
    version: null,
    procedure: null,
    type: null,
    serial: null,
    status: null,
    bytes: frame.length,
  };
  try {
    decodeInto(reader, result);
    const length = reader.end >= 4 ? reader.view.getUint32(0) : reader.end;
    if (length !== reader.end) reader.fail(`a length word of ${reader.end}, the frame's size`, 0);
  } catch (error) {
    reader.fail(`a decodable body (the decoder failed: ${errorMessage(error)})`);
  }
  if (reader.failed) result.decode_error = reader.error;
  return result;
}

function decodeInto(r: XdrReader, result: DecodedMessage): void {
  if (r.end < HEADER_BYTES) {
    r.fail(`a frame of at least ${HEADER_BYTES} bytes`, 0);
    return;
  }
  const view = r.view;
  const programNumber = view.getUint32(4);
  const procedureNumber = view.getInt32(12);
  const type = view.getInt32(16);
  const status = view.getInt32(24);
  const program = programDecoders(programNumber);
  const procedure = program && procedureDecoders(program, procedureNumber, programNumber);
  result.program = program ? program.name : programNumber;
  result.version = view.getUint32(8);
  result.procedure = procedure ? procedure.name : procedureNumber;
  result.type = TYPE_NAMES[type] ?? type;
  result.serial = view.getUint32(20);
  result.status = STATUS_NAMES[status] ?? status;
  r.pos = HEADER_BYTES;
  if (type === MessageType.CALL_WITH_FDS || type === MessageType.REPLY_WITH_FDS) {
    const fds = r.u32();
    if (r.failed) return r.under("fds");
    if (fds > NUM_FDS_MAX) return r.fail(`at most ${NUM_FDS_MAX} fds, found ${fds}`, r.pos - 4);
    result.fds = fds;
  }
  if (!program) return r.fail("a known program", 4);
  switch (type) {
    case MessageType.CALL:
    case MessageType.CALL_WITH_FDS:
      if (!procedure) return r.fail(`a procedure of ${program.name}`, 12);
      if (status !== MessageStatus.OK) return r.fail("status OK in a call", 24);
      body(r, result, "args", procedure.args);
      break;
    case MessageType.REPLY:
    case MessageType.REPLY_WITH_FDS:
      if (status === MessageStatus.ERROR) return body(r, result, "error", program.error);
      if (!procedure) return r.fail(`a procedure of ${program.name}`, 12);
      if (status !== MessageStatus.OK) return r.fail("status OK or ERROR in a reply", 24);
      body(r, result, "ret", procedure.ret);
      break;
    case MessageType.MESSAGE:
      if (!procedure) return r.fail(`a procedure of ${program.name}`, 12);
      body(r, result, "msg", procedure.msg);
      break;
    case MessageType.STREAM:
      if (status === MessageStatus.CONTINUE) result.data = r.end - r.pos;
      else if (status === MessageStatus.ERROR && r.end > r.pos) {
        body(r, result, "error", program.error);
      } else if (status === MessageStatus.OK || status === MessageStatus.ERROR) {
        body(r, result, "data", null);
      } else r.fail("status OK, ERROR or CONTINUE in a stream message", 24);
      break;
    case MessageType.STREAM_HOLE:
      body(r, result, "hole", streamHole);
      break;
    default:
      r.fail("a known message type", 16);
  }
}

/** Decodes the body into `result[field]` and checks that it used every byte. */
function body(
  r: XdrReader,
  result: DecodedMessage,
  field: "args" | "ret" | "msg" | "error" | "hole" | "data",
  decode: Decode | null,
): void {
  if (decode !== null) {
    const value = decode(r);
    if (value !== undefined && (!r.failed || typeof value === "object")) {
      result[field as "args"] = value;
    }
    if (r.failed) return r.under(field);
  }
  if (r.pos !== r.end) {
    r.fail(`the end of the body (${r.end - r.pos} bytes more)`);
    r.under(field);
  }
}
