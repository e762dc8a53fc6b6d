/**
 * virtmux: a libvirt RPC proxy. Layout (each layer uses only those listed before it):
 *
 * - `src/wire/`: frames, the 28-byte header, checks, error replies, protocol constants
 * - `src/uri/`: libvirt URIs, their defaults and the open name they imply
 * - `src/log/`: structured logging to stderr
 * - `src/transport/`: dialing upstreams (unix, tcp, tls, ssh, ext) into byte channels
 * - `src/proxy/`: listeners, client sessions, relaying
 * - `src/config/`: the TOML config, validated into types
 * - `src/cli/`: the subcommands
 *
 * @module
 */

import { runCli } from "./src/cli/main.ts";
import { invokedName, roleArgs } from "./src/cli/role.ts";

if (import.meta.main) {
  Deno.exit(await runCli(roleArgs(Deno.args, invokedName())));
}
