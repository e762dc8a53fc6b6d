/**
 * The shared pools of a server, one per (upstream, open name, flags, frame limit), made on first
 * use and kept under each upstream's `max_pools`.
 *
 * @module
 */

import type { Channel } from "../../transport/channel.ts";
import type { Logger } from "../../log/logger.ts";
import { isReadOnlyOpen } from "../../wire/constants.ts";
import type { PoolCounters } from "../counters.ts";
import { upstreamLabel, type UpstreamSpec } from "../spec.ts";
import { Pool } from "./pool.ts";

/** What makes two opens share a pool. */
export interface PoolKey {
  /** The upstream reached. */
  readonly upstream: UpstreamSpec;
  /** The name each connection opens (null: the daemon's default). */
  readonly openName: string | null;
  /** CONNECT_OPEN flags that change what the daemon opens. */
  readonly flags: number;
  /** Largest frame accepted from the daemon. */
  readonly maxFrameBytes: number;
}

/** Options for {@linkcode PoolRegistry}. */
export interface PoolRegistryOptions {
  /** Dials an upstream; `readonly` picks a unix daemon's read-only socket. */
  dial: (upstream: UpstreamSpec, readonly: boolean) => Promise<Channel>;
  /** Root logger. */
  logger: Logger;
  /** Each upstream's pool counters; undefined: nothing counted. */
  counters?: { pool(upstream: string): PoolCounters };
}

interface Entry {
  key: PoolKey;
  pool: Pool;
}

/** The pools of a server, by {@linkcode PoolKey}. */
export class PoolRegistry {
  readonly #options: PoolRegistryOptions;
  /** Entries per upstream name, so that `max_pools` is counted per upstream. */
  readonly #byUpstream = new Map<string, Entry[]>();

  /** An empty registry. */
  constructor(options: PoolRegistryOptions) {
    this.#options = options;
  }

  /** Pools held now. */
  get size(): number {
    let count = 0;
    for (const entries of this.#byUpstream.values()) count += entries.length;
    return count;
  }

  /**
   * The pool for `key`, made on first use.
   *
   * @throws {Error} when the upstream already has `max_pools` pools and all have clients.
   */
  get(key: PoolKey): Pool {
    const entries = this.#byUpstream.get(key.upstream.name) ?? [];
    const found = entries.find((entry) => sameKey(entry.key, key));
    if (found !== undefined) return found.pool;
    this.#makeRoom(key.upstream, entries);
    const upstream = key.upstream;
    const pool = new Pool({
      label: upstreamLabel(upstream),
      openName: key.openName,
      openFlags: key.flags,
      poolMax: upstream.poolMax,
      maxInflightPerConnection: upstream.maxInflightPerConnection,
      maxFrameBytes: key.maxFrameBytes,
      idleMs: upstream.idleMs,
      keepaliveIntervalMs: upstream.keepaliveIntervalMs,
      keepaliveCount: upstream.keepaliveCount,
      connectTimeoutMs: upstream.connectTimeoutMs,
      restartWaitMs: upstream.restartWaitMs,
      counters: this.#options.counters?.pool(upstream.name),
      dial: () => this.#options.dial(upstream, isReadOnlyOpen(key.flags)),
      sasl: { name: upstream.name, uri: upstream.uri },
      logger: this.#options.logger.child({
        upstream: upstream.name,
        pool: key.openName ?? "(default)",
      }),
    });
    entries.push({ key, pool });
    this.#byUpstream.set(upstream.name, entries);
    return pool;
  }

  /** Every pool held now, with its key. */
  *pools(): IterableIterator<{ key: PoolKey; pool: Pool }> {
    for (const entries of this.#byUpstream.values()) yield* entries;
  }

  /** Closes and forgets the pools that hold nothing (runs from the server's sweep). */
  dropUnused(): void {
    for (const [name, entries] of this.#byUpstream) {
      const kept = entries.filter((entry) => {
        if (!entry.pool.unused) return true;
        entry.pool.close("unused");
        return false;
      });
      if (kept.length === 0) this.#byUpstream.delete(name);
      else this.#byUpstream.set(name, kept);
    }
  }

  /** Closes every pool: the proxy is stopping. */
  closeAll(reason: string): void {
    for (const entries of this.#byUpstream.values()) {
      for (const entry of entries) entry.pool.close(reason);
    }
  }

  /**
   * Keeps `upstream` under its `max_pools`: closes one of its pools that has no clients, or,
   * when every one has clients, refuses the open that wants one more.
   */
  #makeRoom(upstream: UpstreamSpec, entries: Entry[]): void {
    if (entries.length < upstream.maxPools) return;
    const idle = entries.findIndex((entry) => !entry.pool.inUse);
    if (idle >= 0) {
      entries[idle].pool.close("making room for another pool");
      entries.splice(idle, 1);
      return;
    }
    throw new Error(
      `virtmux keeps at most ${upstream.maxPools} pools for upstream "${upstream.name}" ` +
        "(max_pools), one per distinct name and read-only flag opened, and all are in use",
    );
  }
}

function sameKey(a: PoolKey, b: PoolKey): boolean {
  return a.upstream.name === b.upstream.name && a.upstream.uri.text === b.upstream.uri.text &&
    a.openName === b.openName && a.flags === b.flags && a.maxFrameBytes === b.maxFrameBytes;
}
