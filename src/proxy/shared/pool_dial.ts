/**
 * Dialing one connection of a shared pool: the transport's dial, then the handshake and the
 * CONNECT_OPEN with the pool's name and flags (and SASL, and the identity check when the pool
 * survives restarts).
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { PoolOptions } from "./pool_options.ts";
import { UpstreamConnection } from "./upstream_connection.ts";

/** Dials and opens one connection for the pool configured by `options`. */
export async function dialPoolConnection(
  options: PoolOptions,
  logger: Logger,
): Promise<UpstreamConnection> {
  const channel = await options.dial();
  return await UpstreamConnection.open(channel, {
    openName: options.openName,
    openFlags: options.openFlags,
    maxFrameBytes: options.maxFrameBytes,
    keepaliveIntervalMs: options.keepaliveIntervalMs,
    keepaliveCount: options.keepaliveCount,
    label: options.label,
    logger,
    timeoutMs: options.connectTimeoutMs,
    identify: options.restartWaitMs !== undefined,
    sasl: options.sasl,
  });
}
