/**
 * Counters the server and the shared pools bump on per-connection and per-pool events (clients
 * admitted and refused, upstream dials, timeouts, upstream losses, restarts survived). They are
 * passed in options, never global; with none given nothing is counted. Per-frame counting goes
 * through {@linkcode SessionObservers} instead (src/proxy/observer.ts).
 *
 * @module
 */

/** Why a client was turned away before it had a session. */
export type RefusalReason = "max_clients" | "peer_credentials";

/** Events of a shared pool, for one upstream. */
export interface PoolCounters {
  /** An upstream connection died under its clients (not closed by the pool itself). */
  upstreamLost(): void;
  /** The daemon came back after a restart and the pool's event registrations were made again. */
  restartSurvived(): void;
}

/** Events of a server: admission, dials, timeouts, and each upstream's pool events. */
export interface ServerCounters {
  /** A client was admitted on `listener` (its socket path). */
  clientAccepted(listener: string): void;
  /** Client `id` of `listener` has left (its session ended, however it ended). */
  clientLeft(listener: string, id: number): void;
  /** A client was refused on `listener` before it had a session. */
  clientRefused(listener: string, reason: RefusalReason): void;
  /**
   * A dial of `upstream` ended after `seconds` (transport connect plus TLS or ssh handshake);
   * `failed` when it threw.
   */
  dialed(upstream: string, seconds: number, failed: boolean): void;
  /** A client of `upstream` was closed for outstaying one of its timeouts. */
  timedOut(upstream: string): void;
  /** The pool events of `upstream`. */
  pool(upstream: string): PoolCounters;
}
