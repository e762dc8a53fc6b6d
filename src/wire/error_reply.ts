/**
 * Encoding libvirt-shaped error replies, so that a client prints the proxy's errors the way it
 * prints the daemon's: a REPLY (or STREAM) with status ERROR and a `remote_error` body
 * (src/remote/remote_protocol.x).
 *
 * @module
 */

import {
  ERROR_LEVEL_ERROR,
  ErrorCode,
  ErrorDomain,
  HEADER_BYTES,
  MessageStatus,
  MessageType,
} from "./constants.ts";
import { type Header, writeHeader, writeU32 } from "./header.ts";

/** What an error reply says. */
export interface ErrorReplyOptions {
  /**
   * virErrorNumber.
   *
   * @default {39} (VIR_ERR_RPC)
   */
  code?: number;
  /**
   * virErrorDomain.
   *
   * @default {7} (VIR_FROM_RPC)
   */
  domain?: number;
  /**
   * The message type of the reply: STREAM when answering a stream message.
   *
   * @default {1} (REPLY)
   */
  type?: number;
}

const encoder = new TextEncoder();

/**
 * Encodes a whole frame answering the call `header` with an error carrying `message`.
 *
 * @example Denying a call
 * ```ts
 * import assert from "node:assert/strict";
 * import { ErrorCode, MessageType, Program } from "./constants.ts";
 * import { encodeErrorReply } from "./error_reply.ts";
 *
 * const call = { program: Program.REMOTE, procedure: 12, type: MessageType.CALL, serial: 7 };
 * const frame = encodeErrorReply(
 *   { ...call, length: 28, version: 1, status: 0 },
 *   "Denied",
 *   { code: ErrorCode.OPERATION_DENIED },
 * );
 * assert.equal(frame.length, 28 + 4 + 4 + (4 + 4 + 8) + 4 + 4 * 4 + 4 + 4 + 4);
 * ```
 */
export function encodeErrorReply(
  header: Header,
  message: string,
  options: ErrorReplyOptions = {},
): Uint8Array {
  const text = encoder.encode(message);
  const padded = (text.length + 3) & ~3;
  // code, domain, message (present flag + length + padded text), level, dom, str1..3, int1,
  // int2, net: each optional is one present-flag word set to 0.
  const length = HEADER_BYTES + 4 + 4 + 4 + 4 + padded + 4 + 4 + 3 * 4 + 4 + 4 + 4;
  const frame = new Uint8Array(length);
  writeHeader(frame, {
    length,
    program: header.program,
    version: header.version,
    procedure: header.procedure,
    type: options.type ?? MessageType.REPLY,
    serial: header.serial,
    status: MessageStatus.ERROR,
  });
  let at = HEADER_BYTES;
  writeU32(frame, at, options.code ?? ErrorCode.RPC);
  writeU32(frame, at += 4, options.domain ?? ErrorDomain.RPC);
  writeU32(frame, at += 4, 1);
  writeU32(frame, at += 4, text.length);
  frame.set(text, at += 4);
  writeU32(frame, at += padded, ERROR_LEVEL_ERROR);
  // dom, str1, str2, str3 absent; int1, int2 zero; net absent: the buffer is already zeroed.
  return frame;
}

/** A decoded `remote_error` body: the fields a user sees. */
export interface RemoteError {
  /** virErrorNumber. */
  code: number;
  /** virErrorDomain. */
  domain: number;
  /** The message, or null when absent. */
  message: string | null;
  /** virErrorLevel. */
  level: number;
}

/** Decodes the first fields of the `remote_error` body of an error frame (tests, logs). */
export function decodeErrorReply(frame: Uint8Array): RemoteError {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let at = HEADER_BYTES;
  const code = view.getInt32(at);
  const domain = view.getInt32(at += 4);
  const present = view.getUint32(at += 4);
  let message: string | null = null;
  at += 4;
  if (present) {
    const length = view.getUint32(at);
    message = new TextDecoder().decode(frame.subarray(at + 4, at + 4 + length));
    at += 4 + ((length + 3) & ~3);
  }
  return { code, domain, message, level: view.getInt32(at) };
}
