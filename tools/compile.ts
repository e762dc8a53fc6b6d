/**
 * `deno task compile`: one file to drop on a machine without Deno, in dist/.
 *
 * - Where a `denort` runtime is present (`DENORT_BIN`, or Deno's download cache
 *   `$DENO_DIR/dl/release/vVERSION/denort-TARGET.zip`), `deno compile` builds
 *   `dist/virtmux-x86_64` and `dist/virtmux-aarch64` for each Linux target it has a runtime for,
 *   and `dist/virtmux` is the one for this machine.
 * - Where none is (this project's build machines cannot reach Deno's download site),
 *   `dist/virtmux` is built anyway as a self-contained single file (tools/single_file.ts): a shell
 *   launcher, the Deno runtime of the `deno` npm package, and the bundled program; likewise
 *   `dist/virtmux-aarch64` when that npm package's aarch64 runtime is found.
 *
 * Both run with the permissions of tools/permissions.ts and the V8 flag of tools/v8_flags.ts,
 * never `-A`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { PERMISSION_FLAGS } from "./permissions.ts";
import { buildSingleFile } from "./single_file.ts";
import { taskArgs } from "./task_args.ts";
import { V8_FLAGS } from "./v8_flags.ts";
import { fileExists } from "../src/uri/remote.ts";

const USAGE = `Usage: deno task compile [--single-file] [--out DIR]

Builds dist/virtmux: with "deno compile" where a denort runtime is present (DENORT_BIN or
Deno's cache), else as a self-contained single file (launcher + Deno runtime + bundle).
  --single-file   build the single file even when a denort runtime is present
  --out DIR       output directory (default: dist)`;

/** A Linux target: Deno's target triple, the npm package of its runtime, the file suffix. */
interface Target {
  triple: string;
  npmPackage: string;
  arch: string;
}

const TARGETS: readonly Target[] = [
  { triple: "x86_64-unknown-linux-gnu", npmPackage: "@deno/linux-x64-glibc", arch: "x86_64" },
  { triple: "aarch64-unknown-linux-gnu", npmPackage: "@deno/linux-arm64-glibc", arch: "aarch64" },
];

const version = Deno.version.deno;
const hostArch = Deno.build.arch;

function denoDir(): string {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  const cache = Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME") || "/root"}/.cache`;
  return `${cache}/deno`;
}

/** A local denort for `target`: $DENORT_BIN for this machine's target, else Deno's cache. */
function findDenort(target: Target): string | undefined {
  const explicit = Deno.env.get("DENORT_BIN");
  if (explicit && target.arch === hostArch) return explicit;
  const cached = `${denoDir()}/dl/release/v${version}/denort-${target.triple}.zip`;
  return fileExists(cached) ? cached : undefined;
}

/** Directories that may hold the `deno` npm package's platform packages, nearest first. */
function npmModuleDirs(): string[] {
  const dirs = ["node_modules"];
  const home = Deno.env.get("HOME");
  const npmCache = Deno.env.get("npm_config_cache") || (home ? `${home}/.npm` : undefined);
  if (npmCache) {
    try {
      for (const entry of Deno.readDirSync(`${npmCache}/_npx`)) {
        dirs.push(`${npmCache}/_npx/${entry.name}/node_modules`);
      }
    } catch { /* no npx cache */ }
  }
  return dirs;
}

/**
 * The Deno runtime binary for `target`, of this Deno's version: from the `deno` npm package's
 * platform package in node_modules or npm's npx cache, else (for this machine) the running one.
 */
function findRuntime(target: Target): string | undefined {
  for (const dir of npmModuleDirs()) {
    const pkg = join(dir, target.npmPackage);
    try {
      const meta = JSON.parse(Deno.readTextFileSync(join(pkg, "package.json")));
      if (meta.version === version && fileExists(join(pkg, "deno"))) return join(pkg, "deno");
    } catch { /* not there */ }
  }
  return target.arch === hostArch ? Deno.execPath() : undefined;
}

async function run(args: string[], env: Record<string, string> = Deno.env.toObject()) {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args,
    env,
    clearEnv: true,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error(`deno ${args.join(" ")} exited ${code}`);
}

async function compileTarget(target: Target, out: string): Promise<string> {
  const output = join(out, `virtmux-${target.arch}`);
  // DENORT_BIN is this machine's runtime; other targets come from Deno's cache.
  const env = Deno.env.toObject();
  if (target.arch !== hostArch) delete env.DENORT_BIN;
  await run(
    [
      "compile",
      ...PERMISSION_FLAGS,
      V8_FLAGS,
      "--target",
      target.triple,
      "--output",
      output,
      "main.ts",
    ],
    env,
  );
  return output;
}

async function singleFile(target: Target, runtime: string, out: string): Promise<string> {
  const bundle = await Deno.makeTempFile({ prefix: "virtmux-bundle-", suffix: ".js" });
  try {
    await run(["bundle", "--quiet", "-o", bundle, "main.ts"]);
    const file = await buildSingleFile({
      runtime: await Deno.readFile(runtime),
      program: await Deno.readFile(bundle),
      flags: [V8_FLAGS, ...PERMISSION_FLAGS],
      version: denoJson.version,
    });
    const output = join(out, `virtmux-${target.arch}`);
    await Deno.writeFile(output, file, { mode: 0o755 });
    await Deno.chmod(output, 0o755);
    return output;
  } finally {
    await Deno.remove(bundle).catch(() => {});
  }
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: taskArgs(Deno.args),
      options: {
        "single-file": { type: "boolean" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    console.error(`compile: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const out = values.out ?? "dist";
  await Deno.mkdir(out, { recursive: true });
  const host = TARGETS.find((t) => t.arch === hostArch);
  if (host === undefined) {
    console.error(`compile: no Linux target for this machine's architecture "${hostArch}"`);
    return 1;
  }
  const built: string[] = [];
  if (!values["single-file"] && findDenort(host) !== undefined) {
    for (const target of TARGETS) {
      if (findDenort(target) === undefined) {
        console.error(`compile: no denort for ${target.triple}; skipped`);
        continue;
      }
      built.push(await compileTarget(target, out));
    }
  } else {
    console.error(
      `compile: no denort ${version} runtime (DENORT_BIN, or ${denoDir()}/dl/release/v${version}/)` +
        `: building self-contained single files from the deno npm package's runtime`,
    );
    for (const target of TARGETS) {
      const runtime = findRuntime(target);
      if (runtime === undefined) {
        console.error(`compile: no Deno ${version} runtime for ${target.triple}; skipped`);
        continue;
      }
      built.push(await singleFile(target, runtime, out));
    }
  }
  const hostFile = join(out, `virtmux-${host.arch}`);
  await Deno.copyFile(hostFile, join(out, "virtmux"));
  await Deno.chmod(join(out, "virtmux"), 0o755);
  for (const file of [...built, join(out, "virtmux")]) {
    console.error(`compile: ${file} (${(Deno.statSync(file).size / 1048576).toFixed(1)} MiB)`);
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
