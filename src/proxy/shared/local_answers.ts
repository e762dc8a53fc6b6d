/**
 * The connection-level calls a shared session answers itself instead of sending them to the pool
 * (DESIGN.md §4), decided from the header and, for a few, the first words of the arguments.
 *
 * @module
 */

import { ErrorCode, Feature, RemoteProc } from "../../wire/constants.ts";
import { DOMAIN_START_AUTODESTROY, domainStartFlags } from "../../wire/domain_start.ts";
import { frameProcedure } from "../../wire/header.ts";
import { encodeWords, readFirstInt } from "../../wire/message.ts";
import { errorMessage } from "../../log/error_message.ts";

/** What the session does with a REMOTE call; undefined: it goes to the pool. */
export type LocalAnswer =
  /** Answer OK with `body`; `keepalive` when the client asked about keepalive support. */
  | { kind: "reply"; body?: Uint8Array; keepalive?: boolean }
  /** Answer with an error. */
  | { kind: "error"; message: string; code: number }
  /** CONNECT_OPEN: pick the pool. */
  | { kind: "open" }
  /** CONNECT_CLOSE: leave the pool once every call before it is answered. */
  | { kind: "close" }
  | undefined;

const AUTH_NONE = { kind: "reply", body: encodeWords(1, 0) } as const;
const YES = { kind: "reply", body: encodeWords(1) } as const;
const NO = { kind: "reply", body: encodeWords(0) } as const;
const OK = { kind: "reply" } as const;
const OPEN = { kind: "open" } as const;
const CLOSE = { kind: "close" } as const;

/**
 * What a shared session answers for the REMOTE call `frame`; `open` says whether the client has
 * a pool yet.
 */
export function localAnswer(frame: Uint8Array, open: boolean): LocalAnswer {
  switch (frameProcedure(frame)) {
    case RemoteProc.AUTH_LIST:
      return AUTH_NONE; // the proxy authenticated upstream itself: this hop needs none
    case RemoteProc.CONNECT_SUPPORTS_FEATURE: {
      const feature = readFirstInt(frame);
      // libvirtd starts pinging a client that asks this; so does the proxy, in its place.
      if (feature === Feature.PROGRAM_KEEPALIVE) return { ...YES, keepalive: true };
      if (feature === Feature.FD_PASSING || !open) return NO;
      return undefined; // the daemon knows what it supports
    }
    case RemoteProc.CONNECT_OPEN:
      return OPEN;
    case RemoteProc.CONNECT_CLOSE:
      return CLOSE;
    case RemoteProc.CONNECT_REGISTER_CLOSE_CALLBACK:
    case RemoteProc.CONNECT_UNREGISTER_CLOSE_CALLBACK:
      return OK; // a lost upstream closes the client's socket, which fires its callback
    case RemoteProc.CONNECT_SET_IDENTITY:
      return {
        kind: "error",
        message: "Setting the identity of a shared upstream connection is not allowed",
        code: ErrorCode.OPERATION_DENIED,
      };
    case RemoteProc.DOMAIN_CREATE_XML:
    case RemoteProc.DOMAIN_CREATE_WITH_FLAGS:
      return refuseAutodestroy(frame);
  }
  return undefined;
}

/**
 * VIR_DOMAIN_START_AUTODESTROY ties a domain to the connection that started it: libvirtd
 * destroys it when that connection closes, and a pool's connection outlives its clients. So the
 * flag is refused rather than leave the domain running after its client is gone.
 */
function refuseAutodestroy(frame: Uint8Array): LocalAnswer {
  let flags: number | undefined;
  try {
    flags = domainStartFlags(frame);
  } catch (error) {
    return { kind: "error", message: errorMessage(error), code: ErrorCode.RPC };
  }
  if (flags === undefined || (flags & DOMAIN_START_AUTODESTROY) === 0) return undefined;
  return {
    kind: "error",
    message: "Starting a domain with VIR_DOMAIN_START_AUTODESTROY is not supported through a " +
      "shared virtmux listener: the upstream connection outlives the client, so the domain would too",
    code: ErrorCode.OPERATION_UNSUPPORTED,
  };
}
