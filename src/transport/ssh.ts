/**
 * The ssh transport: runs the `ssh` command line {@linkcode planSsh} plans (libvirt 9.0's, see
 * ssh_command.ts, which also says how libssh and libssh2 URIs are served) and carries frames over
 * its stdin/stdout (a {@linkcode ChildChannel}).
 *
 * @module
 */

import type { LibvirtUri } from "../uri/uri.ts";
import { describeCause, type DialOptions } from "./_dial_common.ts";
import { DialError } from "./channel.ts";
import { type ChildChannel, startCommand } from "./child_channel.ts";
import { planSsh } from "./ssh_command.ts";

/** Options for {@linkcode dialSsh}: {@linkcode DialOptions} plus the knobs tests use. */
export interface DialSshOptions extends DialOptions {
  /** Passed to {@linkcode planSsh}. */
  uid?: number;
}

/**
 * Starts ssh for `uri` and returns its channel. Authentication happens while the first frames
 * travel: a failure shows as end of stream, and the channel's `diagnostics()` then holds ssh's
 * stderr ("Permission denied (publickey)") for the error the client sees.
 *
 * @throws {DialError} when the parameters are invalid or the command cannot be started.
 */
export function dialSsh(uri: LibvirtUri, options: DialSshOptions): Promise<ChildChannel> {
  const what = `Cannot connect to upstream "${options.name}" (${uri.text})`;
  try {
    const plan = planSsh(uri, { readonly: options.readonly ?? false, uid: options.uid });
    return Promise.resolve(startCommand(what, plan.argv, options.name, options.logger));
  } catch (error) {
    if (error instanceof DialError) return Promise.reject(error);
    return Promise.reject(new DialError(`${what}: ${describeCause(error)}`, { cause: error }));
  }
}
