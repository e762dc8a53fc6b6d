/**
 * The checks every frame passes before its body is read: length bounds, program and version,
 * message type and status. They look at the length word and the 28-byte header only.
 *
 * @module
 */

import {
  ErrorCode,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
  MessageStatus,
  MessageType,
  OFFSET,
  Program,
  PROGRAM_VERSION,
  programName,
} from "./constants.ts";
import { type Header, readHeader, readU32 } from "./header.ts";

/** Which end sent a frame: the rules for message types differ. */
export type Direction = "fromClient" | "fromServer";

/** What a frame must satisfy. */
export interface FrameLimits {
  /**
   * Largest whole frame, length word included.
   *
   * @default {33554436}
   */
  maxFrameBytes?: number;
  /**
   * Programs accepted. ADMIN is absent by default: a listener must allow it.
   *
   * @default {REMOTE, QEMU, LXC, KEEPALIVE}
   */
  programs?: ReadonlySet<number>;
  /**
   * Which side the frames come from; decides which message types are valid.
   *
   * @default {"fromClient"}
   */
  direction?: Direction;
}

/** The programs a listener accepts unless told otherwise. */
export const DEFAULT_PROGRAMS: ReadonlySet<number> = new Set([
  Program.REMOTE,
  Program.QEMU,
  Program.LXC,
  Program.KEEPALIVE,
]);

const CLIENT_TYPES = new Set<number>([
  MessageType.CALL,
  MessageType.MESSAGE,
  MessageType.STREAM,
  MessageType.CALL_WITH_FDS,
  MessageType.STREAM_HOLE,
]);
const SERVER_TYPES = new Set<number>([
  MessageType.REPLY,
  MessageType.MESSAGE,
  MessageType.STREAM,
  MessageType.REPLY_WITH_FDS,
  MessageType.STREAM_HOLE,
]);

/** A frame that failed a check. Carries the header when the peer can be answered. */
export class FrameError extends Error {
  /** The frame's declared length, length word included. */
  readonly length: number;
  /** The header, present when 28 bytes were read and they form an answerable CALL. */
  readonly header: Header | undefined;
  /** The libvirt error code for the reply: VIR_ERR_OPERATION_DENIED for a refused program. */
  readonly code: number;

  /** Makes an error for a frame of `length` bytes; `header` when it can be answered. */
  constructor(message: string, length: number, header?: Header, code: number = ErrorCode.RPC) {
    super(message);
    this.name = "FrameError";
    this.length = length;
    this.header = header;
    this.code = code;
  }
}

/** Checks a frame's declared length alone; returns why it is bad, or undefined. */
export function checkLength(length: number, maxFrameBytes: number): string | undefined {
  if (length < HEADER_BYTES) {
    return `length ${length} is below the ${HEADER_BYTES}-byte minimum`;
  }
  if (length > maxFrameBytes) {
    return `length ${length} exceeds the limit of ${maxFrameBytes} bytes`;
  }
  return undefined;
}

/**
 * Checks the header of the frame at `offset` in `bytes`, which holds at least 28 bytes from there.
 * Returns why it is bad, or undefined.
 */
export function checkHeader(
  bytes: Uint8Array,
  offset: number,
  programs: ReadonlySet<number>,
  direction: Direction,
): string | undefined {
  const program = readU32(bytes, offset + OFFSET.program);
  if (!programs.has(program)) return `program ${programName(program)} is not allowed`;
  const version = readU32(bytes, offset + OFFSET.version);
  if (version !== PROGRAM_VERSION) {
    return `version ${version} of program ${programName(program)} is not supported`;
  }
  const type = readU32(bytes, offset + OFFSET.type);
  const types = direction === "fromClient" ? CLIENT_TYPES : SERVER_TYPES;
  if (!types.has(type)) return `message type ${type} is not valid here`;
  const status = readU32(bytes, offset + OFFSET.status);
  if (status > MessageStatus.CONTINUE) return `status ${status} is not valid`;
  return undefined;
}

/**
 * The header of the frame at `offset` if a peer could match an error reply to it: a CALL of a
 * known program and version. Otherwise undefined.
 */
export function answerableHeader(bytes: Uint8Array, offset: number): Header | undefined {
  if (bytes.length - offset < HEADER_BYTES) return undefined;
  const header = readHeader(bytes.subarray(offset, offset + HEADER_BYTES));
  const known = header.program === Program.REMOTE || header.program === Program.QEMU ||
    header.program === Program.LXC || header.program === Program.ADMIN;
  const isCall = header.type === MessageType.CALL || header.type === MessageType.CALL_WITH_FDS;
  return known && isCall && header.version === PROGRAM_VERSION ? header : undefined;
}

/** Resolves the defaults of {@linkcode FrameLimits}. */
export function resolveLimits(limits: FrameLimits = {}): Required<FrameLimits> {
  return {
    maxFrameBytes: limits.maxFrameBytes ?? MAX_FRAME_BYTES,
    programs: limits.programs ?? DEFAULT_PROGRAMS,
    direction: limits.direction ?? "fromClient",
  };
}
