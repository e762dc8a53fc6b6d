/**
 * Node's sockets behind the {@linkcode Channel} interface, for the few places that need them.
 *
 * @module
 */

import type * as net from "node:net";
import type { Channel } from "./channel.ts";

/**
 * A node:net or node:tls socket as a {@linkcode Channel}. Deno's own connections are faster; this
 * serves where only node's sockets do the job: TLS without verification (`no_verify=1`) and unix
 * listeners that read their clients' credentials (`allow_uids`, `allow_gids`).
 */
export class NodeSocketChannel implements Channel {
  #socket: net.Socket;
  #chunks: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #paused = false;

  /** Chunks above this many bytes pause the socket until reads catch up. */
  static readonly HIGH_WATER = 1 << 20;

  /** Takes over `socket`: its data is read through {@linkcode read} from now on. */
  constructor(socket: net.Socket) {
    this.#socket = socket;
    // The channel decides when to end its side. Left to node, end() at the peer's EOF leaves a
    // shutdown request pending for good under Deno, which keeps the socket and all it references
    // alive (3 KiB per connection).
    socket.allowHalfOpen = true;
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued > NodeSocketChannel.HIGH_WATER && !this.#paused) {
        this.#paused = true;
        socket.pause();
      }
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= error;
      this.#notify();
    });
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Reads queued data into `buffer`; null once the peer has ended. */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    let count = 0;
    while (count < buffer.length && this.#chunks.length > 0) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length, buffer.length - count);
      buffer.set(take === chunk.length ? chunk : chunk.subarray(0, take), count);
      count += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    this.#queued -= count;
    if (this.#paused && this.#queued < NodeSocketChannel.HIGH_WATER / 2) {
      this.#paused = false;
      this.#socket.resume();
    }
    return count;
  }

  /** Writes all of `data`; resolves once node has handed it to the kernel. */
  write(data: Uint8Array): Promise<number> {
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (error?: Error | null) => {
        if (error) reject(error);
        else resolve(data.length);
      });
    });
  }

  /** Ends the write side. */
  closeWrite(): Promise<void> {
    return new Promise((resolve) => this.#socket.end(() => resolve()));
  }

  /** Destroys the socket. */
  close(): void {
    this.#socket.destroy();
    this.#ended = true;
    this.#notify();
  }
}
