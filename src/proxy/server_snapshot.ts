/**
 * What a running server holds, read at once for `virtmux status`, `virtmux clients` and the
 * metrics gauges: listeners, upstreams with their connections and pools, and clients. Nothing
 * here is kept up to date on the hot path; it is assembled from live state when asked.
 *
 * @module
 */

import type { PoolStats } from "./shared/pool.ts";

/** One listening socket. */
export interface ListenerSnapshot {
  /** Its path. */
  socket: string;
  /** The upstream its clients reach (unless routed by name). */
  upstream: string;
  /** Whether every open through it is read-only. */
  readonly: boolean;
  /** Clients connected through it now. */
  clients: number;
}

/** One client. */
export interface ClientSnapshot {
  /** The proxy's id for it (the `client` field of the logs). */
  id: number;
  /** The socket it came through. */
  listener: string;
  /** The upstream of that listener. */
  upstream: string;
  /** Whether it is served by a shared pool. */
  shared: boolean;
  /** Peer uid, gid, pid (SO_PEERCRED), when read. */
  uid?: number;
  /** Primary group of the peer. */
  gid?: number;
  /** Process id of the peer. */
  pid?: number;
  /** When it connected, ms since the epoch. */
  since: number;
  /** Calls outstanding now. */
  inflight: number;
  /** Calls made so far, when the metrics count them. */
  calls?: number;
}

/** One shared pool. */
export interface PoolSnapshot extends PoolStats {
  /** Its upstream. */
  upstream: string;
  /** The name each connection opens ("" for the daemon's default). */
  openName: string;
  /** Whether it opens read-only. */
  readonly: boolean;
}

/** One upstream's connections, in pools and in dedicated sessions. */
export interface UpstreamSnapshot {
  /** Its name. */
  name: string;
  /** Its URI. */
  uri: string;
  /** Whether it is shared. */
  shared: boolean;
  /** Connections being dialed or opened. */
  opening: number;
  /** Open connections with a call outstanding. */
  busy: number;
  /** Open connections with none. */
  idle: number;
  /** Calls outstanding on it. */
  inflight: number;
}

/** The whole server. */
export interface ServerSnapshot {
  /** The process id. */
  pid: number;
  /** When the server started, ms since the epoch. */
  startedAt: number;
  /** Listening sockets. */
  listeners: ListenerSnapshot[];
  /** Upstreams that listeners name. */
  upstreams: UpstreamSnapshot[];
  /** Shared pools. */
  pools: PoolSnapshot[];
  /** Connected clients, oldest first. */
  clients: ClientSnapshot[];
}
