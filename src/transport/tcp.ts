/**
 * The tcp transport: plain TCP to libvirtd's port 16509 (no encryption; the daemon's auth_tcp
 * decides whether SASL is needed, which passes through the proxy untouched).
 *
 * @module
 */

import { defaultPort } from "../uri/remote.ts";
import type { LibvirtUri } from "../uri/uri.ts";
import { type Channel, DialError } from "./channel.ts";
import {
  DEFAULT_DIAL_TIMEOUT_MS,
  describeCause,
  type DialOptions,
  withDeadline,
} from "./_dial_common.ts";

/** Connects by TCP to the host and port of `uri`. */
export async function dialTcp(uri: LibvirtUri, options: DialOptions): Promise<Channel> {
  const hostname = uri.host || "localhost";
  const port = uri.port ?? defaultPort(uri);
  const what = `Cannot connect to upstream "${options.name}" (${uri.text}) at ${
    hostname.includes(":") ? `[${hostname}]` : hostname
  }:${port}`;
  try {
    const conn = await withDeadline(
      what,
      options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      () => Deno.connect({ transport: "tcp", hostname, port }),
      (conn) => conn.close(),
    );
    conn.setNoDelay(true);
    return conn;
  } catch (error) {
    if (error instanceof DialError) throw error;
    throw new DialError(`${what}: ${describeCause(error)}`, { cause: error });
  }
}
