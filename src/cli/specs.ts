/**
 * Turning the validated config into what the proxy layer takes: the proxy knows nothing of TOML.
 *
 * @module
 */

import type { Config, ListenerConfig, UpstreamConfig } from "../config/schema.ts";
import type { FrontConfig } from "../config/network_listener.ts";
import { BufferBudget } from "../proxy/buffer_budget.ts";
import { Policy } from "../proxy/policy.ts";
import type { FrontSpec, ListenerSpec, UpstreamSpec } from "../proxy/spec.ts";
import { Program, PROGRAM_NAMES } from "../wire/constants.ts";
import { type ProcedureRef, resolveProcedureName } from "../wire/procedure_names.ts";

/** The server's view of one upstream. */
export function upstreamSpec(config: Config, upstream: UpstreamConfig): UpstreamSpec {
  return {
    name: upstream.name,
    uri: upstream.uri,
    connectTimeoutMs: config.limits.connectTimeoutMs,
    share: upstream.share,
    poolMax: upstream.poolMax,
    maxPools: upstream.maxPools,
    maxInflightPerConnection: upstream.maxInflightPerConnection,
    idleMs: upstream.idleTimeoutMs,
    keepaliveIntervalMs: upstream.keepaliveIntervalMs,
    keepaliveCount: upstream.keepaliveCount,
    restartWaitMs: upstream.surviveRestart ? upstream.restartWaitMs : undefined,
    sasl: upstream.sasl,
  };
}

/**
 * The buffer budget of this process (`max_buffered_bytes` covers all clients): one for every
 * listener, kept across reloads, which only change its limits.
 */
const processBudget = new BufferBudget({ maxBytes: Infinity, minFrameRate: 0 });

/**
 * The server's view of every listener, with the stricter of each limit applied. They share
 * `budget`, which takes the config's `max_buffered_bytes` and `min_frame_rate`.
 */
export function listenerSpecs(
  config: Config,
  budget: BufferBudget = processBudget,
): ListenerSpec[] {
  budget.configure({
    maxBytes: config.limits.maxBufferedBytes,
    minFrameRate: config.limits.minFrameRate,
  });
  return config.listeners.map((listener) => {
    const upstream = config.upstreams.find((u) => u.name === listener.upstream);
    if (upstream === undefined) {
      throw new Error(
        `Listener "${
          listener.front?.label ?? listener.socket
        }" names unknown upstream "${listener.upstream}"`,
      );
    }
    return {
      socket: listener.front?.label ?? listener.socket,
      ...(listener.front && { front: frontSpec(listener.front) }),
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
      programs: new Set([
        Program.KEEPALIVE,
        ...listener.programs.map((name) => PROGRAM_NAMES[name]),
      ]),
      policy: policyOf(listener),
      timeouts: {
        openMs: config.limits.openTimeoutMs,
        frameMs: config.limits.frameTimeoutMs,
        idleMs: config.limits.idleTimeoutMs,
      },
      clientKeepalive: { intervalMs: listener.keepaliveIntervalMs, count: listener.keepaliveCount },
      allowUids: new Set(listener.allowUids),
      allowGids: new Set(listener.allowGids),
      budget,
      routes: new Map(
        listener.routeByName
          ? config.upstreams.filter((u) => listener.allowUpstreams.includes(u.name))
            .map((u) => [u.name, upstreamSpec(config, u)])
          : [],
      ),
    };
  });
}

/** The server's view of a network front. */
function frontSpec(front: FrontConfig): FrontSpec {
  return {
    kind: front.kind,
    hostname: front.hostname,
    port: front.port,
    ...(front.tls && { tls: front.tls }),
    allowDns: new Map(Object.entries(front.allowDns)),
  };
}

function policyOf(listener: ListenerConfig): Policy {
  const resolve = (names: string[]): ProcedureRef[] =>
    names.map((name) => resolveProcedureName(name)).filter((ref) => ref !== undefined);
  return new Policy({
    listener: listener.front?.label ?? listener.socket,
    deny: resolve(listener.denyProcedures),
    allow: resolve(listener.allowProcedures),
  });
}
