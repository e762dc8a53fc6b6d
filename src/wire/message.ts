/**
 * Encoding the few whole messages the proxy makes itself (local replies, keepalive, its own calls
 * upstream) and reading the int that starts a body. CONNECT_OPEN's arguments live in
 * ./open_args.ts.
 *
 * @module
 */

import {
  HEADER_BYTES,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  Program,
  PROGRAM_VERSION,
} from "./constants.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  readU32,
  writeHeader,
  writeU32,
} from "./header.ts";

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
    program: frameProgram(call),
    procedure: frameProcedure(call),
    type: MessageType.REPLY,
    serial: frameSerial(call),
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

/** The signed 32-bit int that starts a message body (a callbackID, a feature, an eventID). */
export function readFirstInt(frame: Uint8Array): number | undefined {
  if (frame.length < HEADER_BYTES + 4) return undefined;
  return readU32(frame, HEADER_BYTES) | 0;
}
