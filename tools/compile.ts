/**
 * `deno task compile`: builds the single-file `dist/virtmux` with `deno compile`. deno compile
 * needs a `denort` runtime; it downloads one unless `DENORT_BIN` names a local copy. Where neither
 * a local denort nor the download site is available, this says so and exits 0 without building,
 * so CI can call it everywhere; `deno task bundle` still proves the program is one module.
 *
 * Usage: deno run -A tools/compile.ts [--require]   (--require: fail instead of skipping)
 *
 * @module
 */

import { V8_FLAGS } from "./v8_flags.ts";

const require = Deno.args.includes("--require");
const version = Deno.version.deno;
const home = Deno.env.get("HOME") ?? "/root";
const cacheDir = Deno.env.get("DENO_DIR") ?? `${home}/.cache/deno`;

/** A local denort: $DENORT_BIN, else one in Deno's download cache for this version. */
function findDenort(): string | undefined {
  const explicit = Deno.env.get("DENORT_BIN");
  if (explicit) return explicit;
  const dir = `${cacheDir}/dl/release/v${version}`;
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.name.startsWith("denort")) return `${dir}/${entry.name}`;
    }
  } catch { /* no cache */ }
  return undefined;
}

const denort = findDenort();
if (denort === undefined) {
  const message = `compile skipped: no denort ${version} runtime found (set DENORT_BIN to a ` +
    `denort binary, or put it in ${cacheDir}/dl/release/v${version}/); the download site is not ` +
    `reachable from this machine`;
  console.error(message);
  Deno.exit(require ? 1 : 0);
}

const command = new Deno.Command(Deno.execPath(), {
  args: ["compile", "-A", V8_FLAGS, "--output", "dist/virtmux", "main.ts"],
  env: Deno.env.get("DENORT_BIN") ? {} : { DENORT_BIN: denort },
  stdout: "inherit",
  stderr: "inherit",
});
const { code } = await command.output();
if (code === 0) console.error("compiled dist/virtmux");
Deno.exit(code);
