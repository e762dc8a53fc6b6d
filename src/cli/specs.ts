/**
 * Turning the validated config into what the proxy layer takes: the proxy knows nothing of TOML.
 *
 * @module
 */

import type { Config, UpstreamConfig } from "../config/schema.ts";
import type { ListenerSpec, UpstreamSpec } from "../proxy/server.ts";

/** The server's view of one upstream. */
export function upstreamSpec(config: Config, upstream: UpstreamConfig): UpstreamSpec {
  return {
    name: upstream.name,
    uri: upstream.uri,
    connectTimeoutMs: config.limits.connectTimeoutMs,
    share: upstream.share,
    poolMax: upstream.poolMax,
    maxInflightPerConnection: upstream.maxInflightPerConnection,
    idleMs: upstream.idleTimeoutMs,
    keepaliveIntervalMs: upstream.keepaliveIntervalMs,
    keepaliveCount: upstream.keepaliveCount,
  };
}

/** The server's view of every listener, with the stricter of each limit applied. */
export function listenerSpecs(config: Config): ListenerSpec[] {
  return config.listeners.map((listener) => {
    const upstream = config.upstreams.find((u) => u.name === listener.upstream);
    if (upstream === undefined) {
      throw new Error(
        `Listener "${listener.socket}" names unknown upstream "${listener.upstream}"`,
      );
    }
    return {
      socket: listener.socket,
      mode: listener.mode,
      group: listener.group,
      readonly: listener.readonly,
      upstream: upstreamSpec(config, upstream),
      maxFrameBytes: Math.min(
        config.limits.maxMessageBytes,
        listener.maxMessageBytes ?? Infinity,
        upstream.maxMessageBytes ?? Infinity,
      ),
      maxInflightPerClient: config.limits.maxInflightPerClient,
      maxClients: Math.min(listener.maxClients ?? Infinity, config.limits.maxClients),
    };
  });
}
