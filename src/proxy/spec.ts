/**
 * What the proxy layer is told about upstreams and listeners: the config's meaning, already
 * validated and with limits resolved (src/cli/specs.ts makes these from a config file).
 *
 * @module
 */

import type { LibvirtUri } from "../uri/uri.ts";
import type { BufferBudget } from "./buffer_budget.ts";
import type { ClientTimeouts } from "./client_clock.ts";
import type { KeepaliveSettings } from "./client_keepalive.ts";
import type { Policy } from "./policy.ts";

/** An upstream daemon as the server needs it. */
export interface UpstreamSpec {
  /** The upstream's name from the config. */
  name: string;
  /** Where it is. */
  uri: LibvirtUri;
  /** Time allowed to connect, in ms. */
  connectTimeoutMs: number;
  /** Clients share a pool of connections instead of one each. */
  share: boolean;
  /** Shared pool: most connections. */
  poolMax: number;
  /** Shared pool: most pools at once (distinct open names and flags). */
  maxPools: number;
  /** Shared pool: most outstanding calls per connection. */
  maxInflightPerConnection: number;
  /** Shared pool: close a connection with nothing on it after this many ms. */
  idleMs: number;
  /** Shared pool: ping a quiet connection after this many ms. */
  keepaliveIntervalMs: number;
  /** Shared pool: unanswered pings before a connection is dropped. */
  keepaliveCount: number;
  /** Shared pool: survive daemon restarts, calls waiting this long (ms); undefined: off. */
  restartWaitMs?: number;
  /**
   * Dedicated: `"proxy"` logs in to the daemon itself (SASL with credentials from auth.conf)
   * before relaying, so clients need no SASL; `"passthrough"` (or absent) lets each client log in
   * end to end. Shared pools always log in themselves.
   */
  sasl?: "proxy" | "passthrough";
}

/** A network front as the server needs it (see src/transport/tls_listener.ts). */
export interface FrontSpec {
  /** TLS as libvirtd's TLS port, or plain TCP. */
  kind: "tls" | "tcp";
  /** Host to bind: an IP literal (IPv6 without brackets) or a host name. */
  hostname: string;
  /** Port to bind. */
  port: number;
  /** TLS files and checks, for a TLS front. */
  tls?: {
    keyFile: string;
    certFile: string;
    caFile: string;
    crlFile?: string;
    allowedDns?: readonly string[];
    noVerifyCertificate: boolean;
  };
  /** Per upstream name, the DN wildcards that may reach it; upstreams not named are open. */
  allowDns: ReadonlyMap<string, readonly string[]>;
}

/** A listening socket or network front as the server needs it. */
export interface ListenerSpec {
  /** Socket path; for a network front its label (`tls://[::]:16514`), unique like a path. */
  socket: string;
  /** Set for a network front: where and how it listens. */
  front?: FrontSpec;
  /** Permission bits. */
  mode: number;
  /** Owning group, by name or id. */
  group?: string;
  /** Every open through this socket is read-only. */
  readonly: boolean;
  /** The upstream its clients reach. */
  upstream: UpstreamSpec;
  /** Largest frame, length word included (the stricter of global, listener and upstream). */
  maxFrameBytes: number;
  /** Outstanding calls per client before the proxy stops reading it. */
  maxInflightPerClient: number;
  /** Most clients at once on this socket. */
  maxClients: number;
  /** Programs its clients may use, KEEPALIVE included. */
  programs: ReadonlySet<number>;
  /** Procedures its clients may call. */
  policy: Policy;
  /** Client timeouts. */
  timeouts: ClientTimeouts;
  /** Shared upstreams: pinging clients that asked for keepalive, as libvirtd does. */
  clientKeepalive?: KeepaliveSettings;
  /** Upstreams a client may pick by the name it opens (`route_by_name`), by name. */
  routes: ReadonlyMap<string, UpstreamSpec>;
  /** User ids allowed to connect; with `allowGids` both empty, the socket's mode decides alone. */
  allowUids: ReadonlySet<number>;
  /** Group ids (primary or supplementary) allowed to connect. */
  allowGids: ReadonlySet<number>;
  /** The process-wide budget for buffered frame bytes (`max_buffered_bytes`); none: unlimited. */
  budget?: BufferBudget;
}

/** An upstream as error messages name it: `"hv1" (qemu+tls://...)`. */
export function upstreamLabel(upstream: UpstreamSpec): string {
  return `"${upstream.name}" (${upstream.uri.text})`;
}

/** Whether clients of `spec` are checked against `allow_uids`/`allow_gids`. */
export function checksPeers(spec: ListenerSpec): boolean {
  return spec.allowUids.size > 0 || spec.allowGids.size > 0;
}
