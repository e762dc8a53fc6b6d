/**
 * The per-client limit on outstanding calls (`max_inflight_per_client`), enforced the way libvirtd
 * enforces `max_client_requests`: at the limit the session stops reading its client until a reply
 * brings the count back under it. Both session kinds pause through this one gate.
 *
 * @module
 */

/** Counts a client's outstanding calls and holds its reader at `limit`. */
export class CallGate {
  readonly #limit: number;
  #count = 0;
  /** Readers paused at the limit; made when the first one pauses (an idle client has none). */
  #waiters: (() => void)[] | undefined;

  /** A gate that closes at `limit` outstanding calls. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Calls outstanding now. */
  get count(): number {
    return this.#count;
  }

  /** Notes a call sent on. */
  add(): void {
    this.#count++;
  }

  /** Notes a call answered; wakes the reader when that brings the count under the limit. */
  done(): void {
    this.#count--;
    if (this.#waiters !== undefined && this.#count < this.#limit) this.#wakeAll();
  }

  /** Forgets every outstanding call at once (the upstream went away, the session closed). */
  clear(): void {
    this.#count = 0;
    this.#wakeAll();
  }

  /** Undefined when under the limit, else a promise that resolves once a reply makes room. */
  belowLimit(): Promise<void> | undefined {
    if (this.#count < this.#limit) return undefined;
    return new Promise((resolve) => (this.#waiters ??= []).push(resolve));
  }

  /** Wakes a paused reader without a reply, so that it can see the session closing. */
  wake(): void {
    this.#wakeAll();
  }

  #wakeAll(): void {
    const waiters = this.#waiters;
    this.#waiters = undefined;
    for (const wake of waiters ?? []) wake();
  }
}
