/**
 * One client's incoming frames larger than its allowance: each takes its whole length from the
 * {@linkcode BufferBudget} before its body is read (waiting in line, unread, when the budget is
 * used up), is read into a buffer of exactly its size, must arrive at `min_frame_rate`, and gives
 * the bytes back once it has been passed on. Frames within the allowance never come here.
 *
 * Both modes hold a large frame whole and pass it on only once its last byte is in, rather than
 * cutting its body through to the daemon as it arrives. The frame is checked and passed on as a
 * unit (policy, the read-only patch and audit see whole frames), a client that trickles or
 * stalls pins only virtmux's budget, never a partial message in the daemon (libvirtd allocates a
 * message's full length when it reads its length word and cannot drop it short of closing the
 * connection), and the daemon receives big frames at the speed of a local write. So the daemon
 * behind virtmux never holds more partial big frames than the budget has granted: at most one
 * being written per granted frame, and the budget stays taken until that write is done.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { FrameReader } from "../wire/frame_reader.ts";
import type { ClientClock } from "./client_clock.ts";
import { HEADER_BYTES, LEGACY_PAYLOAD_MAX } from "../wire/constants.ts";
import { type BufferBudget, CLIENT_ALLOWANCE_BYTES } from "./buffer_budget.ts";

/**
 * A buffer up to one whole stream chunk (LEGACY_PAYLOAD_MAX plus header) is kept after a large
 * frame, as a busy client keeps its burst buffer anyway: an upload then reuses it chunk after
 * chunk instead of allocating one per chunk.
 */
const KEEP_BYTES = LEGACY_PAYLOAD_MAX + HEADER_BYTES;

/**
 * Most bytes a large frame reads in one turn while the budget is contended (clients wait for
 * it): with one reader per turn of the event loop, this bounds how fast large frames come in
 * under pressure, so that however many clients push them they take a bounded share of the CPU
 * (virtmux's and the daemon's) and small calls keep theirs. A lone upload is not paced.
 */
export const PACED_READ_BYTES = 65536;

/** Time every budgeted frame gets on top of its length at `min_frame_rate`, in ms. */
const FRAME_GRACE_MS = 1000;

/** Options for {@linkcode LargeFrames}. */
export interface LargeFramesOptions {
  /** The process-wide budget; undefined: frames are only given an exact buffer. */
  budget: BufferBudget | undefined;
  /** The session's logger. */
  logger: Logger;
}

/** The large frame one session's client is sending, if any, and its share of the budget. */
export class LargeFrames {
  readonly #reader: FrameReader;
  readonly #budget: BufferBudget | undefined;
  readonly #log: Logger;
  /** True while a large frame holds budget (from its grant until {@linkcode finish}). */
  active = false;
  /** Bytes held from the budget. */
  #bytes = 0;
  /** Value of `reader.taken` while the held frame is still incomplete. */
  #frame = 0;
  #grantedAt = 0;
  #deadline = Infinity;
  #waiting: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  /** Follows the large frames `reader` meets. */
  constructor(reader: FrameReader, options: LargeFramesOptions) {
    this.#reader = reader;
    this.#budget = options.budget;
    this.#log = options.logger;
  }

  /** True once the held frame has been handed out by the reader. */
  get arrived(): boolean {
    return this.active && this.#reader.taken !== this.#frame;
  }

  /**
   * Called before each read: when the frame at hand is larger than the allowance and holds no
   * budget yet, takes it. Undefined when the read may go on; else a promise to await first (the
   * client waits in line, unread, which is not stalling as `frame_timeout` sees it), which also
   * resolves when the session closes.
   */
  beforeRead(clock: ClientClock): Promise<void> | undefined {
    if (this.active || this.#reader.partialLength <= CLIENT_ALLOWANCE_BYTES) return undefined;
    const granted = this.#admit();
    if (granted === undefined) return undefined;
    clock.partial = false;
    return granted.then(() => clock.read());
  }

  /**
   * While a large frame arrives and the budget is contended (clients wait in line for it), a
   * promise for its next turn to read (see BufferBudget.turn); otherwise undefined, so that a
   * lone upload goes at full speed. Time spent waiting for turns is virtmux's, not the client's:
   * it moves the frame's deadline.
   */
  pace(): Promise<void> | undefined {
    const budget = this.#budget;
    if (!this.active || budget === undefined || budget.waiting === 0 || this.arrived) {
      return undefined;
    }
    const asked = Date.now();
    return budget.turn().then(() => {
      this.#deadline += Date.now() - asked;
    });
  }

  /**
   * Takes budget for the reader's incomplete frame before more of it is read. Undefined when
   * granted at once; else a promise that resolves when granted or when {@linkcode close} is
   * called (the caller checks whether its session closed).
   */
  #admit(): Promise<void> | undefined {
    const length = this.#reader.partialLength;
    const budget = this.#budget;
    const granted = budget?.take(length);
    if (granted === undefined) {
      this.#hold(length);
      return undefined;
    }
    this.#waiting = granted;
    this.#log.warning("Client waits for buffer budget: max_buffered_bytes in use", {
      frame: length,
      used: budget!.used,
      limit: budget!.maxBytes,
      waiting: budget!.waiting,
    });
    const waitedFrom = Date.now();
    return new Promise<void>((resolve) => {
      this.#wake = resolve;
      granted.then(() => {
        if (this.#waiting !== granted) return; // closed meanwhile; close() gave the bytes back
        this.#waiting = undefined;
        this.#wake = undefined;
        this.#hold(length);
        this.#log.debug("Client got buffer budget", {
          frame: length,
          waitedMs: Date.now() - waitedFrom,
        });
        resolve();
      });
    });
  }

  #hold(length: number): void {
    this.active = true;
    this.#bytes = this.#budget === undefined ? 0 : length;
    this.#frame = this.#reader.taken;
    this.#grantedAt = Date.now();
    const rate = this.#budget?.minFrameRate ?? 0;
    this.#deadline = rate > 0 ? this.#grantedAt + FRAME_GRACE_MS + length / rate * 1000 : Infinity;
    this.#reader.reserve();
  }

  /**
   * The held frame has been passed on and no view of it is in use: give its bytes back and let
   * the reader drop its large buffer.
   */
  finish(): void {
    this.active = false;
    this.#reader.shrink(KEEP_BYTES);
    this.#giveBack();
  }

  /** Why the client is closed at `now` under the rate rule, or undefined. */
  expired(now: number): string | undefined {
    if (!this.active || now <= this.#deadline || this.arrived) return undefined;
    const length = this.#reader.partialLength;
    return `sent ${this.#reader.buffered} of a ${length}-byte frame in ` +
      `${((now - this.#grantedAt) / 1000).toFixed(1)} s: a frame that holds buffer budget must ` +
      `arrive within ${FRAME_GRACE_MS / 1000} s plus its length at min_frame_rate ` +
      `${this.#budget?.minFrameRate} bytes/s`;
  }

  /**
   * The session's reads are over and no view of its frames is in use: let go of everything and
   * free the reader's buffer at once (a client closed in the middle of a large frame leaves up to
   * its whole length behind).
   */
  dispose(): void {
    this.close();
    this.#reader.free();
  }

  /** The session closed: leave the line, give back what is held, wake a waiting reader. */
  close(): void {
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      if (!this.#budget!.withdraw(waiting)) this.#budget!.release(this.#reader.partialLength);
      const wake = this.#wake;
      this.#wake = undefined;
      wake?.();
    }
    this.active = false;
    this.#giveBack();
  }

  #giveBack(): void {
    if (this.#bytes === 0) return;
    const bytes = this.#bytes;
    this.#bytes = 0;
    this.#budget!.release(bytes);
  }
}
