/**
 * Serialized writes to one channel. The relay writes to a client from two places (forwarded
 * replies, and the proxy's own error replies); their bytes must never interleave.
 *
 * @module
 */

import { type Channel, writeAll } from "../transport/channel.ts";

/**
 * Writes whole buffers to a channel one after another. When no write is in progress a write goes
 * straight to the channel, so the common single-writer case costs no extra promise.
 */
export class OrderedWriter {
  #channel: Channel;
  #busy: Promise<void> | undefined;

  /** Wraps `channel`. */
  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** Writes all of `data` after every earlier write has finished. */
  async write(data: Uint8Array): Promise<void> {
    while (this.#busy !== undefined) await this.#busy.catch(() => {});
    const writing = writeAll(this.#channel, data);
    this.#busy = writing;
    try {
      await writing;
    } finally {
      this.#busy = undefined;
    }
  }

  /** Resolves when no write is in progress. */
  async idle(): Promise<void> {
    while (this.#busy !== undefined) await this.#busy.catch(() => {});
  }
}
