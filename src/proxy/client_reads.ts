/**
 * How a session reads its client, dedicated or shared: one frame reader whose limit is the
 * pre-open one until CONNECT_OPEN succeeds, large frames held whole within the buffer budget
 * (large_frames.ts: a turn before each read, `min_frame_rate`), the client's read times for its
 * timeouts, and an invalid frame answered and turned into a close reason.
 *
 * @module
 */

import type { Channel } from "../transport/channel.ts";
import { PRE_OPEN_MAX_FRAME_BYTES } from "../wire/constants.ts";
import { DEFAULT_PROGRAMS, FrameError } from "../wire/frame_check.ts";
import { FrameReader } from "../wire/frame_reader.ts";
import type { ClientClock } from "./client_clock.ts";
import type { FrameWriter } from "./frame_writer.ts";
import { CLIENT_ALLOWANCE_BYTES } from "./buffer_budget.ts";
import { LargeFrames, PACED_READ_BYTES } from "./large_frames.ts";
import { rejectInvalidFrame, type SessionOptions } from "./session.ts";

/** Handles one client frame; a returned promise must settle before the next frame is handed out. */
export type ClientFrameHandler = (frame: Uint8Array) => Promise<void> | undefined | void;

/** What {@linkcode ClientReads.frames} needs to answer an invalid frame. */
export interface InvalidFrameOptions {
  /** The client's writer: the answer goes after everything already queued. */
  writer: FrameWriter;
  /** Lets go of upstream state before the client is answered (the session is ending). */
  release: () => void;
  /** Passes on what was gathered from the frames before the invalid one, first. */
  before?: () => Promise<void>;
}

/** The reading side of one client: its frames, their limits and their read times. */
export class ClientReads {
  readonly #client: Channel;
  /** The listener's options: logger, observer, frame limit once opened, budget. */
  readonly #options: SessionOptions;
  readonly #clock: ClientClock;
  /** The client's frames; its limit is the pre-open one until {@linkcode opened}. */
  readonly #reader: FrameReader;
  /** Made at the first frame larger than the allowance: an idle client holds none. */
  #large: LargeFrames | undefined;
  /** The last turn was a paced one: the read that follows takes a bounded slice. */
  #paced = false;

  /** Reads `client`, noting its reads on `clock`, under the listener's `options`. */
  constructor(client: Channel, clock: ClientClock, options: SessionOptions) {
    this.#client = client;
    this.#options = options;
    this.#clock = clock;
    this.#reader = new FrameReader({
      maxFrameBytes: Math.min(options.maxFrameBytes, PRE_OPEN_MAX_FRAME_BYTES),
      programs: options.programs ?? DEFAULT_PROGRAMS,
      direction: "fromClient",
    });
  }

  /** Bytes held that belong to a frame not yet complete. */
  get buffered(): number {
    return this.#reader.buffered;
  }

  /** The frame limit in force: the pre-open one until {@linkcode opened}. */
  get maxFrameBytes(): number {
    return this.#reader.maxFrameBytes;
  }

  /** True once a large frame held whole has been handed out: pass it on, then finish it. */
  get largeArrived(): boolean {
    return this.#large !== undefined && this.#large.active && this.#large.arrived;
  }

  /** The client's CONNECT_OPEN succeeded: lift the pre-open frame limit. */
  opened(): void {
    this.#reader.maxFrameBytes = this.#options.maxFrameBytes;
  }

  /**
   * Before each read: a large frame's wait for budget or for its turn (large_frames.ts), as a
   * promise to await first (check whether the session closed meanwhile), or undefined when the
   * read may go on at once. The session awaits its client's read itself, so that an idle client
   * costs one pending read and nothing more.
   */
  turn(): Promise<void> | undefined {
    if (this.#large === undefined) {
      this.#paced = false;
      if (this.#reader.partialLength <= CLIENT_ALLOWANCE_BYTES) return undefined;
      this.#large = new LargeFrames(this.#reader, {
        budget: this.#options.budget,
        logger: this.#options.logger,
      });
    }
    const admitted = this.#large.beforeRead(this.#clock);
    if (admitted !== undefined) {
      this.#paced = false;
      return admitted;
    }
    const paced = this.#large.pace();
    this.#paced = paced !== undefined;
    return paced;
  }

  /**
   * Where the next read goes (`preserve`: a write of frames handed out before is in flight, keep
   * their bytes in place). After a paced turn, at most {@linkcode PACED_READ_BYTES}: while the
   * budget is contended a turn reads a bounded slice.
   */
  space(preserve: boolean): Uint8Array {
    const space = this.#reader.space(preserve);
    if (this.#paced && space.length > PACED_READ_BYTES) {
      return space.subarray(0, PACED_READ_BYTES);
    }
    return space;
  }

  /**
   * After a read into {@linkcode space}: `n` bytes came in, or null at the client's end (logged
   * when it cut a frame short). False at the end.
   */
  commit(n: number | null): boolean {
    if (n === null) {
      if (this.#reader.buffered > 0) {
        this.#options.logger.warning("Client closed the connection in the middle of a frame", {
          bytes: this.#reader.buffered,
        });
      }
      return false;
    }
    this.#reader.commit(n);
    this.#clock.read();
    return true;
  }

  /**
   * Hands each whole frame read so far to the observer, then to `handle`, in order. Returns
   * undefined, or, when a frame fails a check, the close reason once the client has been
   * answered (the caller closes the session); a promise of that as soon as an observer or a
   * handler returns one (nothing is allocated per read when none does). Other errors reject.
   */
  frames(
    handle: ClientFrameHandler,
    invalid: InvalidFrameOptions,
  ): string | undefined | Promise<string | undefined> {
    const reader = this.#reader;
    const observer = this.#options.observer;
    try {
      let frame: Uint8Array | null;
      while ((frame = reader.next()) !== null) {
        const watched = observer?.fromClient(frame);
        if (watched !== undefined) return this.#framesLater(watched, frame, handle, invalid);
        const handled = handle(frame);
        if (handled !== undefined) return this.#framesLater(handled, undefined, handle, invalid);
      }
      return undefined;
    } catch (error) {
      return this.#rejectFrame(error, invalid);
    }
  }

  /**
   * {@linkcode frames} from the first promise an observer or handler returned: `pending`, then
   * `unhandled` (a frame the observer had not let through yet) and the rest, each awaited.
   */
  async #framesLater(
    pending: Promise<void>,
    unhandled: Uint8Array | undefined,
    handle: ClientFrameHandler,
    invalid: InvalidFrameOptions,
  ): Promise<string | undefined> {
    const reader = this.#reader;
    const observer = this.#options.observer;
    try {
      await pending;
      if (unhandled !== undefined) {
        const handled = handle(unhandled);
        if (handled !== undefined) await handled;
      }
      let frame: Uint8Array | null;
      while ((frame = reader.next()) !== null) {
        const watched = observer?.fromClient(frame);
        if (watched !== undefined) await watched;
        const handled = handle(frame);
        if (handled !== undefined) await handled;
      }
      return undefined;
    } catch (error) {
      return await this.#rejectFrame(error, invalid);
    }
  }

  /** A frame failed a check (`error`): answer the client and resolve to the close reason. */
  async #rejectFrame(error: unknown, invalid: InvalidFrameOptions): Promise<string> {
    if (!(error instanceof FrameError)) throw error;
    await invalid.before?.();
    return await rejectInvalidFrame(error, {
      logger: this.#options.logger,
      maxFrameBytes: this.#reader.maxFrameBytes,
      beforeOpen: this.#reader.maxFrameBytes < this.#options.maxFrameBytes,
      client: this.#client,
      writer: invalid.writer,
      release: invalid.release,
    });
  }

  /** The large frame that arrived has been passed on and no view of it is in use: free it. */
  finishLarge(): void {
    if (this.largeArrived) this.#large!.finish();
  }

  /** After a read's frames are handled: {@linkcode finishLarge}, and note a partial frame held. */
  settle(): void {
    this.finishLarge();
    this.#clock.partial = this.#reader.buffered > 0;
  }

  /** Why the client is closed at `now` under the `min_frame_rate` rule, or undefined. */
  expired(now: number): string | undefined {
    return this.#large?.expired(now);
  }

  /** The session closed: give back the budget held, wake a read waiting for it. */
  close(): void {
    this.#large?.close();
  }

  /** The reads are over and no view of the frames is in use: free the buffer at once. */
  dispose(): void {
    if (this.#large !== undefined) this.#large.dispose();
    else this.#reader.free();
  }
}
