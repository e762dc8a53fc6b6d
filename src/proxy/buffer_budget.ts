/**
 * The process-wide budget for frame bytes held beyond each client's small allowance
 * (`[limits] max_buffered_bytes`): incoming frames larger than the allowance, in both modes, and
 * the reply queues of shared-mode clients past theirs. A client whose next frame does not fit
 * waits, unread, in arrival order (backpressure, as libvirtd does at max_client_requests); it is
 * not failed. Nothing here runs for frames within the allowance, so good clients' small calls
 * never touch it.
 *
 * @module
 */

import { tuneMalloc } from "./malloc_tuning.ts";

/**
 * Bytes of frames a client may hold without drawing on the budget: an incoming frame up to this
 * size, and replies queued for it up to this much. libvirt's own VIR_NET_MESSAGE_INITIAL (the
 * buffer a daemon or client starts every message with) is the same 64 KiB.
 */
export const CLIENT_ALLOWANCE_BYTES = 65536;

/** Options for {@linkcode BufferBudget}. */
export interface BufferBudgetOptions {
  /** Bytes that may be held beyond the clients' allowances (`max_buffered_bytes`). */
  maxBytes: number;
  /**
   * A frame that holds budget must arrive within 1 s plus its length at this rate, in bytes per
   * second (`min_frame_rate`); 0 turns the rule off.
   */
  minFrameRate: number;
}

/** A place in line for budget. */
interface Waiter {
  bytes: number;
  grant: () => void;
}

/** The shared counter of bytes held beyond allowances, with a FIFO line of waiting clients. */
export class BufferBudget {
  #maxBytes: number;
  #minFrameRate: number;
  #used = 0;
  #line: Waiter[] = [];
  #turns: (() => void)[] = [];
  #turnTimer: ReturnType<typeof setTimeout> | undefined;

  /** A budget of `maxBytes`. */
  constructor(options: BufferBudgetOptions) {
    if (Number.isFinite(options.maxBytes)) tuneMalloc();
    this.#maxBytes = options.maxBytes;
    this.#minFrameRate = options.minFrameRate;
  }

  /** Bytes that may be taken. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Bytes per second a budgeted frame must arrive at (0: no rule). */
  get minFrameRate(): number {
    return this.#minFrameRate;
  }

  /**
   * Applies new limits (a config reload); bytes taken stay taken, and waiters that now fit are
   * granted. A rate change applies to frames granted from now on.
   */
  configure(options: BufferBudgetOptions): void {
    if (Number.isFinite(options.maxBytes)) tuneMalloc(); // freed frames must leave the RSS
    this.#maxBytes = options.maxBytes;
    this.#minFrameRate = options.minFrameRate;
    this.#grantWaiting();
  }

  /** Bytes taken now (may exceed {@linkcode maxBytes} after {@linkcode force}). */
  get used(): number {
    return this.#used;
  }

  /** Clients waiting in line. */
  get waiting(): number {
    return this.#line.length;
  }

  /**
   * Takes `bytes` for an incoming frame: undefined when granted at once, else a promise that
   * resolves when granted, in arrival order. A waiter that gives up calls {@linkcode withdraw}
   * with the same promise.
   */
  take(bytes: number): Promise<void> | undefined {
    if (this.#line.length === 0 && this.#fits(bytes)) {
      this.#used += bytes;
      return undefined;
    }
    const waiter: Waiter = { bytes, grant: () => {} };
    const granted = new Promise<void>((resolve) => waiter.grant = resolve);
    waiters.set(granted, waiter);
    this.#line.push(waiter);
    return granted;
  }

  /**
   * Gives up a place in line taken by {@linkcode take}; true when it was still waiting, false
   * when the bytes had been granted already (the caller must {@linkcode release} them).
   */
  withdraw(granted: Promise<void>): boolean {
    const waiter = waiters.get(granted);
    if (waiter === undefined) return false;
    const index = this.#line.indexOf(waiter);
    if (index < 0) return false;
    this.#line.splice(index, 1);
    waiters.delete(granted);
    this.#grantWaiting(); // the head may have changed
    return true;
  }

  /** Takes `bytes` if they fit now, ahead of the line (a reply cannot wait); false if not. */
  tryTake(bytes: number): boolean {
    if (this.#used + bytes > this.#maxBytes) return false;
    this.#used += bytes;
    return true;
  }

  /** Takes `bytes` even beyond the budget (bytes that exist already); the line waits longer. */
  force(bytes: number): void {
    this.#used += bytes;
  }

  /** Gives `bytes` back and grants waiters that now fit, in order. */
  release(bytes: number): void {
    this.#used -= bytes;
    this.#grantWaiting();
  }

  /**
   * A large frame's turn to read again: one reader per turn of the event loop, in arrival order,
   * so that large frames, however many, take a bounded share of the loop and small calls keep
   * their pace.
   */
  turn(): Promise<void> {
    const turn = new Promise<void>((resolve) => this.#turns.push(resolve));
    if (this.#turnTimer === undefined) this.#turnTimer = setTimeout(this.#nextTurn, 0);
    return turn;
  }

  #nextTurn = (): void => {
    this.#turnTimer = undefined;
    this.#turns.shift()?.();
    if (this.#turns.length > 0) this.#turnTimer = setTimeout(this.#nextTurn, 0);
  };

  /** Whether `bytes` fit now; a frame larger than the whole budget may go alone. */
  #fits(bytes: number): boolean {
    return this.#used + bytes <= this.#maxBytes || this.#used === 0;
  }

  #grantWaiting(): void {
    while (this.#line.length > 0) {
      const head = this.#line[0];
      if (!this.#fits(head.bytes)) return;
      this.#line.shift();
      this.#used += head.bytes;
      head.grant();
    }
  }
}

/** Waiters by the promise {@linkcode BufferBudget.take} returned, for withdraw. */
const waiters = new WeakMap<Promise<void>, Waiter>();
