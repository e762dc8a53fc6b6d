/**
 * Reading and patching the fields of a frame's header in place. Every function takes the frame's
 * bytes starting at its length word; none copies.
 *
 * @module
 */

import { HEADER_BYTES, OFFSET } from "./constants.ts";

/** Reads the big-endian unsigned 32-bit word at `offset`. */
export function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3]) >>> 0;
}

/** Writes `value` as a big-endian 32-bit word at `offset`. */
export function writeU32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

/** The decoded header of one frame. */
export interface Header {
  /** Whole frame length, length word included. */
  length: number;
  /** RPC program number. */
  program: number;
  /** Program version. */
  version: number;
  /** Procedure number (signed on the wire; procedures are all positive). */
  procedure: number;
  /** Message type, see {@linkcode MessageType}. */
  type: number;
  /** Serial number that pairs a reply with its call. */
  serial: number;
  /** Message status, see {@linkcode MessageStatus}. */
  status: number;
}

/** Decodes the header of the frame at the start of `frame` (which must hold 28 bytes). */
export function readHeader(frame: Uint8Array): Header {
  if (frame.length < HEADER_BYTES) {
    throw new RangeError(`Cannot read header: need ${HEADER_BYTES} bytes, have ${frame.length}`);
  }
  return {
    length: readU32(frame, 0),
    program: readU32(frame, OFFSET.program),
    version: readU32(frame, OFFSET.version),
    procedure: readU32(frame, OFFSET.procedure) | 0,
    type: readU32(frame, OFFSET.type),
    serial: readU32(frame, OFFSET.serial),
    status: readU32(frame, OFFSET.status),
  };
}

/** Encodes `header` into the first 28 bytes of `frame`. */
export function writeHeader(frame: Uint8Array, header: Header): void {
  writeU32(frame, 0, header.length);
  writeU32(frame, OFFSET.program, header.program);
  writeU32(frame, OFFSET.version, header.version);
  writeU32(frame, OFFSET.procedure, header.procedure);
  writeU32(frame, OFFSET.type, header.type);
  writeU32(frame, OFFSET.serial, header.serial);
  writeU32(frame, OFFSET.status, header.status);
}

/** The frame's program number. */
export function frameProgram(frame: Uint8Array): number {
  return readU32(frame, OFFSET.program);
}

/** The frame's procedure number. */
export function frameProcedure(frame: Uint8Array): number {
  return readU32(frame, OFFSET.procedure) | 0;
}

/** The frame's message type. */
export function frameType(frame: Uint8Array): number {
  return readU32(frame, OFFSET.type);
}

/** The frame's serial number. */
export function frameSerial(frame: Uint8Array): number {
  return readU32(frame, OFFSET.serial);
}

/** The frame's status. */
export function frameStatus(frame: Uint8Array): number {
  return readU32(frame, OFFSET.status);
}

/** Overwrites the frame's serial number in place: the only field a shared pool changes. */
export function patchSerial(frame: Uint8Array, serial: number): void {
  writeU32(frame, OFFSET.serial, serial);
}
