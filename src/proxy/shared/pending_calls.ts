/**
 * The calls a shared pool has forwarded and not yet seen answered, per connection and upstream
 * serial: where each reply goes, and what it means for streams and event registrations. A
 * connection's map exists from its open until it is lost, so "has a map" means "alive".
 *
 * @module
 */

import { MessageType, PROGRAM_VERSION } from "../../wire/constants.ts";
import type { Header } from "../../wire/header.ts";
import type { PoolClient } from "./pool_client.ts";
import type { Registration } from "./registrations.ts";
import type { StreamRoute, StreamRoutes } from "./stream_routes.ts";
import type { UpstreamConnection } from "./upstream_connection.ts";

/** A call forwarded upstream and not yet answered. */
export interface PendingCall {
  /** Who gets the reply; undefined for the proxy's own calls and for clients that left. */
  client: PoolClient | undefined;
  /** The serial the client gave it. */
  readonly clientSerial: number;
  /** Its program. */
  readonly program: number;
  /** Its procedure. */
  readonly procedure: number;
  /** The stream this call opens, routed from the moment it is sent. */
  stream: StreamRoute | undefined;
  /** The event registration this call makes. */
  readonly registration: Registration | undefined;
  /** The event registration this call undoes. */
  readonly leaving: Registration | undefined;
  /** Whether it holds a heavy slot of the scheduler (a frame over HEAVY_CALL_BYTES). */
  readonly heavy?: boolean;
}

/** Pending calls by connection and upstream serial. */
export class PendingCalls {
  readonly #byConnection = new Map<UpstreamConnection, Map<number, PendingCall>>();
  readonly #streams: StreamRoutes;

  /** Tracks calls; `streams` holds serials that stay taken while a stream runs. */
  constructor(streams: StreamRoutes) {
    this.#streams = streams;
  }

  /** Starts tracking a newly opened connection. */
  opened(connection: UpstreamConnection): void {
    this.#byConnection.set(connection, new Map());
  }

  /** Whether `connection` is open and tracked (not lost yet). */
  tracks(connection: UpstreamConnection): boolean {
    return this.#byConnection.has(connection);
  }

  /** A serial no pending call or stream on `connection` uses. */
  allocate(connection: UpstreamConnection): number {
    const calls = this.#byConnection.get(connection);
    return connection.allocateSerial((s) =>
      calls?.has(s) === true || this.#streams.usesSerial(connection, s)
    );
  }

  /** Records `call`, sent on `connection` with `serial`. */
  add(connection: UpstreamConnection, serial: number, call: PendingCall): void {
    this.#byConnection.get(connection)?.set(serial, call);
  }

  /** Removes and returns the call a reply with `serial` on `connection` answers. */
  take(connection: UpstreamConnection, serial: number): PendingCall | undefined {
    const calls = this.#byConnection.get(connection);
    const call = calls?.get(serial);
    if (call !== undefined) calls!.delete(serial);
    return call;
  }

  /**
   * `client` left: replies still due to it will be dropped, and it no longer waits on any
   * registration. Returns the headers of the calls it had outstanding.
   */
  forget(client: PoolClient): Header[] {
    const unanswered: Header[] = [];
    for (const calls of this.#byConnection.values()) {
      for (const call of calls.values()) {
        if (call.client === client) {
          call.client = undefined;
          unanswered.push(pendingHeader(call, call.clientSerial));
        }
        const registration = call.registration;
        if (registration?.waiting.some((w) => w.client === client)) {
          for (const waiter of registration.waiting) {
            if (waiter.client === client) unanswered.push(pendingHeader(call, waiter.serial));
          }
          registration.waiting = registration.waiting.filter((w) => w.client !== client);
        }
      }
    }
    return unanswered;
  }

  /** `connection` is gone: stops tracking it and returns its calls (undefined if untracked). */
  lost(connection: UpstreamConnection): Map<number, PendingCall> | undefined {
    const calls = this.#byConnection.get(connection);
    this.#byConnection.delete(connection);
    return calls;
  }
}

/** The header of a pending call (or stream), for an error reply to the client serial `serial`. */
export function pendingHeader(
  call: { readonly program: number; readonly procedure: number },
  serial: number,
): Header {
  return {
    length: 0,
    program: call.program,
    version: PROGRAM_VERSION,
    procedure: call.procedure,
    type: MessageType.CALL,
    serial,
    status: 0,
  };
}
