/**
 * Dialing an upstream daemon from a parsed libvirt URI: one entry point that picks the transport
 * the URI names and returns a {@linkcode Channel}. Only the dispatcher: what the transports share
 * is in _dial_common.ts, so none of them imports this file back.
 *
 * @module
 */

import type { LibvirtUri } from "../uri/uri.ts";
import type { DialOptions } from "./_dial_common.ts";
import { type Channel, DialError } from "./channel.ts";
import { dialExt } from "./ext.ts";
import { dialSsh } from "./ssh.ts";
import { dialTcp } from "./tcp.ts";
import { dialTls } from "./tls.ts";
import { dialUnix } from "./unix.ts";

export { DEFAULT_DIAL_TIMEOUT_MS, type DialOptions } from "./_dial_common.ts";

/**
 * Opens a channel to the daemon `uri` names, with the transport it names.
 *
 * @throws {DialError} naming the upstream, the URI and the cause.
 */
export function dial(uri: LibvirtUri, options: DialOptions): Promise<Channel> {
  switch (uri.transport) {
    case "unix":
      return dialUnix(uri, options);
    case "tcp":
      return dialTcp(uri, options);
    case "tls":
      return dialTls(uri, options);
    case "ssh":
    case "libssh":
    case "libssh2":
      // libvirt's in-library ssh clients are served by the ssh command: see ssh.ts.
      return dialSsh(uri, options);
    case "ext":
      return dialExt(uri, options);
    default:
      return Promise.reject(
        new DialError(
          `Cannot connect to upstream "${options.name}" (${uri.text}): ` +
            `transport "${uri.transport}" is not supported yet`,
        ),
      );
  }
}
