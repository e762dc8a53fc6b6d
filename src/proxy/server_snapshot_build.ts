/**
 * Assembles a {@linkcode ServerSnapshot} from a server's live state; kept apart from server.ts
 * so that the server only hands over its collections.
 *
 * @module
 */

import { isReadOnlyOpen } from "../wire/constants.ts";
import { DedicatedSession } from "./dedicated/session.ts";
import type {
  ClientSnapshot,
  ListenerSnapshot,
  PoolSnapshot,
  ServerSnapshot,
  UpstreamSnapshot,
} from "./server_snapshot.ts";
import type { Pool } from "./shared/pool.ts";
import type { PoolKey } from "./shared/pool_registry.ts";
import type { SharedSession } from "./shared/session.ts";
import type { ListenerSpec } from "./spec.ts";

/** What {@linkcode buildSnapshot} reads. */
export interface SnapshotParts {
  /** When the server started (ms since the epoch). */
  startedAt: number;
  /** Each listener's spec and its open client count. */
  listeners: { spec: ListenerSpec; clients: number }[];
  /** Connected clients with their sessions. */
  clients: Iterable<{
    session: DedicatedSession | SharedSession;
    info: Omit<ClientSnapshot, "inflight" | "calls">;
  }>;
  /** Shared pools with their keys. */
  pools: Iterable<{ key: PoolKey; pool: Pool }>;
}

/** The snapshot of `parts`. */
export function buildSnapshot(parts: SnapshotParts): ServerSnapshot {
  const listeners: ListenerSnapshot[] = parts.listeners.map(({ spec, clients }) => ({
    socket: spec.socket,
    upstream: spec.upstream.name,
    readonly: spec.readonly,
    clients,
  }));
  const upstreams = new Map<string, UpstreamSnapshot>();
  const upstreamOf = (name: string, uri: string, shared: boolean): UpstreamSnapshot => {
    let entry = upstreams.get(name);
    if (entry === undefined) {
      entry = { name, uri, shared, opening: 0, busy: 0, idle: 0, inflight: 0 };
      upstreams.set(name, entry);
    }
    return entry;
  };
  for (const { spec } of parts.listeners) {
    upstreamOf(spec.upstream.name, spec.upstream.uri.text, spec.upstream.share);
    for (const route of spec.routes.values()) upstreamOf(route.name, route.uri.text, route.share);
  }
  const clients: ClientSnapshot[] = [];
  for (const { session, info } of parts.clients) {
    const inflight = session.inflight;
    clients.push({ ...info, inflight });
    if (!(session instanceof DedicatedSession) || session.closed) continue;
    const upstream = upstreams.get(info.upstream);
    if (upstream === undefined) continue;
    if (!session.connected) upstream.opening++;
    else if (inflight > 0) upstream.busy++;
    else upstream.idle++;
    upstream.inflight += inflight;
  }
  clients.sort((a, b) => a.id - b.id);
  const pools: PoolSnapshot[] = [];
  for (const { key, pool } of parts.pools) {
    const stats = pool.stats;
    pools.push({
      upstream: key.upstream.name,
      openName: key.openName ?? "",
      readonly: isReadOnlyOpen(key.flags),
      ...stats,
    });
    const upstream = upstreamOf(key.upstream.name, key.upstream.uri.text, true);
    upstream.opening += stats.opening;
    upstream.busy += stats.busy;
    upstream.idle += stats.connections - stats.busy;
    upstream.inflight += stats.inflight;
  }
  return {
    pid: Deno.pid,
    startedAt: parts.startedAt,
    listeners,
    upstreams: [...upstreams.values()],
    pools,
    clients,
  };
}
