/**
 * How long a pool waits before dialing again after a failed open: from 250 ms, doubling, up to
 * 30 s (2 s while surviving a daemon restart, when the daemon is expected back within seconds).
 * Meanwhile the last failure is the answer to anyone who asks for a connection.
 *
 * @module
 */

import type { UpstreamError } from "../upstream_error.ts";

/** First wait after a failed open. */
const MIN_BACKOFF_MS = 250;
/** Longest wait between two failed opens. */
const MAX_BACKOFF_MS = 30000;
/** Longest wait between two failed opens while surviving a daemon restart. */
const RESTART_BACKOFF_MS = 2000;

/** The backoff state of one pool's opens. */
export class OpenBackoff {
  readonly #maxMs: number;
  #delayMs = 0;
  #retryAt = 0;
  #lastError: UpstreamError | undefined;

  /** Backoff for a pool; `surviving`: it survives daemon restarts (shorter waits). */
  constructor(surviving: boolean) {
    this.#maxMs = surviving ? RESTART_BACKOFF_MS : MAX_BACKOFF_MS;
  }

  /** The current wait (ms); 0 after a success. */
  get delayMs(): number {
    return this.#delayMs;
  }

  /** The last failure since the last success. */
  get lastError(): UpstreamError | undefined {
    return this.#lastError;
  }

  /** The last failure, while its wait is not over yet; undefined when a dial may go ahead. */
  blocking(now: number): UpstreamError | undefined {
    return now < this.#retryAt ? this.#lastError : undefined;
  }

  /** An open failed with `error`: the wait doubles. Returns the new wait (ms). */
  failed(error: UpstreamError): number {
    this.#lastError = error;
    this.#delayMs = Math.min(Math.max(this.#delayMs * 2, MIN_BACKOFF_MS), this.#maxMs);
    this.#retryAt = Date.now() + this.#delayMs;
    return this.#delayMs;
  }

  /** An open succeeded: no wait, no error. */
  succeeded(): void {
    this.#delayMs = 0;
    this.#lastError = undefined;
  }
}
