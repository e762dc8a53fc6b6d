/**
 * What a shared pool holds at a moment, for `virtmux status` and the metrics.
 *
 * @module
 */

import type { ConnectionScheduler } from "./scheduler.ts";
import type { StreamRoutes } from "./stream_routes.ts";

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

/** A pool's stats from its scheduler and streams, and the counts only the pool knows. */
export function collectPoolStats(
  scheduler: ConnectionScheduler,
  streams: StreamRoutes,
  own: Pick<PoolStats, "clients" | "waitingClients" | "registrations">,
): PoolStats {
  let streamCount = 0;
  for (const connection of scheduler.connections()) streamCount += streams.countOn(connection);
  return {
    clients: own.clients,
    waitingClients: own.waitingClients,
    connections: scheduler.size,
    busy: scheduler.busy,
    opening: scheduler.opening,
    inflight: scheduler.inflight,
    queued: scheduler.queued,
    streams: streamCount,
    registrations: own.registrations,
    opened: scheduler.opened,
  };
}
