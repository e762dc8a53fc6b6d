/**
 * How a session reads its client, dedicated or shared: one frame reader whose limit is the
 * pre-open one until CONNECT_OPEN succeeds, large frames held whole within the buffer budget
 * (large_frames.ts: a turn before each read, `min_frame_rate`), the client's read times for its
 * timeouts, and an invalid frame answered and turned into a close reason.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Channel } from "../transport/channel.ts";
import { PRE_OPEN_MAX_FRAME_BYTES } from "../wire/constants.ts";
import { DEFAULT_PROGRAMS, FrameError } from "../wire/frame_check.ts";
import { FrameReader } from "../wire/frame_reader.ts";
import type { ClientClock } from "./client_clock.ts";
import type { FrameWriter } from "./frame_writer.ts";
import { LargeFrames, PACED_READ_BYTES } from "./large_frames.ts";
import type { SessionObserver } from "./observer.ts";
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
  readonly #clock: ClientClock;
  readonly #log: Logger;
  readonly #observer: SessionObserver | undefined;
  /** The listener's frame limit, in force once the client has opened its connection. */
  readonly #maxFrameBytes: number;
  readonly #reader: FrameReader;
  readonly #large: LargeFrames;

  /** Reads `client`, noting its reads on `clock`, under the listener's `options`. */
  constructor(client: Channel, clock: ClientClock, options: SessionOptions) {
    this.#client = client;
    this.#clock = clock;
    this.#log = options.logger;
    this.#observer = options.observer;
    this.#maxFrameBytes = options.maxFrameBytes;
    this.#reader = new FrameReader({
      maxFrameBytes: Math.min(options.maxFrameBytes, PRE_OPEN_MAX_FRAME_BYTES),
      programs: options.programs ?? DEFAULT_PROGRAMS,
      direction: "fromClient",
    });
    this.#large = new LargeFrames(this.#reader, { budget: options.budget, logger: options.logger });
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
    return this.#large.active && this.#large.arrived;
  }

  /** The client's CONNECT_OPEN succeeded: lift the pre-open frame limit. */
  opened(): void {
    this.#reader.maxFrameBytes = this.#maxFrameBytes;
  }

  /**
   * Waits for a large frame's budget or turn (large_frames.ts), then reads more of the client.
   * `writing`, a write of frames handed out before, may still be in flight: their bytes stay put
   * during the read, and it is awaited (rejecting as it does) once the read is done. Resolves to
   * the space read into (the frames are views of its buffer), null at the client's end (logged
   * when it cut a frame short), or undefined when `closed()` became true while waiting.
   */
  async read(
    closed: () => boolean,
    writing?: Promise<void>,
  ): Promise<Uint8Array | null | undefined> {
    const reader = this.#reader;
    const admitted = this.#large.beforeRead(this.#clock);
    const paced = admitted === undefined ? this.#large.pace() : undefined;
    const turn = admitted ?? paced;
    if (turn !== undefined) {
      await turn;
      if (closed()) {
        await writing;
        return undefined;
      }
    }
    let space = reader.space(writing !== undefined);
    // A turn taken while the budget is contended reads a bounded slice (see PACED_READ_BYTES).
    if (paced !== undefined && space.length > PACED_READ_BYTES) {
      space = space.subarray(0, PACED_READ_BYTES);
    }
    const n = await this.#client.read(space);
    if (writing !== undefined) await writing;
    if (n === null) {
      if (reader.buffered > 0) {
        this.#log.warning("Client closed the connection in the middle of a frame", {
          bytes: reader.buffered,
        });
      }
      return null;
    }
    reader.commit(n);
    this.#clock.read();
    return space;
  }

  /**
   * Hands each whole frame read so far to the observer, then to `handle`, in order. Resolves to
   * undefined, or, when a frame fails a check, to the close reason once the client has been
   * answered (the caller closes the session). Other errors reject.
   */
  async frames(
    handle: ClientFrameHandler,
    invalid: InvalidFrameOptions,
  ): Promise<string | undefined> {
    const reader = this.#reader;
    const observer = this.#observer;
    let frame: Uint8Array | null;
    try {
      while ((frame = reader.next()) !== null) {
        const watched = observer?.fromClient(frame);
        if (watched !== undefined) await watched;
        const handled = handle(frame);
        if (handled !== undefined) await handled;
      }
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      await invalid.before?.();
      return await rejectInvalidFrame(error, {
        logger: this.#log,
        maxFrameBytes: reader.maxFrameBytes,
        beforeOpen: reader.maxFrameBytes < this.#maxFrameBytes,
        client: this.#client,
        writer: invalid.writer,
        release: invalid.release,
      });
    }
    return undefined;
  }

  /** The large frame that arrived has been passed on and no view of it is in use: free it. */
  finishLarge(): void {
    if (this.largeArrived) this.#large.finish();
  }

  /** After a read's frames are handled: {@linkcode finishLarge}, and note a partial frame held. */
  settle(): void {
    this.finishLarge();
    this.#clock.partial = this.#reader.buffered > 0;
  }

  /** Why the client is closed at `now` under the `min_frame_rate` rule, or undefined. */
  expired(now: number): string | undefined {
    return this.#large.expired(now);
  }

  /** The session closed: give back the budget held, wake a read waiting for it. */
  close(): void {
    this.#large.close();
  }

  /** The reads are over and no view of the frames is in use: free the buffer at once. */
  dispose(): void {
    this.#large.dispose();
  }
}
