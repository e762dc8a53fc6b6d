/**
 * virtmux logging in to a daemon on a freshly dialed channel, before anything else uses it:
 * AUTH_LIST, and when the daemon asks for SASL, the whole SASL exchange with credentials from
 * auth.conf. libvirtd then treats the connection as authenticated (its AUTH_LIST answers "none"
 * from then on), so whatever runs on the returned channel next — a shared pool's handshake, or a
 * dedicated client's own AUTH_LIST passed through — proceeds as on a daemon without auth.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import type { LibvirtUri } from "../../uri/uri.ts";
import { ALL_PROGRAMS, AuthType, HEADER_BYTES, RemoteProc } from "../../wire/constants.ts";
import { FrameReader } from "../../wire/frame_reader.ts";
import { readU32 } from "../../wire/header.ts";
import { type Channel, withDiagnostics } from "../channel.ts";
import { withDeadline } from "../_dial_common.ts";
import { type HandshakeCall, handshakeCaller } from "../handshake_call.ts";
import { SaslChannel } from "../sasl_channel.ts";
import { authenticateSasl, type CredentialSource, SaslError } from "./authenticate.ts";

/** Options for {@linkcode loginUpstream}. */
export interface UpstreamLoginOptions {
  /** The upstream's name, for messages. */
  name: string;
  /** The upstream URI (host, `authfile=`, `auth=sasl.MECH`, transport). */
  uri: LibvirtUri;
  /** Time allowed for the whole login, in ms. */
  timeoutMs: number;
  /** Where credentials come from; by default auth.conf as libvirt's client finds it. */
  credentials?: CredentialSource;
}

/** A channel after {@linkcode loginUpstream}. */
export interface UpstreamLogin {
  /** The channel to use from now on: the dialed one, or a {@linkcode SaslChannel} over it. */
  channel: Channel;
  /** What the daemon's AUTH_LIST offered (AuthType values). */
  authTypes: number[];
  /** The SASL mechanism used, when there was a SASL login. */
  mechanism?: string;
  /** The security layer's strength in bits, 0 without one. */
  ssf: number;
}

/**
 * Whether a channel of `uri`'s transport is private already, so SASL needs no security layer, as
 * libvirt's client judges it (`priv->is_secure`, remote_driver.c): unix, TLS and ssh are; plain
 * tcp is not, and neither is ext ("we can't guarantee an external program is secure").
 */
export function channelIsSecure(uri: LibvirtUri): boolean {
  return uri.transport !== "tcp" && uri.transport !== "ext";
}

/**
 * Asks the daemon on `channel` how to authenticate and, when it wants SASL, logs in.
 *
 * @returns the channel to use from now on, with what was negotiated
 * @throws {SaslError} with the daemon's own error and code (`authentication failed`, 45) or
 * what failed here (a missing credential, with the auth.conf paths tried); a timeout or a closed
 * channel as a SaslError too. `channel` is left open: the caller closes it.
 */
export function loginUpstream(
  channel: Channel,
  options: UpstreamLoginOptions,
): Promise<UpstreamLogin> {
  const what = `Cannot log in to upstream "${options.name}" (${options.uri.text})`;
  return withDeadline(what, options.timeoutMs, () => login(channel, options, what)).catch(
    (error) => {
      if (error instanceof SaslError) throw error;
      throw new SaslError(errorMessage(error), { cause: error });
    },
  );
}

async function login(
  channel: Channel,
  options: UpstreamLoginOptions,
  what: string,
): Promise<UpstreamLogin> {
  const call = callOn(channel, what);
  const list = await call(RemoteProc.AUTH_LIST);
  const count = readU32(list, HEADER_BYTES);
  const authTypes = Array.from(
    { length: count },
    (_, i) => readU32(list, HEADER_BYTES + 4 + 4 * i),
  );
  if (!authTypes.includes(AuthType.SASL) || authTypes.includes(AuthType.NONE)) {
    return { channel, authTypes, ssf: 0 };
  }
  const result = await authenticateSasl(call, {
    name: options.name,
    uri: options.uri,
    channelIsSecure: channelIsSecure(options.uri),
    credentials: options.credentials,
  });
  return {
    channel: result.layer ? new SaslChannel(channel, result.layer) : channel,
    authTypes,
    mechanism: result.mechanism,
    ssf: result.ssf,
  };
}

/**
 * One REMOTE call at a time on `channel`, before anything else uses it: an error reply thrown as
 * a {@linkcode SaslError} carrying the daemon's message and code.
 */
function callOn(channel: Channel, what: string): HandshakeCall {
  let serial = 0;
  return handshakeCaller({
    channel: () => channel,
    reader: new FrameReader({ programs: ALL_PROGRAMS, direction: "fromServer" }),
    nextSerial: () => serial++,
    refused: (error) =>
      new SaslError(error.message ?? `${what}: the daemon refused`, {
        code: error.code,
        domain: error.domain,
      }),
    closed: () =>
      new SaslError(withDiagnostics(`${what}: the daemon closed the connection`, channel)),
  });
}
