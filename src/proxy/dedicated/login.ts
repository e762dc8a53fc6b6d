/**
 * A dedicated connection whose upstream is set to `sasl = "proxy"`: virtmux logs in to the daemon
 * itself before relaying anything, so the client's own AUTH_LIST, passed through, is answered
 * "none" by the daemon and the client needs no SASL (nor, on plain tcp, a security layer).
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import type { Channel } from "../../transport/channel.ts";
import { loginUpstream } from "../../transport/sasl/upstream_login.ts";
import type { LibvirtUri } from "../../uri/uri.ts";
import { closeQuietly } from "../refuse_client.ts";
import { UpstreamError } from "../upstream_error.ts";

/** Options for {@linkcode loginOrClose}. */
export interface LoginOptions {
  /** The upstream's name. */
  name: string;
  /** Its URI: host, `authfile=`, `auth=sasl.MECH`, transport. */
  uri: LibvirtUri;
  /** Time allowed for the login, in ms. */
  timeoutMs: number;
  /** Where the login is logged. */
  logger: Logger;
}

/**
 * Logs in on a freshly dialed `channel` and returns the channel to relay on (a SaslChannel when
 * a security layer was negotiated).
 *
 * @throws {UpstreamError} with the daemon's code (`authentication failed`, VIR_ERR_AUTH_FAILED)
 * or naming what is missing; `channel` is closed then
 */
export async function loginOrClose(channel: Channel, options: LoginOptions): Promise<Channel> {
  try {
    const login = await loginUpstream(channel, options);
    if (login.mechanism) {
      options.logger.info("Upstream SASL login", { mechanism: login.mechanism, ssf: login.ssf });
    }
    return login.channel;
  } catch (error) {
    closeQuietly(channel);
    throw UpstreamError.from(error);
  }
}
