/**
 * Ordered frame writes to one peer of a shared pool, with two ways in: frames written in place
 * (no copy; the caller waits, which is backpressure) and frames queued as copies (the caller moves
 * on at once). Consecutive queued frames go out in one write, so frames of many clients bound for
 * one upstream connection, or many replies bound for one client, cost one system call.
 *
 * The pool's client side queues replies and events, bounded, so that a client that stops reading
 * never stalls the upstream connection it shares; its upstream side writes a call in place when
 * the connection is idle and queues it while a write is in flight.
 *
 * @module
 */

import { type Channel, writeAll } from "../transport/channel.ts";
import { type BufferBudget, CLIENT_ALLOWANCE_BYTES } from "./buffer_budget.ts";

interface Entry {
  bytes: Uint8Array;
  /** Set for frames written in place: resolves or rejects their writer. */
  settle?: (error?: unknown) => void;
}

/** Options for {@linkcode FrameWriter}. */
export interface FrameWriterOptions {
  /** Bytes that may wait in the queue (a single larger frame is still accepted alone). */
  maxQueuedBytes: number;
  /** Called once when a write fails; the writer drops everything after that. */
  onError: (error: unknown) => void;
  /**
   * Queued bytes past {@linkcode CLIENT_ALLOWANCE_BYTES} are taken from this budget; when it is
   * used up, `enqueue` refuses (a frame queued alone is always taken, beyond the budget if need
   * be: its bytes exist already). Undefined: only `maxQueuedBytes` bounds the queue.
   */
  budget?: BufferBudget;
}

/** Ordered writes to one peer: queued copies and awaited in-place writes, in arrival order. */
export class FrameWriter {
  readonly #channel: Channel;
  readonly #options: FrameWriterOptions;
  #entries: Entry[] = [];
  #queuedBytes = 0;
  #pumping = false;
  #failed = false;
  /** Bytes of the queue taken from the budget. */
  #charged = 0;

  /** Writes to `channel`. */
  constructor(channel: Channel, options: FrameWriterOptions) {
    this.#channel = channel;
    this.#options = options;
  }

  /** Bytes waiting in the queue. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Queues a copy of `frame` (or `frame` itself when `owned`). Returns false, queuing nothing,
   * when that would take the queue over its bound.
   */
  enqueue(frame: Uint8Array, owned = false): boolean {
    if (this.#failed) return true;
    if (this.#queuedBytes > 0 && this.#queuedBytes + frame.length > this.#options.maxQueuedBytes) {
      return false;
    }
    if (
      this.#queuedBytes + frame.length > CLIENT_ALLOWANCE_BYTES + this.#charged &&
      this.#options.budget !== undefined && !this.#charge(frame.length)
    ) {
      return false;
    }
    this.#entries.push({ bytes: owned ? frame : frame.slice() });
    this.#queuedBytes += frame.length;
    this.#pump();
    return true;
  }

  /** Takes from the budget what queuing `length` more bytes needs past the allowance. */
  #charge(length: number): boolean {
    const budget = this.#options.budget!;
    const needed = this.#queuedBytes + length - CLIENT_ALLOWANCE_BYTES - this.#charged;
    if (this.#queuedBytes === 0) budget.force(needed);
    else if (!budget.tryTake(needed)) return false;
    this.#charged += needed;
    return true;
  }

  /** Gives back the budget the queue no longer needs. */
  #refund(): void {
    const keep = Math.max(0, this.#queuedBytes - CLIENT_ALLOWANCE_BYTES);
    if (keep >= this.#charged) return;
    this.#options.budget!.release(this.#charged - keep);
    this.#charged = keep;
  }

  /** Writes `frame` in place after everything queued; resolves once written. */
  write(frame: Uint8Array): Promise<void> {
    if (this.#failed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#entries.push({ bytes: frame, settle: (error) => error ? reject(error) : resolve() });
      this.#pump();
    });
  }

  /**
   * Writes `frame` in place when nothing else is being written or when it is larger than
   * {@linkcode CLIENT_ALLOWANCE_BYTES} (resolving once written: a large frame is not copied, and
   * its sender's buffer budget stays taken until it is out), else queues a copy to go out with the
   * next write (returning undefined). Unbounded: for callers that bound what they send some other
   * way.
   */
  send(frame: Uint8Array): Promise<void> | undefined {
    if (this.#failed) return undefined;
    if (!this.#pumping && this.#entries.length === 0 || frame.length > CLIENT_ALLOWANCE_BYTES) {
      return this.write(frame);
    }
    this.#entries.push({ bytes: frame.slice() });
    this.#queuedBytes += frame.length;
    this.#pump();
    return undefined;
  }

  /** Resolves once everything queued so far has been written (or the writer failed). */
  flushed(): Promise<void> {
    if (this.#failed || this.#entries.length === 0 && !this.#pumping) return Promise.resolve();
    return this.write(new Uint8Array(0)).catch(() => {}); // a failure is reported by onError
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#entries.length > 0 && !this.#failed) {
        const first = this.#entries[0];
        if (first.settle !== undefined) {
          this.#entries.shift();
          try {
            await writeAll(this.#channel, first.bytes);
            first.settle();
          } catch (error) {
            first.settle(error);
            throw error;
          }
          continue;
        }
        // Every queued copy up to the next in-place frame, in one write.
        let count = 1;
        let bytes = first.bytes.length;
        while (count < this.#entries.length && this.#entries[count].settle === undefined) {
          bytes += this.#entries[count++].bytes.length;
        }
        const batch = this.#entries.splice(0, count);
        let data = batch[0].bytes;
        if (count > 1) {
          data = new Uint8Array(bytes);
          let at = 0;
          for (const entry of batch) {
            data.set(entry.bytes, at);
            at += entry.bytes.length;
          }
        }
        await writeAll(this.#channel, data);
        this.#queuedBytes -= bytes;
        if (this.#charged > 0) this.#refund();
      }
    } catch (error) {
      this.#failed = true;
      for (const entry of this.#entries.splice(0)) entry.settle?.(error);
      this.#queuedBytes = 0;
      if (this.#charged > 0) this.#refund();
      this.#options.onError(error);
    } finally {
      this.#pumping = false;
    }
  }
}
