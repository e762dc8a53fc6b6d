/**
 * Finding frame boundaries in a byte stream. Bytes are read straight into one reused buffer and
 * frames are handed out as views of it, never copied; the buffer grows only as a frame's bytes
 * actually arrive and drops back to its small size when the peer goes quiet.
 *
 * @module
 */

import { ALL_PROGRAMS, ErrorCode, HEADER_BYTES, LENGTH_BYTES, OFFSET } from "./constants.ts";
import { readU32 } from "./header.ts";
import {
  answerableHeader,
  checkHeader,
  checkLength,
  FrameError,
  type FrameLimits,
  resolveLimits,
} from "./frame_check.ts";

/** Options for {@linkcode FrameReader}. */
export interface FrameReaderOptions extends FrameLimits {
  /**
   * The buffer's starting and resting size. Small, so that idle peers cost little: a pending read
   * holds its buffer, and 10,000 idle clients hold 10,000 of them.
   *
   * @default {256}
   */
  initialBytes?: number;
  /**
   * The size up to which the buffer grows when reads keep filling it, for throughput.
   *
   * @default {262144}
   */
  burstBytes?: number;
}

/**
 * Splits a byte stream into whole, checked frames.
 *
 * Usage: read into {@linkcode FrameReader.space}, report the count with
 * {@linkcode FrameReader.commit}, then take frames with {@linkcode FrameReader.next} until it
 * returns null. A returned view stays valid until the next call to `space()`; frames returned
 * between two reads lie back to back in the buffer.
 *
 * @example Reading two frames from one chunk
 * ```ts
 * import assert from "node:assert/strict";
 * import { MessageType, Program } from "./constants.ts";
 * import { FrameReader } from "./frame_reader.ts";
 * import { encodeMessage } from "./message.ts";
 *
 * const call = encodeMessage({
 *   program: Program.REMOTE,
 *   procedure: 1,
 *   type: MessageType.CALL,
 *   serial: 0,
 * });
 * const reader = new FrameReader();
 * reader.space().set([...call, ...call]);
 * reader.commit(call.length * 2);
 * assert.equal(reader.next()?.length, 28);
 * assert.equal(reader.next()?.length, 28);
 * assert.equal(reader.next(), null);
 * ```
 */
export class FrameReader {
  #buf: Uint8Array;
  /** Start of the bytes not yet handed out. */
  #start = 0;
  /** End of the bytes read. */
  #end = 0;
  /** Length of the frame at #start once its length word and header have passed the checks. */
  #checkedLength = 0;
  /** Size of the last read, to tell a busy peer from a quiet one. */
  #lastRead = 0;
  /** Frames handed out so far. */
  #taken = 0;
  #maxFrameBytes: number;
  /** A second buffer for `space(true)`, kept while the peer is busy. */
  #spare: Uint8Array | undefined;
  readonly #initialBytes: number;
  readonly #burstBytes: number;
  readonly #limits: Required<FrameLimits>;

  /** Makes a reader with an empty buffer of `initialBytes`. */
  constructor(options: FrameReaderOptions = {}) {
    this.#limits = resolveLimits(options);
    this.#maxFrameBytes = this.#limits.maxFrameBytes;
    this.#initialBytes = Math.max(options.initialBytes ?? 256, HEADER_BYTES);
    this.#burstBytes = Math.max(options.burstBytes ?? 262144, this.#initialBytes);
    this.#buf = new Uint8Array(this.#initialBytes);
  }

  /** Bytes held that belong to a frame not yet complete. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** The buffer's current size, for tests and memory accounting. */
  get capacity(): number {
    return this.#buf.length;
  }

  /**
   * Largest frame accepted from now on, length word included; a session lowers it until the
   * client has opened its connection.
   */
  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  set maxFrameBytes(bytes: number) {
    this.#maxFrameBytes = bytes;
  }

  /** Length of the incomplete frame at hand once its header has passed the checks, else 0. */
  get partialLength(): number {
    return this.#checkedLength;
  }

  /** How many frames {@linkcode next} has handed out. */
  get taken(): number {
    return this.#taken;
  }

  /**
   * Gives the incomplete frame at hand a buffer of exactly its length, so that a large frame
   * costs its own size once instead of a chain of doublings. Call it between {@linkcode next}
   * and `space()`; views handed out before stay valid (they keep the old buffer).
   */
  reserve(): void {
    const length = this.#checkedLength;
    if (length === 0 || this.#start + length <= this.#buf.length) return;
    const old = this.#buf;
    this.#buf = new Uint8Array(length);
    this.#buf.set(old.subarray(this.#start, this.#end));
    this.#end -= this.#start;
    this.#start = 0;
    this.#spare = undefined;
  }

  /**
   * Lets go of a buffer larger than `keepBytes` (and of the spare), keeping the bytes still held.
   * Call it only once no view of the frames handed out is in use any more: the old buffer's
   * memory is freed at once (detached), not whenever the garbage collector gets to it, so that
   * a proxy passing many large frames does not carry tens of MiB of them as garbage.
   */
  shrink(keepBytes: number = this.#burstBytes): void {
    this.#spare = undefined;
    if (this.#buf.length <= keepBytes) return;
    const held = this.#end - this.#start;
    const old = this.#buf;
    this.#buf = new Uint8Array(Math.max(this.#initialBytes, held));
    this.#buf.set(old.subarray(this.#start, this.#end));
    this.#start = 0;
    this.#end = held;
    this.#lastRead = 0;
    if (old.byteOffset === 0 && old.length === old.buffer.byteLength) {
      (old.buffer as ArrayBuffer).transfer(0); // frees the backing store now
    }
  }

  /**
   * A view of free space to read into. Views from {@linkcode next} are invalid afterwards: the
   * leftover partial frame may move to the front, or into a larger or smaller buffer. With
   * `preserve`, the bytes of frames already returned are left untouched (the read goes after them,
   * or into a second buffer), so a write of them may still be in flight during the read.
   */
  space(preserve = false): Uint8Array {
    const held = this.#end - this.#start;
    const capacity = this.#buf.length;
    const filled = this.#lastRead > 0 && this.#end === capacity;
    if (held === 0) {
      if (preserve && capacity - this.#end >= capacity >> 2) {
        return this.#buf.subarray(this.#end); // room after the frames still being written
      }
      let size = capacity;
      if (filled && size < this.#burstBytes) {
        size = Math.min(size * 2, this.#burstBytes); // the peer is sending fast
      } else if (!filled && this.#lastRead < size >> 2 && size > this.#initialBytes) {
        size = this.#initialBytes; // quiet again: give the large buffer back
      }
      if (preserve) {
        this.#swap(size);
      } else if (size !== capacity) {
        this.#buf = new Uint8Array(size);
      }
      this.#start = this.#end = 0;
      return this.#buf;
    }
    // A partial frame is held. Its length is known once 28 bytes are in (capacity >= 28).
    const needed = this.#checkedLength > 0 ? this.#checkedLength : HEADER_BYTES;
    if (
      capacity > this.#initialBytes && held <= this.#initialBytes &&
      needed <= this.#initialBytes && this.#lastRead < capacity >> 2
    ) {
      this.#moveTo(this.#initialBytes, preserve); // quiet, and what remains fits the small buffer
    } else if (this.#end === capacity && this.#start === 0) {
      // Full of one partial frame: double, so the size never runs ahead of the bytes held.
      this.#moveTo(Math.min(capacity * 2, Math.max(needed, held + 1)), preserve);
    } else if (this.#start > 0 && capacity - this.#end < Math.min(needed - held, capacity >> 2)) {
      this.#moveTo(capacity, preserve); // little room left at the end: slide the partial frame
    }
    return this.#buf.subarray(this.#end);
  }

  /** Makes the spare buffer (of at least `size`) the current one; the old one becomes spare. */
  #swap(size: number): void {
    const spare = this.#spare !== undefined && this.#spare.length === size
      ? this.#spare
      : new Uint8Array(size);
    this.#spare = this.#buf.length === size ? this.#buf : undefined;
    this.#buf = spare;
  }

  /** Moves the held bytes to the start of a buffer of `size` (a new one if the size differs). */
  #moveTo(size: number, preserve = false): void {
    const held = this.#end - this.#start;
    size = Math.max(size, held);
    if (size === this.#buf.length && !preserve) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      // Into another buffer: with `preserve`, a write may still be sending from this one.
      const old = this.#buf;
      if (preserve) this.#swap(size);
      else this.#buf = new Uint8Array(size);
      this.#buf.set(old.subarray(this.#start, this.#end));
    }
    this.#start = 0;
    this.#end = held;
  }

  /**
   * Drops every byte held and frees the buffer at once (detached): for a reader whose peer is
   * gone, once no view of its frames is in use. The reader must not be used afterwards.
   */
  free(): void {
    const old = this.#buf;
    this.#buf = new Uint8Array(0);
    this.#spare = undefined;
    this.#start = this.#end = this.#checkedLength = 0;
    if (old.byteOffset === 0 && old.length === old.buffer.byteLength) {
      (old.buffer as ArrayBuffer).transfer(0);
    }
  }

  /** Records that `n` bytes were read into the view {@linkcode space} returned. */
  commit(n: number): void {
    this.#end += n;
    this.#lastRead = n;
  }

  /**
   * The next whole frame as a view of the buffer, or null when more bytes are needed.
   *
   * @throws {FrameError} when the frame at hand fails a check; its header is attached when the
   * sender can be answered. The reader must not be used afterwards.
   */
  next(): Uint8Array | null {
    const held = this.#end - this.#start;
    if (this.#checkedLength === 0) {
      if (held < LENGTH_BYTES) return null;
      const length = readU32(this.#buf, this.#start);
      const lengthProblem = checkLength(length, this.#maxFrameBytes);
      if (lengthProblem !== undefined) {
        // A frame shorter than a header has none: whatever follows is not its header.
        throw new FrameError(
          lengthProblem,
          length,
          length >= HEADER_BYTES
            ? answerableHeader(this.#buf.subarray(0, this.#end), this.#start)
            : undefined,
        );
      }
      if (held < HEADER_BYTES) return null;
      const headerProblem = checkHeader(
        this.#buf,
        this.#start,
        this.#limits.programs,
        this.#limits.direction,
      );
      if (headerProblem !== undefined) {
        const program = readU32(this.#buf, this.#start + OFFSET.program);
        throw new FrameError(
          headerProblem,
          length,
          answerableHeader(this.#buf.subarray(0, this.#end), this.#start),
          ALL_PROGRAMS.has(program) && !this.#limits.programs.has(program)
            ? ErrorCode.OPERATION_DENIED
            : ErrorCode.RPC,
        );
      }
      this.#checkedLength = length;
    }
    if (held < this.#checkedLength) return null;
    const frame = this.#buf.subarray(this.#start, this.#start + this.#checkedLength);
    this.#start += this.#checkedLength;
    this.#checkedLength = 0;
    this.#taken++;
    return frame;
  }
}
