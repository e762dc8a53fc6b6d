/**
 * The calls a dedicated client has sent and not yet had answered, kept so that each can get an
 * error reply if the upstream goes away, and so that the client is paused at its limit.
 *
 * @module
 */

import { ALL_PROGRAM_LIST, PROGRAM_VERSION } from "../wire/constants.ts";
import type { Header } from "../wire/header.ts";
import { CallGate } from "./call_gate.ts";

/** Procedures stay below this, so program index and procedure pack into one small integer. */
const PROCEDURE_SPAN = 1 << 24;

/**
 * Outstanding calls by serial. Each entry is one small integer (program index and procedure), so
 * recording a call allocates nothing.
 */
export class InflightCalls {
  #calls = new Map<number, number>();
  readonly #gate: CallGate;

  /** Tracks calls; {@linkcode belowLimit} waits while `limit` are outstanding. */
  constructor(limit: number) {
    this.#gate = new CallGate(limit);
  }

  /** Number of outstanding calls. */
  get size(): number {
    return this.#calls.size;
  }

  /** Records a call; a second call with a serial still outstanding replaces the first. */
  add(program: number, procedure: number, serial: number): void {
    const index = ALL_PROGRAM_LIST.indexOf(program);
    if (!this.#calls.has(serial)) this.#gate.add();
    this.#calls.set(serial, index * PROCEDURE_SPAN + (procedure & (PROCEDURE_SPAN - 1)));
  }

  /** Records the reply to the call `serial`. */
  delete(serial: number): void {
    if (this.#calls.delete(serial)) this.#gate.done();
  }

  /** Undefined when under the limit, else a promise that resolves once a reply makes room. */
  belowLimit(): Promise<void> | undefined {
    return this.#gate.belowLimit();
  }

  /** Removes and returns every outstanding call as a header to answer. */
  takeAll(): Header[] {
    const headers: Header[] = [];
    for (const [serial, packed] of this.#calls) {
      headers.push({
        length: 0,
        program: ALL_PROGRAM_LIST[Math.floor(packed / PROCEDURE_SPAN)],
        version: PROGRAM_VERSION,
        procedure: packed % PROCEDURE_SPAN,
        type: 0,
        serial,
        status: 0,
      });
    }
    this.#calls.clear();
    this.#gate.clear();
    return headers;
  }
}
