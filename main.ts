/**
 * virtmux: a libvirt RPC proxy. The layers are listed in src/mod.ts.
 *
 * @module
 */

import { runCli } from "./src/cli/main.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
