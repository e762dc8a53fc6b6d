/**
 * Dialing an upstream daemon from a parsed libvirt URI: one entry point that picks the transport
 * the URI names and returns a {@linkcode Channel}.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { LibvirtUri } from "../uri/uri.ts";
import { type Channel, DialError } from "./channel.ts";
import { dialExt } from "./ext.ts";
import { dialSsh } from "./ssh.ts";
import { dialTcp } from "./tcp.ts";
import { dialTls } from "./tls.ts";
import { dialUnix } from "./unix.ts";

/** Options for {@linkcode dial}. */
export interface DialOptions {
  /** The upstream's name, for messages and logs. */
  name: string;
  /**
   * Time allowed for the whole connection setup (connect, handshakes, confirmation), in ms.
   *
   * @default {10000}
   */
  timeoutMs?: number;
  /** The client opens read-only: unix upstreams then use the daemon's read-only socket. */
  readonly?: boolean;
  /** Where transport diagnostics go (ssh's stderr, TLS warnings). */
  logger?: Logger;
}

/** The connection timeout applied when none is given, in ms. */
export const DEFAULT_DIAL_TIMEOUT_MS = 10000;

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

/** Describes an error from the operating system briefly: "Connection refused (os error 111)". */
export function describeCause(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Runs `connect` with a deadline of `timeoutMs`; on timeout, `cleanup` releases what the attempt
 * had opened and a {@linkcode DialError} says what timed out.
 */
export async function withDeadline<T>(
  what: string,
  timeoutMs: number,
  connect: () => Promise<T>,
  cleanup: (value: T) => void = () => {},
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const attempt = connect();
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new DialError(`${what}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
    if (timedOut) attempt.then(cleanup, () => {});
  }
}
