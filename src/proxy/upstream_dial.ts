/**
 * Reaching an upstream for a session or a pool: the transport's dial, then, for a dedicated
 * upstream with `sasl = "proxy"`, virtmux's own SASL login (a pool's connections log in during
 * their own handshake), timed for the metrics.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Channel } from "../transport/channel.ts";
import { dial } from "../transport/dial.ts";
import type { ServerCounters } from "./counters.ts";
import { loginOrClose } from "./dedicated/login.ts";
import type { UpstreamSpec } from "./spec.ts";

/** Options for {@linkcode dialUpstream}. */
export interface DialUpstreamOptions {
  /** Where transport diagnostics go. */
  logger: Logger;
  /** Counts dials, failures and their time; undefined: nothing counted. */
  counters?: ServerCounters;
  /** Dials instead of the transport (tests). */
  dialer?: (upstream: UpstreamSpec, readonly: boolean) => Promise<Channel>;
}

/** A channel to `upstream`, logged in when virtmux logs in for its clients. */
export function dialUpstream(
  upstream: UpstreamSpec,
  readonly: boolean,
  options: DialUpstreamOptions,
): Promise<Channel> {
  const counters = options.counters;
  if (counters === undefined) return dialOnce(upstream, readonly, options);
  const start = performance.now();
  const dialed = dialOnce(upstream, readonly, options);
  const seconds = () => (performance.now() - start) / 1000;
  dialed.then(
    () => counters.dialed(upstream.name, seconds(), false),
    () => counters.dialed(upstream.name, seconds(), true),
  );
  return dialed;
}

async function dialOnce(
  upstream: UpstreamSpec,
  readonly: boolean,
  options: DialUpstreamOptions,
): Promise<Channel> {
  const logger = options.logger.child({ upstream: upstream.name });
  const channel = options.dialer
    ? await options.dialer(upstream, readonly)
    : await dial(upstream.uri, {
      name: upstream.name,
      timeoutMs: upstream.connectTimeoutMs,
      readonly,
      logger,
    });
  // A shared pool's connections log in during their own handshake.
  if (upstream.share || upstream.sasl !== "proxy") return channel;
  return await loginOrClose(channel, {
    name: upstream.name,
    uri: upstream.uri,
    timeoutMs: upstream.connectTimeoutMs,
    logger,
  });
}
