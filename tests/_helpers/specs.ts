/**
 * Listener and upstream specs for tests of the proxy layer, with small limits and a socket path
 * that dials nowhere.
 *
 * @module
 */

import { Policy } from "../../src/proxy/policy.ts";
import type { ListenerSpec, UpstreamSpec } from "../../src/proxy/spec.ts";
import { parseUri } from "../../src/uri/uri.ts";
import { Program } from "../../src/wire/constants.ts";

/** An upstream `name` at `uri` (on a socket that does not exist), shared or not. */
export function upstreamSpec(
  name: string,
  share: boolean,
  uri = "test+unix:///default",
): UpstreamSpec {
  return {
    name,
    uri: parseUri(`${uri}?socket=/nonexistent`),
    connectTimeoutMs: 1000,
    share,
    poolMax: 2,
    maxPools: 4,
    maxInflightPerConnection: 5,
    idleMs: 60000,
    keepaliveIntervalMs: 5000,
    keepaliveCount: 5,
  };
}

/** A listener on `socket` for `upstream`: REMOTE only, no policy, no timeouts; `options` win. */
export function listenerSpec(
  socket: string,
  upstream: UpstreamSpec,
  options: Partial<ListenerSpec> = {},
): ListenerSpec {
  return {
    socket,
    mode: 0o600,
    readonly: false,
    upstream,
    maxFrameBytes: 1 << 20,
    maxInflightPerClient: 32,
    maxClients: 100,
    programs: new Set([Program.REMOTE]),
    policy: new Policy({ listener: socket, deny: [], allow: [] }),
    timeouts: { openMs: 0, frameMs: 0, idleMs: 0 },
    routes: new Map(),
    allowUids: new Set(),
    allowGids: new Set(),
    ...options,
  };
}
