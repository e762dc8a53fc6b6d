/**
 * Whether an accepted client may stay, decided before any session is made for it: the
 * listener's allow_uids/allow_gids, a dedicated upstream's allow_dns, and the client limits. Also
 * who the client is, for logs and observers.
 *
 * @module
 */

import type { LogFields } from "../log/logger.ts";
import { peerAllowed } from "../transport/peer_credentials.ts";
import type { AcceptedClient } from "../transport/unix_listener.ts";
import { ErrorCode } from "../wire/constants.ts";
import type { RefusalReason } from "./counters.ts";
import { dnRefusal } from "./front.ts";
import type { ClientIdentity } from "./observer.ts";
import { checksPeers, type ListenerSpec } from "./spec.ts";

/** Why a client is turned away, and how. */
export interface Refusal {
  /** The error message the client gets. */
  message: string;
  /** virErrorNumber of that error. */
  code: number;
  /** The log line's text. */
  log: string;
  /** The metrics' refusal reason, when one applies. */
  counted?: RefusalReason;
  /** Fields for the log line besides the message. */
  fields: LogFields;
}

/** How many clients are connected, over all listeners and on this one. */
export interface ClientCounts {
  /** Over all listeners now. */
  total: number;
  /** The process-wide limit (`[limits] max_clients`). */
  maxTotal: number;
  /** On this listener now. */
  onListener: number;
}

/** Why `accepted` may not be served through `spec`, or undefined when it may. */
export function admissionRefusal(
  spec: ListenerSpec,
  accepted: AcceptedClient,
  counts: ClientCounts,
): Refusal | undefined {
  if (checksPeers(spec)) {
    const refusal = peerRefusal(spec, accepted);
    if (refusal !== undefined) {
      return {
        message: refusal,
        code: ErrorCode.ACCESS_DENIED,
        log: "Client refused: credentials not allowed",
        counted: "peer_credentials",
        fields: { gid: accepted.peer?.gid },
      };
    }
  }
  if (!spec.upstream.share) {
    // A dedicated upstream is fixed at accept; shared ones are checked at CONNECT_OPEN.
    const refusal = dnRefusal(spec, spec.upstream, accepted.certificateDn);
    if (refusal !== undefined) {
      return {
        message: refusal,
        code: ErrorCode.ACCESS_DENIED,
        log: "Client refused: DN not allowed",
        fields: {},
      };
    }
  }
  const full = counts.total >= counts.maxTotal
    ? counts.maxTotal
    : counts.onListener >= spec.maxClients
    ? spec.maxClients
    : 0;
  if (full === 0) return undefined;
  return {
    message: `virtmux has reached its limit of ${full} clients on "${spec.socket}"`,
    code: ErrorCode.RPC,
    log: "Client refused: too many clients",
    counted: "max_clients",
    fields: { limit: full },
  };
}

/** Who `accepted` is, for observers (audit, metrics). */
export function clientIdentity(
  spec: ListenerSpec,
  accepted: AcceptedClient,
  id: number,
): ClientIdentity {
  return {
    listener: spec.socket,
    client: id,
    ...(accepted.address !== undefined && { address: accepted.address }),
    ...(accepted.certificateDn !== undefined && { certificateDn: accepted.certificateDn }),
    ...(accepted.peer && {
      uid: accepted.peer.uid,
      gid: accepted.peer.gid,
      pid: accepted.peer.pid,
    }),
  };
}

/** The context every log line of the client's session carries. */
export function clientLogFields(
  spec: ListenerSpec,
  accepted: AcceptedClient,
  id: number,
): LogFields {
  return {
    listener: spec.socket,
    client: id,
    upstream: spec.upstream.name,
    ...(accepted.peer && { pid: accepted.peer.pid, uid: accepted.peer.uid }),
    ...(accepted.address !== undefined && { peer: accepted.address }),
    ...(accepted.certificateDn !== undefined && { dn: accepted.certificateDn }),
  };
}

/** Why `accepted` may not use the socket of `spec` (allow_uids/allow_gids), or undefined. */
function peerRefusal(spec: ListenerSpec, accepted: AcceptedClient): string | undefined {
  const peer = accepted.peer;
  if (peer === undefined) {
    return `virtmux cannot tell who connected to "${spec.socket}" (${accepted.peerError}), ` +
      "and it admits only the users and groups in its allow_uids/allow_gids";
  }
  if (peerAllowed(peer, spec.allowUids, spec.allowGids)) return undefined;
  return `virtmux does not allow uid ${peer.uid} (gid ${peer.gid}) on "${spec.socket}": ` +
    "not in the listener's allow_uids/allow_gids";
}
