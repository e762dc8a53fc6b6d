/**
 * Forwarding in runs: the frames a reader hands out between two reads lie back to back in its
 * buffer, so a dedicated session passes each run of them on in one write instead of one write per
 * frame. A long run's write may go on while the next read fills the reader (FrameReader.space
 * with `preserve` keeps the run's bytes in place meanwhile).
 *
 * @module
 */

/** Runs at least this long are written while the next read goes on. */
export const OVERLAP_BYTES = 65536;

/** The run of frames gathered since the last write, and a long run's write still in flight. */
export class FrameRuns {
  readonly #write: (bytes: Uint8Array) => Promise<void>;
  #buffer: ArrayBufferLike | undefined;
  #start = -1;
  #end = -1;
  #writing: Promise<void> | undefined;

  /** Gathers runs that `write` passes on. */
  constructor(write: (bytes: Uint8Array) => Promise<void>) {
    this.#write = write;
  }

  /** True while a long run's write is in flight: the next read must leave its bytes in place. */
  get writing(): boolean {
    return this.#writing !== undefined;
  }

  /** Hands over the write in flight, to be awaited (it rejects as the write did), or undefined. */
  takeWriting(): Promise<void> | undefined {
    const writing = this.#writing;
    this.#writing = undefined;
    return writing;
  }

  /** Adds `frame`, which lies right after the run's last frame (or starts a run). */
  add(frame: Uint8Array): undefined {
    if (this.#start < 0) {
      this.#buffer = frame.buffer;
      this.#start = frame.byteOffset;
    }
    this.#end = frame.byteOffset + frame.length;
    return undefined;
  }

  /** Writes the run gathered so far, if any, and waits for the write. */
  async flush(): Promise<void> {
    const run = this.#take();
    if (run !== undefined) await this.#write(run);
  }

  /**
   * Writes the run gathered so far, if any: a short one's write is returned, to be waited for; a
   * long one ({@linkcode OVERLAP_BYTES} and up) is left in flight, for {@linkcode takeWriting}.
   */
  flushOverlapped(): Promise<void> | undefined {
    const run = this.#take();
    if (run === undefined) return undefined;
    if (run.length < OVERLAP_BYTES) return this.#write(run);
    const writing = this.#write(run);
    writing.catch(() => {}); // awaited after the next read
    this.#writing = writing;
    return undefined;
  }

  #take(): Uint8Array | undefined {
    if (this.#start < 0) return undefined;
    const run = new Uint8Array(this.#buffer!, this.#start, this.#end - this.#start);
    this.#start = -1;
    this.#buffer = undefined;
    return run;
  }
}
