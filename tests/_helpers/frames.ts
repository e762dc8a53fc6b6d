/**
 * Building and reading raw libvirt frames in tests.
 *
 * @module
 */

import { MessageStatus, MessageType, Program } from "../../src/wire/constants.ts";
import { readU32, writeHeader } from "../../src/wire/header.ts";

/** Fields of a test frame; omitted ones default to a REMOTE CALL with status OK. */
export interface FrameFields {
  program?: number;
  version?: number;
  procedure?: number;
  type?: number;
  serial?: number;
  status?: number;
  body?: Uint8Array;
  /** Overrides the length word (for malformed frames). */
  length?: number;
}

/** Encodes one frame. */
export function frame(fields: FrameFields = {}): Uint8Array {
  const body = fields.body ?? new Uint8Array(0);
  const bytes = new Uint8Array(28 + body.length);
  writeHeader(bytes, {
    length: fields.length ?? bytes.length,
    program: fields.program ?? Program.REMOTE,
    version: fields.version ?? 1,
    procedure: fields.procedure ?? 1,
    type: fields.type ?? MessageType.CALL,
    serial: fields.serial ?? 0,
    status: fields.status ?? MessageStatus.OK,
  });
  bytes.set(body, 28);
  return bytes;
}

/** Big-endian words as bytes. */
export function words(...values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((value, i) => view.setUint32(i * 4, value >>> 0));
  return bytes;
}

/** Joins byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Reads whole frames from a connection: `next()` resolves to a copy of one, or null at EOF. */
export class FrameSource {
  #conn: { read(p: Uint8Array): Promise<number | null> };
  #buf: Uint8Array = new Uint8Array(0);

  /** Reads from `conn`. */
  constructor(conn: { read(p: Uint8Array): Promise<number | null> }) {
    this.#conn = conn;
  }

  /** The next frame, or null when the connection ends first. */
  async next(): Promise<Uint8Array | null> {
    while (true) {
      if (this.#buf.length >= 4) {
        const length = readU32(this.#buf, 0);
        if (this.#buf.length >= length) {
          const out = this.#buf.slice(0, length);
          this.#buf = this.#buf.slice(length);
          return out;
        }
      }
      const chunk = new Uint8Array(65536);
      let n: number | null;
      try {
        n = await this.#conn.read(chunk);
      } catch {
        n = null;
      }
      if (n === null) return null;
      this.#buf = concat(this.#buf, chunk.subarray(0, n));
    }
  }

  /** Bytes received but not yet returned as a frame. */
  get leftover(): number {
    return this.#buf.length;
  }
}
