/**
 * The contract every client session keeps, dedicated or shared, and the lifecycle pieces both
 * share: when it is closed and why, its timeouts, how an invalid frame from the client is
 * answered, and the options a listener gives it. The server and the stdio mode drive sessions
 * only through {@linkcode ClientSession}.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Channel } from "../transport/channel.ts";
import { lingerClose } from "../transport/linger_close.ts";
import { ErrorDomain } from "../wire/constants.ts";
import { encodeErrorReply } from "../wire/error_reply.ts";
import { FrameError } from "../wire/frame_check.ts";
import type { BufferBudget } from "./buffer_budget.ts";
import { ClientClock, type ClientTimeouts } from "./client_clock.ts";
import type { FrameWriter } from "./frame_writer.ts";
import type { SessionObserver } from "./observer.ts";
import type { Policy } from "./policy.ts";

/** What the server needs of a client session, dedicated or shared. */
export interface ClientSession {
  /** Serves the client until it leaves; resolves once closed, never rejects. */
  run(): Promise<void>;
  /** Refuses new calls and closes once the outstanding ones are answered. */
  drain(): void;
  /** Closes at once; calls outstanding get no reply. */
  close(reason: string): void;
  /** Resolves when the session has closed. */
  finished(): Promise<void>;
  /** Why the client has outstayed one of its timeouts at `now`, or undefined. */
  expired(now: number): string | undefined;
  /** Answers every outstanding call with an error saying `message`, then closes. */
  expire(message: string): Promise<void>;
  /** Why the session closed ("" while open). */
  readonly closeReason: string;
}

/** What a listener gives each of its sessions, whichever the kind. */
export interface SessionOptions {
  /** Logger carrying the session's context (listener, client, upstream). */
  logger: Logger;
  /** Largest frame accepted from the client, length word included. */
  maxFrameBytes: number;
  /** Outstanding calls at which the proxy stops reading the client. */
  maxInflight: number;
  /** Set VIR_CONNECT_RO in every open that goes upstream. */
  readonly?: boolean;
  /** Programs the client may use. */
  programs?: ReadonlySet<number>;
  /** Procedures the client may call. */
  policy?: Policy;
  /** Client timeouts, checked by {@linkcode ClientSession.expired}. */
  timeouts?: ClientTimeouts;
  /** Watches the session's frames (audit, metrics); undefined: nothing watches. */
  observer?: SessionObserver;
  /**
   * The process-wide budget for frames beyond the client's allowance (`max_buffered_bytes`);
   * undefined: not limited.
   */
  budget?: BufferBudget;
}

/** The open/closed state of a session, its close reason and its clock. */
export class SessionLifecycle {
  /** Read times of the client, for its timeouts. */
  readonly clock: ClientClock = new ClientClock();
  readonly #timeouts: ClientTimeouts | undefined;
  #closed = false;
  #reason = "";
  #done: () => void = () => {};
  readonly #finished: Promise<void>;

  /** Starts a session's life; `timeouts` undefined turns them off. */
  constructor(timeouts: ClientTimeouts | undefined) {
    this.#timeouts = timeouts;
    this.#finished = new Promise((resolve) => this.#done = resolve);
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Why the session closed. */
  get closeReason(): string {
    return this.#reason;
  }

  /** Resolves when the session has closed. */
  finished(): Promise<void> {
    return this.#finished;
  }

  /** Marks the session closed with `reason`; false when it was closed already. */
  end(reason: string): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    this.#reason = reason;
    this.#done();
    return true;
  }

  /** Why the client has outstayed a timeout at `now` with `inflight` calls out, or undefined. */
  expired(now: number, inflight: number): string | undefined {
    const timeouts = this.#timeouts;
    return timeouts === undefined ? undefined : this.clock.expired(now, timeouts, inflight);
  }
}

/** Options for {@linkcode rejectInvalidFrame}. */
export interface RejectInvalidFrameOptions {
  /** The session's logger. */
  logger: Logger;
  /** The frame limit in force, for the log. */
  maxFrameBytes: number;
  /** The client has not opened its connection yet: the limit in force is the pre-open one. */
  beforeOpen?: boolean;
  /** The client's channel. */
  client: Channel;
  /** The client's writer: the answer goes after everything already queued. */
  writer: FrameWriter;
  /** Lets go of upstream state before the client is answered (the session is ending). */
  release: () => void;
}

/**
 * A client sent a frame that failed a check: log it with the numbers, answer it with a libvirt
 * error when its header can be answered, and let the client finish writing so that it reads
 * the answer. Resolves to the close reason; the caller closes the session.
 */
export async function rejectInvalidFrame(
  error: FrameError,
  options: RejectInvalidFrameOptions,
): Promise<string> {
  if (options.beforeOpen && error.length > options.maxFrameBytes) {
    error = new FrameError(
      `${error.message} before CONNECT_OPEN has succeeded`,
      error.length,
      error.header,
      error.code,
    );
  }
  options.logger.warning("Closing client after an invalid frame", {
    error: error.message,
    length: error.length,
    limit: options.maxFrameBytes,
  });
  options.release();
  if (error.header !== undefined) {
    options.writer.enqueue(
      encodeErrorReply(error.header, `virtmux refused a frame: ${error.message}`, {
        code: error.code,
        domain: ErrorDomain.RPC,
      }),
      true,
    );
    await options.writer.flushed();
    // Let the client finish writing the rest of its frame, or it never reads the answer.
    await lingerClose(options.client);
  }
  return `invalid frame: ${error.message}`;
}
