/**
 * A raw libvirt wire-protocol client for the bench's load generator: encodes CALL frames, opens a
 * connection with AUTH_LIST and CONNECT_OPEN, and makes calls with a reused read buffer,
 * answering keepalive PINGs.
 *
 * @module
 */

import {
  HEADER_BYTES,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  Program,
  RemoteProc,
} from "../src/wire/constants.ts";
import { readU32, writeU32 } from "../src/wire/header.ts";
/** The small call: CONNECT_GET_LIB_VERSION, no arguments, an 8-byte reply. */
export const SMALL_CALL_PROCEDURE = RemoteProc.CONNECT_GET_LIB_VERSION;
/** The name the load generator opens unless told otherwise. */
export const DEFAULT_OPEN_NAME = "test:///default";

/** Encodes a REMOTE CALL frame with `body` words after the header. */
export function encodeCall(
  procedure: number,
  serial: number,
  body: Uint8Array = EMPTY,
): Uint8Array {
  const frame = new Uint8Array(HEADER_BYTES + body.length);
  writeU32(frame, 0, frame.length);
  writeU32(frame, 4, Program.REMOTE);
  writeU32(frame, 8, 1);
  writeU32(frame, 12, procedure);
  writeU32(frame, 16, MessageType.CALL);
  writeU32(frame, 20, serial);
  writeU32(frame, 24, MessageStatus.OK);
  frame.set(body, HEADER_BYTES);
  return frame;
}

const EMPTY = new Uint8Array(0);

/** The CONNECT_OPEN arguments `{remote_string name; unsigned flags}` for `name`. */
export function openArgs(name: string): Uint8Array {
  const text = new TextEncoder().encode(name);
  const padded = (text.length + 3) & ~3;
  const body = new Uint8Array(12 + padded);
  writeU32(body, 0, 1);
  writeU32(body, 4, text.length);
  body.set(text, 8);
  writeU32(body, 8 + padded, 0);
  return body;
}

/** One raw client connection with a reused read buffer. */
export class WireClient {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(4096);
  #start = 0;
  #end = 0;
  #serial = 1;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects to `socket`. */
  static async connect(socket: string): Promise<WireClient> {
    // A listener with a short backlog (socat's is 5) refuses with EAGAIN under a burst: retry.
    for (let attempt = 0;; attempt++) {
      try {
        return new WireClient(await Deno.connect({ transport: "unix", path: socket }));
      } catch (error) {
        if (!(error instanceof Deno.errors.WouldBlock) || attempt >= 2000) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  }

  /** Connects and does AUTH_LIST plus CONNECT_OPEN(`name`). */
  static async open(socket: string, name: string): Promise<WireClient> {
    const client = await WireClient.connect(socket);
    try {
      await client.call(RemoteProc.AUTH_LIST);
      const open = await client.call(RemoteProc.CONNECT_OPEN, openArgs(name));
      if (readU32(open, 24) !== MessageStatus.OK) throw new Error("CONNECT_OPEN failed");
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  /** The serial the next {@linkcode call} uses. */
  nextSerial(): number {
    return this.#serial++;
  }

  /** Sends one call and returns its reply (a view valid until the next read). */
  async call(procedure: number, body?: Uint8Array): Promise<Uint8Array> {
    const serial = this.nextSerial();
    await this.write(encodeCall(procedure, serial, body));
    return await this.reply(serial);
  }

  /** Writes all of `data`. */
  async write(data: Uint8Array): Promise<void> {
    let written = 0;
    while (written < data.length) written += await this.#conn.write(data.subarray(written));
  }

  /** Reads frames until the REPLY with `serial`, answering keepalive PINGs on the way. */
  async reply(serial: number): Promise<Uint8Array> {
    while (true) {
      const frame = await this.frame();
      if (readU32(frame, 4) === Program.KEEPALIVE) {
        if (readU32(frame, 12) === KeepaliveProc.PING) await this.write(PONG);
        continue;
      }
      if (readU32(frame, 16) === MessageType.REPLY && readU32(frame, 20) === serial) return frame;
    }
  }

  /** The next whole frame, as a view of the read buffer valid until the next call. */
  async frame(): Promise<Uint8Array> {
    while (true) {
      const held = this.#end - this.#start;
      if (held >= 4) {
        const length = readU32(this.#buf, this.#start);
        if (length < HEADER_BYTES) throw new RangeError(`Bad frame length ${length}`);
        if (held >= length) {
          const frame = this.#buf.subarray(this.#start, this.#start + length);
          this.#start += length;
          return frame;
        }
        if (length > this.#buf.length) {
          const next = new Uint8Array(length);
          next.set(this.#buf.subarray(this.#start, this.#end));
          this.#buf = next;
          this.#end = held;
          this.#start = 0;
        }
      }
      if (this.#start === this.#end) {
        this.#start = this.#end = 0;
      } else if (this.#buf.length - this.#end < 1024 || this.#end === this.#buf.length) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const n = await this.#conn.read(this.#buf.subarray(this.#end));
      if (n === null) throw new Error("Connection closed by the peer");
      this.#end += n;
    }
  }

  /**
   * Reads a stream's frames without copying their payload until the empty CONTINUE that ends
   * it; returns the payload bytes received.
   */
  async drainStream(): Promise<number> {
    let payload = 0;
    const big = new Uint8Array(1 << 20);
    // Whatever the frame buffer already holds goes first.
    const header = new Uint8Array(HEADER_BYTES);
    let headerFill = 0;
    let remaining = 0;
    let pending = this.#buf.subarray(this.#start, this.#end);
    this.#start = this.#end = 0;
    while (true) {
      let at = 0;
      while (at < pending.length) {
        if (remaining > 0) {
          const take = Math.min(remaining, pending.length - at);
          remaining -= take;
          payload += take;
          at += take;
          continue;
        }
        const take = Math.min(HEADER_BYTES - headerFill, pending.length - at);
        header.set(pending.subarray(at, at + take), headerFill);
        headerFill += take;
        at += take;
        if (headerFill < HEADER_BYTES) break;
        headerFill = 0;
        const length = readU32(header, 0);
        const type = readU32(header, 16);
        if (type === MessageType.STREAM && length === HEADER_BYTES) {
          if (readU32(header, 24) !== MessageStatus.CONTINUE) {
            throw new Error(`Stream ended with status ${readU32(header, 24)}`);
          }
          return payload;
        }
        remaining = length - HEADER_BYTES;
        if (type !== MessageType.STREAM) payload -= remaining; // the REPLY's body is no data
      }
      const n = await this.#conn.read(big);
      if (n === null) throw new Error("Connection closed during the stream");
      pending = big.subarray(0, n);
    }
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

const PONG = (() => {
  const frame = new Uint8Array(HEADER_BYTES);
  writeU32(frame, 0, HEADER_BYTES);
  writeU32(frame, 4, Program.KEEPALIVE);
  writeU32(frame, 8, 1);
  writeU32(frame, 12, KeepaliveProc.PONG);
  writeU32(frame, 16, MessageType.MESSAGE);
  return frame;
})();
