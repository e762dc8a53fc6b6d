/**
 * What a shared pool holds at a moment, for `virtmux status` and the metrics.
 *
 * @module
 */

/** What a pool holds now, for `virtmux status` and the metrics gauges. */
export interface PoolStats {
  /** Clients attached. */
  clients: number;
  /** Clients that chose the pool and wait for it to be ready. */
  waitingClients: number;
  /** Open connections. */
  connections: number;
  /** Open connections with calls outstanding. */
  busy: number;
  /** Connections being opened. */
  opening: number;
  /** Calls outstanding upstream. */
  inflight: number;
  /** Calls waiting for a connection slot. */
  queued: number;
  /** Streams open. */
  streams: number;
  /** Event registrations held upstream. */
  registrations: number;
  /** Connections opened over the pool's life. */
  opened: number;
}
