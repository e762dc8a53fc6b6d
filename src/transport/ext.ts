/**
 * The ext transport: libvirt runs `command=` with no arguments and speaks the protocol over its
 * stdin/stdout (virNetClientNewExternal in src/rpc/virnetclient.c). Here the command runs in its
 * own process group on a {@linkcode ChildChannel}: stderr goes to the log under the upstream's
 * name, the exit status is logged (and, after a failure, is part of the channel's
 * `diagnostics()`), and closing the channel ends the whole group.
 *
 * @module
 */

import type { LibvirtUri } from "../uri/uri.ts";
import { DialError } from "./channel.ts";
import { type ChildChannel, startCommand } from "./child_channel.ts";
import type { DialOptions } from "./_dial_common.ts";

/**
 * Starts `command=` of `uri` and returns its channel.
 *
 * @throws {DialError} when the URI has no command or it cannot be started.
 */
export function dialExt(uri: LibvirtUri, options: DialOptions): Promise<ChildChannel> {
  const what = `Cannot connect to upstream "${options.name}" (${uri.text})`;
  const command = uri.options.command;
  if (command === undefined || command === "") {
    return Promise.reject(
      new DialError(`${what}: the ext transport needs a command= parameter`),
    );
  }
  try {
    return Promise.resolve(startCommand(what, [command], options.name, options.logger));
  } catch (error) {
    return Promise.reject(error);
  }
}
