/**
 * What a shared pool is configured with: where its daemon is, what it opens, and its limits.
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { Channel } from "../../transport/channel.ts";
import type { LibvirtUri } from "../../uri/uri.ts";
import type { PoolCounters } from "../counters.ts";

/** Options for a shared pool (src/proxy/shared/pool.ts). */
export interface PoolOptions {
  /** `"hv1" (qemu+tls://...)`, for messages. */
  label: string;
  /** The name each connection opens. */
  openName: string | null;
  /** CONNECT_OPEN flags: VIR_CONNECT_RO for read-only pools. */
  openFlags: number;
  /** Most connections. */
  poolMax: number;
  /** Most calls outstanding on one connection. */
  maxInflightPerConnection: number;
  /** Largest frame from the daemon. */
  maxFrameBytes: number;
  /** Close a connection with nothing on it after this many ms. */
  idleMs: number;
  /** Ping an idle connection after this many ms. */
  keepaliveIntervalMs: number;
  /** Unanswered pings before a connection is dropped. */
  keepaliveCount: number;
  /** Time allowed for dial plus handshake, in ms. */
  connectTimeoutMs: number;
  /** Opens a channel to the daemon. */
  dial: () => Promise<Channel>;
  /** The upstream, for a SASL login when its daemon asks for one (see upstream_connection.ts). */
  sasl?: { name: string; uri: LibvirtUri };
  /** Logger with the upstream's context. */
  logger: Logger;
  /**
   * `survive_restart`: when the last connection dies, clients stay; calls wait this long (ms)
   * for the daemon to come back; event registrations are made again. Undefined: off.
   */
  restartWaitMs?: number;
  /** Counts connection losses and restarts survived; undefined: nothing counted. */
  counters?: PoolCounters;
}
