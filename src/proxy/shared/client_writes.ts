/**
 * How a shared-mode session writes to its client. Replies and events are queued as copies, so
 * that the pool's upstream connection moves on at once; stream data is written in place and
 * waited for. The queue is bounded: a client that does not read its replies would hold up the
 * upstream connection it shares, so it is closed instead (reply_backlog.ts says when).
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import type { Logger } from "../../log/logger.ts";
import type { Channel } from "../../transport/channel.ts";
import type { BufferBudget } from "../buffer_budget.ts";
import { FrameWriter } from "../frame_writer.ts";
import { notReadingReason } from "./reply_backlog.ts";

/**
 * Replies and events that may wait for a client that is slow to read; past this it is closed,
 * so that it never holds up the upstream connection it shares. One larger frame alone is fine.
 */
export const MAX_QUEUED_BYTES = 8 << 20;

/** Options for {@linkcode ClientWrites}. */
export interface ClientWritesOptions {
  /** The session's logger. */
  logger: Logger;
  /** The budget queued bytes past the client's allowance draw on; undefined: not limited. */
  budget?: BufferBudget;
}

/** What {@linkcode ClientWrites} closes (the session itself: no closure per client). */
export interface ClosingSession {
  /** Closes the client with `reason`. */
  close(reason: string): void;
}

/** The writing side of one shared-mode client. */
export class ClientWrites {
  /** The client's writer, for answers that go after everything queued. */
  readonly writer: FrameWriter;
  readonly #log: Logger;
  readonly #budget: BufferBudget | undefined;
  readonly #session: ClosingSession;

  /** Writes to `client`; closes `session` when a write fails or the client does not read. */
  constructor(client: Channel, session: ClosingSession, options: ClientWritesOptions) {
    this.writer = new FrameWriter(client, {
      maxQueuedBytes: MAX_QUEUED_BYTES,
      onError: (error) => session.close(`client failed: ${errorMessage(error)}`),
      budget: options.budget,
    });
    this.#log = options.logger;
    this.#budget = options.budget;
    this.#session = session;
  }

  /** Queues `frame` (itself, not a copy, when `owned`); closes a client whose queue is full. */
  enqueue(frame: Uint8Array, owned = false): undefined {
    if (this.writer.enqueue(frame, owned)) return undefined;
    this.#session.close(notReadingReason(this.#log, {
      queued: this.writer.queuedBytes,
      reply: frame.length,
      maxQueued: MAX_QUEUED_BYTES,
      budget: this.#budget,
    }));
    return undefined;
  }

  /** Writes stream data in place; resolves once written, or once a failure closed the session. */
  write(frame: Uint8Array): Promise<void> {
    return this.writer.write(frame).catch(() => {}); // failures close via onError
  }

  /** Resolves once everything queued so far has been written (or the writer failed). */
  flushed(): Promise<void> {
    return this.writer.flushed();
  }
}
