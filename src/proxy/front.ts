/**
 * The network fronts as the server opens them (src/transport/tls_listener.ts,
 * src/transport/tcp_listener.ts), and `allow_dns`: which certificate DNs may reach which upstream.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import type { Logger } from "../log/logger.ts";
import { dnMatchesAny } from "../transport/dn_pattern.ts";
import type { NetworkListener } from "../transport/net_listener.ts";
import { listenTcp } from "../transport/tcp_listener.ts";
import { listenTls, type TlsFrontOptions, type TlsListener } from "../transport/tls_listener.ts";
import type { ListenerSpec, UpstreamSpec } from "./spec.ts";

/** Time a TLS client has for its handshake when `open_timeout` is off. */
const DEFAULT_HANDSHAKE_MS = 30_000;

/**
 * Binds the network front of `spec`; a plain TCP one with a warning, as it is open to all.
 *
 * @throws {Error} naming the front and the file or address that cannot be used
 */
export async function openFront(
  spec: ListenerSpec,
  log: Logger,
): Promise<NetworkListener | TlsListener> {
  const front = spec.front!;
  const address = { hostname: front.hostname, port: front.port };
  if (front.kind === "tls") {
    return await listenTls(address, spec.socket, tlsFrontOptions(spec, log));
  }
  log.warning("Plain TCP front: no encryption, and anyone who reaches it is let in", {
    listener: spec.socket,
  });
  return listenTcp(
    address,
    spec.socket,
    (error) =>
      log.warning("Accepting a client failed; still listening", {
        listener: spec.socket,
        error: errorMessage(error),
      }),
  );
}

/** The TLS front options of `spec`. */
export function tlsFrontOptions(spec: ListenerSpec, log: Logger): TlsFrontOptions {
  const tls = spec.front!.tls!;
  return {
    ...tls,
    handshakeTimeoutMs: spec.timeouts.openMs || DEFAULT_HANDSHAKE_MS,
    logger: log.child({ listener: spec.socket }),
  };
}

/**
 * Why a client with certificate subject `dn` may not reach `upstream` through the front of
 * `spec` (its `allow_dns`), or undefined when it may.
 */
export function dnRefusal(
  spec: ListenerSpec,
  upstream: UpstreamSpec,
  dn: string | undefined,
): string | undefined {
  const patterns = spec.front?.allowDns.get(upstream.name);
  if (patterns === undefined || (dn !== undefined && dnMatchesAny(patterns, dn))) return undefined;
  return `virtmux does not allow ${
    dn === undefined ? "a client without a certificate" : `"${dn}"`
  } to reach upstream "${upstream.name}" through "${spec.socket}": not in the listener's allow_dns`;
}
