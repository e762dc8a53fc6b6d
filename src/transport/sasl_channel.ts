/**
 * A channel through a SASL security layer, as libvirt's virnetsocket runs one after a login that
 * negotiated it (DIGEST-MD5 `auth-conf`, GSSAPI): every write is encoded into SASL packets (a
 * 4-byte big-endian length, then the protected bytes), every read decoded, so the frame reader
 * and writer run unchanged on top.
 *
 * @module
 */

import type { Channel } from "./channel.ts";
import { writeAll } from "./channel.ts";

/** The two halves of a negotiated security layer (a {@linkcode CyrusSaslClient} is one). */
export interface SecurityLayer {
  /** Protects `data` (at most {@linkcode maxOutputBytes}) into packets for the wire. */
  encode(data: Uint8Array): Uint8Array;
  /** Unprotects received bytes; returns what complete packets held, possibly nothing yet. */
  decode(data: Uint8Array): Uint8Array;
  /** The largest input encode takes at once. */
  maxOutputBytes(): number;
  /** Releases the layer's state. */
  dispose(): void;
}

/** The most raw bytes read from the wire at once: libvirt's own SASL buffer size. */
export const SASL_READ_BYTES = 65536;

/** Wraps a channel so that what passes through it is protected by a SASL security layer. */
export class SaslChannel implements Channel {
  #inner: Channel;
  #layer: SecurityLayer;
  #raw = new Uint8Array(SASL_READ_BYTES);
  #decoded: Uint8Array = new Uint8Array(0);
  #chunkBytes: number;

  /**
   * @param inner the channel the login ran on, now carrying SASL packets
   * @param layer the negotiated layer; disposed when the channel closes
   */
  constructor(inner: Channel, layer: SecurityLayer) {
    this.#inner = inner;
    this.#layer = layer;
    const max = layer.maxOutputBytes();
    this.#chunkBytes = max > 0 ? Math.min(max, SASL_READ_BYTES) : SASL_READ_BYTES;
  }

  /** Reads decoded bytes into `buffer`; null at the end of the wire's stream. */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#decoded.length === 0) {
      const count = await this.#inner.read(this.#raw);
      if (count === null) return null;
      this.#decoded = this.#layer.decode(this.#raw.subarray(0, count));
    }
    const count = Math.min(buffer.length, this.#decoded.length);
    buffer.set(this.#decoded.subarray(0, count));
    this.#decoded = this.#decoded.subarray(count);
    return count;
  }

  /** Encodes up to one packet's worth of `data`, sends all of it, and returns the bytes taken. */
  async write(data: Uint8Array): Promise<number> {
    const chunk = data.subarray(0, this.#chunkBytes);
    await writeAll(this.#inner, this.#layer.encode(chunk));
    return chunk.length;
  }

  /** Ends the write side of the wire. */
  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }

  /** Closes the wire and frees the security layer. */
  close(): void {
    try {
      this.#inner.close();
    } finally {
      this.#layer.dispose();
    }
  }

  /** The wire's diagnostics. */
  diagnostics(): string {
    return this.#inner.diagnostics?.() ?? "";
  }
}
