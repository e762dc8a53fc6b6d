/**
 * virtmux: a libvirt RPC proxy. The layers are listed in src/mod.ts.
 *
 * @module
 */

import { runCli } from "./src/cli/main.ts";
import { invokedName, roleArgs } from "./src/cli/role.ts";

if (import.meta.main) {
  Deno.exit(await runCli(roleArgs(Deno.args, invokedName())));
}
