/**
 * The single file's launcher (tools/single_file.ts), with a stand-in "runtime" that prints how it
 * was run: where it unpacks (XDG_CACHE_HOME, HOME, else /tmp/virtmux-UID), with what arguments
 * and environment it execs, and that a truncated file is refused. The real runtime is run by
 * tests/integration/single_file_test.ts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { buildSingleFile } from "../../tools/single_file.ts";
import { runCommand } from "../integration/helpers/process.ts";
import { tempDir } from "../integration/helpers/tmp.ts";

const encoder = new TextEncoder();
const RUNTIME = encoder.encode(
  `#!/bin/sh\nprintf 'argv0=%s\\n' "$VIRTMUX_ARGV0"\nprintf 'deno_dir=%s\\n' "$DENO_DIR"\n` +
    `for a in "$@"; do printf '%s\\n' "$a"; done\n`,
);

Deno.test("the launcher unpacks once into the cache and execs the runtime on the program", async () => {
  await using dir = await tempDir("launcher");
  const program = encoder.encode(`// program ${crypto.randomUUID()}\n`);
  const file = join(dir.path, "virtmux");
  await Deno.writeFile(
    file,
    await buildSingleFile({
      runtime: RUNTIME,
      program,
      flags: ["--v8-flags=--x", "--allow-read"],
      version: "0.0.0",
    }),
    { mode: 0o755 },
  );
  const home = join(dir.path, "home");
  await Deno.mkdir(home);
  const run = (env: string[], args: string[]) =>
    runCommand("env", ["-i", "PATH=/usr/bin:/bin", ...env, file, ...args]);

  const first = await run([`HOME=${home}`], ["serve", "--config", "a b.toml"]);
  assert.equal(first.code, 0, first.stderr);
  const [hash] = [...Deno.readDirSync(join(home, ".cache", "virtmux"))].map((e) => e.name);
  const unpacked = join(home, ".cache", "virtmux", hash);
  assert.deepEqual(first.stdout.trim().split("\n"), [
    `argv0=${file}`,
    `deno_dir=${unpacked}/deno_dir`,
    "run",
    "--quiet",
    "--no-config",
    "--no-lock",
    "--no-prompt",
    "--cached-only",
    "--v8-flags=--x",
    "--allow-read",
    `${unpacked}/virtmux.js`,
    "serve",
    "--config",
    "a b.toml",
  ]);
  assert.deepEqual(await Deno.readFile(join(unpacked, "virtmux.js")), program);
  assert.deepEqual(await Deno.readFile(join(unpacked, "deno")), RUNTIME);

  const xdg = join(dir.path, "xdg");
  const second = await run([`HOME=${home}`, `XDG_CACHE_HOME=${xdg}`], ["version"]);
  assert.equal(second.code, 0, second.stderr);
  assert.ok(Deno.statSync(join(xdg, "virtmux", hash, "deno")).isFile);

  // An empty HOME: a private directory under /tmp, owned by the user, mode 0700.
  const uid = Deno.uid()!;
  const fallback = `/tmp/virtmux-${uid}`;
  const existed = (() => {
    try {
      return Deno.lstatSync(fallback).isDirectory;
    } catch {
      return false;
    }
  })();
  try {
    const third = await run(["HOME="], ["version"]);
    assert.equal(third.code, 0, third.stderr);
    const info = Deno.lstatSync(fallback);
    assert.ok(info.isDirectory);
    assert.equal(info.uid, uid);
    assert.ok(Deno.statSync(join(fallback, hash, "virtmux.js")).isFile);
  } finally {
    await Deno.remove(join(fallback, hash), { recursive: true }).catch(() => {});
    if (!existed) await Deno.remove(fallback).catch(() => {});
  }

  const truncated = join(dir.path, "truncated");
  const bytes = await Deno.readFile(file);
  await Deno.writeFile(truncated, bytes.subarray(0, bytes.length - 3), { mode: 0o755 });
  const broken = await runCommand("env", [
    "-i",
    "PATH=/usr/bin:/bin",
    `HOME=${join(dir.path, "home2")}`,
    truncated,
  ]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /cannot unpack .* \(is it truncated/);
});
