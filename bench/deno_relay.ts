/**
 * The plainest unix-socket relay Deno can run: per client, one upstream connection and two loops
 * of `read()` into a reused 64 KiB buffer and `write()` of what was read. No framing, no checks.
 * It is the floor for any Deno relay on this machine, so a figure can tell virtmux's own cost
 * from the runtime's.
 *
 * Run: `deno run -A bench/deno_relay.ts --listen PATH --target PATH`.
 *
 * @module
 */

import { parseArgs } from "node:util";

async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(65536);
  try {
    while (true) {
      const n = await from.read(buf);
      if (n === null) break;
      let written = 0;
      while (written < n) written += await to.write(buf.subarray(written, n));
    }
  } catch { /* either side went away */ }
  try {
    from.close();
  } catch { /* closed */ }
  try {
    to.close();
  } catch { /* closed */ }
}

/** Relays every client of `listen` to `target` until the process is killed. */
export async function serveDenoRelay(listen: string, target: string): Promise<void> {
  try {
    Deno.removeSync(listen);
  } catch { /* not there */ }
  for await (const client of Deno.listen({ transport: "unix", path: listen })) {
    Deno.connect({ transport: "unix", path: target }).then((upstream) => {
      pump(client, upstream);
      pump(upstream, client);
    }, () => client.close());
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { listen: { type: "string" }, target: { type: "string" } },
  });
  if (!values.listen || !values.target) {
    console.error("Usage: deno_relay.ts --listen PATH --target PATH");
    Deno.exit(2);
  }
  await serveDenoRelay(values.listen, values.target);
}
