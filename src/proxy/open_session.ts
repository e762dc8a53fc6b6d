/**
 * The session an admitted client gets, by its upstream's mode: a {@linkcode SharedSession} that
 * opens on a pool when the upstream is shared (`route_by_name` and `allow_dns` applied at each
 * open), else a {@linkcode DedicatedSession} with an upstream connection of its own.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Channel } from "../transport/channel.ts";
import { ErrorCode, ErrorDomain } from "../wire/constants.ts";
import { DedicatedSession } from "./dedicated/session.ts";
import { dnRefusal } from "./front.ts";
import type { SessionObserver } from "./observer.ts";
import type { SessionOptions } from "./session.ts";
import type { PoolRegistry } from "./shared/pool_registry.ts";
import type { Pool } from "./shared/pool.ts";
import { SharedSession } from "./shared/session.ts";
import { type ListenerSpec, upstreamLabel, type UpstreamSpec } from "./spec.ts";
import { UpstreamError } from "./upstream_error.ts";

/** A client's session, either kind. */
export type OpenedSession = DedicatedSession | SharedSession;

/** What {@linkcode openSession} needs besides the client's channel and its listener's spec. */
export interface OpenSessionOptions {
  /** The client's id. */
  id: number;
  /** Logger carrying the client's fields. */
  logger: Logger;
  /** The DN of the client's certificate on a TLS front, checked against `allow_dns`. */
  certificateDn?: string;
  /** Watches the session; undefined: nothing watches. */
  observer?: SessionObserver;
  /** Dials the upstream of a dedicated session. */
  dial: (upstream: UpstreamSpec, readonly: boolean) => Promise<Channel>;
  /** The pools a shared session opens on. */
  pools: PoolRegistry;
}

/**
 * A session for the client on `conn`, admitted through `spec`: shared when the listener's
 * upstream has `share = true`, else dedicated (its upstream is dialed at once).
 */
export function openSession(
  conn: Channel,
  spec: ListenerSpec,
  options: OpenSessionOptions,
): OpenedSession {
  const { id, logger: log, observer } = options;
  // What both kinds take from the listener.
  const common: SessionOptions = {
    logger: log,
    maxFrameBytes: spec.maxFrameBytes,
    maxInflight: spec.maxInflightPerClient,
    readonly: spec.readonly,
    programs: spec.programs,
    policy: spec.policy,
    timeouts: spec.timeouts,
    budget: spec.budget,
    observer,
  };
  return spec.upstream.share
    ? new SharedSession(conn, {
      ...common,
      id,
      poolFor: (name, flags) =>
        sharedPool(options.pools, spec, name, flags, options.certificateDn, log),
      keepalive: spec.clientKeepalive,
    })
    : new DedicatedSession(conn, options.dial(spec.upstream, spec.readonly), {
      ...common,
      upstreamLabel: upstreamLabel(spec.upstream),
    });
}

/**
 * The pool of `pools` for an open of `name` with `flags` through `spec`, made on first use. With
 * `route_by_name`, a name that is one of the listener's routes picks that upstream, opened with
 * its own open name.
 *
 * @throws {UpstreamError} ACCESS_DENIED when the listener's `allow_dns` keeps `dn` from the
 * upstream picked; {@linkcode PoolRegistry.get}'s error when the upstream has no room for a pool.
 */
export function sharedPool(
  pools: PoolRegistry,
  spec: ListenerSpec,
  name: string | null,
  flags: number,
  dn?: string,
  log?: Logger,
): Pool {
  const routed = name === null ? undefined : spec.routes.get(name);
  const refusal = dnRefusal(spec, routed ?? spec.upstream, dn);
  if (refusal !== undefined) {
    log?.warning("Open refused: DN not allowed", { reason: refusal });
    throw new UpstreamError(refusal, ErrorCode.ACCESS_DENIED, ErrorDomain.RPC);
  }
  return pools.get({
    upstream: routed ?? spec.upstream,
    openName: routed !== undefined ? routed.uri.openName : name,
    flags,
    maxFrameBytes: spec.maxFrameBytes,
  });
}
