/**
 * The calls a client has sent and not yet had answered, kept so that each can get an error reply
 * if the upstream goes away, and so that a client can be paused at its limit.
 *
 * @module
 */

import { Program, PROGRAM_VERSION } from "../wire/constants.ts";
import type { Header } from "../wire/header.ts";

const PROGRAMS = [Program.REMOTE, Program.QEMU, Program.LXC, Program.ADMIN, Program.KEEPALIVE];
/** Procedures stay below this, so program index and procedure pack into one small integer. */
const PROCEDURE_SPAN = 1 << 24;

/**
 * Outstanding calls by serial. Each entry is one small integer (program index and procedure), so
 * recording a call allocates nothing.
 */
export class InflightCalls {
  #calls = new Map<number, number>();
  #waiters: (() => void)[] = [];
  readonly #limit: number;

  /** Tracks calls; {@linkcode belowLimit} waits while `limit` are outstanding. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Number of outstanding calls. */
  get size(): number {
    return this.#calls.size;
  }

  /** Records a call. */
  add(program: number, procedure: number, serial: number): void {
    const index = PROGRAMS.indexOf(program as typeof PROGRAMS[number]);
    this.#calls.set(serial, index * PROCEDURE_SPAN + (procedure & (PROCEDURE_SPAN - 1)));
  }

  /** Records the reply to the call `serial`. */
  delete(serial: number): void {
    if (this.#calls.delete(serial) && this.#waiters.length > 0 && this.#calls.size < this.#limit) {
      for (const wake of this.#waiters.splice(0)) wake();
    }
  }

  /** Resolves at once when under the limit, else when a reply brings the count under it. */
  belowLimit(): Promise<void> | undefined {
    if (this.#calls.size < this.#limit) return undefined;
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Removes and returns every outstanding call as a header to answer. */
  takeAll(): Header[] {
    const headers: Header[] = [];
    for (const [serial, packed] of this.#calls) {
      headers.push({
        length: 0,
        program: PROGRAMS[Math.floor(packed / PROCEDURE_SPAN)],
        version: PROGRAM_VERSION,
        procedure: packed % PROCEDURE_SPAN,
        type: 0,
        serial,
        status: 0,
      });
    }
    this.#calls.clear();
    for (const wake of this.#waiters.splice(0)) wake();
    return headers;
  }
}
