/**
 * Encoding the few whole messages the proxy makes itself (local replies, keepalive, its own calls
 * upstream) and decoding the few argument shapes it must read (CONNECT_OPEN's name, an int).
 *
 * @module
 */

import {
  CONNECT_RO,
  HEADER_BYTES,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  Program,
  PROGRAM_VERSION,
} from "./constants.ts";
import { readU32, writeHeader, writeU32 } from "./header.ts";

/** Header fields of a message to encode; the length is computed. */
export interface MessageFields {
  /** Program number. */
  program: number;
  /** Procedure number. */
  procedure: number;
  /** Message type. */
  type: number;
  /** Serial number. */
  serial: number;
  /**
   * Status.
   *
   * @default {0} (OK)
   */
  status?: number;
}

/** Encodes a whole frame with `body` after the header. */
export function encodeMessage(fields: MessageFields, body?: Uint8Array): Uint8Array {
  const length = HEADER_BYTES + (body?.length ?? 0);
  const frame = new Uint8Array(length);
  writeHeader(frame, {
    length,
    program: fields.program,
    version: PROGRAM_VERSION,
    procedure: fields.procedure,
    type: fields.type,
    serial: fields.serial,
    status: fields.status ?? MessageStatus.OK,
  });
  if (body) frame.set(body, HEADER_BYTES);
  return frame;
}

/** XDR-encodes 32-bit words. */
export function encodeWords(...values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  values.forEach((value, i) => writeU32(bytes, i * 4, value));
  return bytes;
}

/** A successful REPLY to the call `call` (a frame), carrying `body`. */
export function encodeOkReply(call: Uint8Array, body?: Uint8Array): Uint8Array {
  return encodeMessage({
    program: readU32(call, 4),
    procedure: readU32(call, 12),
    type: MessageType.REPLY,
    serial: readU32(call, 20),
  }, body);
}

/** A keepalive PING. */
export const PING_FRAME: Uint8Array = encodeMessage({
  program: Program.KEEPALIVE,
  procedure: KeepaliveProc.PING,
  type: MessageType.MESSAGE,
  serial: 0,
});

/** A keepalive PONG. */
export const PONG_FRAME: Uint8Array = encodeMessage({
  program: Program.KEEPALIVE,
  procedure: KeepaliveProc.PONG,
  type: MessageType.MESSAGE,
  serial: 0,
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** XDR-encodes `remote_string` (an optional string): null encodes as absent. */
export function encodeOptionalString(text: string | null): Uint8Array {
  if (text === null) return encodeWords(0);
  const bytes = encoder.encode(text);
  const out = new Uint8Array(8 + ((bytes.length + 3) & ~3));
  writeU32(out, 0, 1);
  writeU32(out, 4, bytes.length);
  out.set(bytes, 8);
  return out;
}

/** The arguments of CONNECT_OPEN: `{ remote_string name; unsigned int flags; }`. */
export interface OpenArgs {
  /** The name the client opens, or null. */
  name: string | null;
  /** The open flags (VIR_CONNECT_RO is 1). */
  flags: number;
}

/**
 * Decodes CONNECT_OPEN's arguments from its frame.
 *
 * @throws {RangeError} when the body is too short for what it declares.
 */
export function decodeOpenArgs(frame: Uint8Array): OpenArgs {
  let at = HEADER_BYTES;
  const need = (n: number) => {
    if (at + n > frame.length) throw new RangeError("CONNECT_OPEN arguments are truncated");
  };
  need(4);
  const present = readU32(frame, at);
  at += 4;
  let name: string | null = null;
  if (present !== 0) {
    need(4);
    const length = readU32(frame, at);
    at += 4;
    need(length);
    name = decoder.decode(frame.subarray(at, at + length));
    at += (length + 3) & ~3;
  }
  need(4);
  return { name, flags: readU32(frame, at) };
}

/** The CONNECT_OPEN arguments for `name` and `flags`. */
export function encodeOpenArgs(args: OpenArgs): Uint8Array {
  const name = encodeOptionalString(args.name);
  const out = new Uint8Array(name.length + 4);
  out.set(name);
  writeU32(out, name.length, args.flags);
  return out;
}

/** The signed 32-bit int that starts a message body (a callbackID, a feature, an eventID). */
export function readFirstInt(frame: Uint8Array): number | undefined {
  if (frame.length < HEADER_BYTES + 4) return undefined;
  return readU32(frame, HEADER_BYTES) | 0;
}

/**
 * Sets VIR_CONNECT_RO in a CONNECT_OPEN call in place: `remote_connect_open_args` ends with
 * `unsigned int flags`, so the flag word is the frame's last four bytes. A frame too short to
 * carry arguments is left alone (the daemon rejects it).
 */
export function patchOpenReadOnly(frame: Uint8Array): void {
  if (frame.length < HEADER_BYTES + 4) return;
  const at = frame.length - 4;
  writeU32(frame, at, readU32(frame, at) | CONNECT_RO);
}
