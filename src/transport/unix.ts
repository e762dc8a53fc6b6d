/**
 * The unix transport: a local daemon's socket, given by `socket=` or libvirt's default path.
 *
 * @module
 */

import { unixSocketPath } from "../uri/remote.ts";
import type { LibvirtUri } from "../uri/uri.ts";
import { type Channel, DialError } from "./channel.ts";
import {
  DEFAULT_DIAL_TIMEOUT_MS,
  describeCause,
  type DialOptions,
  withDeadline,
} from "./_dial_common.ts";

/** Connects to the unix socket `uri` implies (the read-only one when `options.readonly`). */
export async function dialUnix(uri: LibvirtUri, options: DialOptions): Promise<Channel> {
  const path = unixSocketPath(uri, { readonly: options.readonly ?? false });
  const what = `Cannot connect to upstream "${options.name}" (${uri.text}) at socket "${path}"`;
  try {
    return await withDeadline(
      what,
      options.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS,
      () => Deno.connect({ transport: "unix", path }),
      (conn) => conn.close(),
    );
  } catch (error) {
    if (error instanceof DialError) throw error;
    throw new DialError(`${what}: ${describeCause(error)}`, { cause: error });
  }
}
