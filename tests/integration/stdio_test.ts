/**
 * virtmux as libvirt's `ext` transport command: libvirt runs a wrapper script with no arguments
 * and a reduced environment, and virtmux serves that one client on stdin/stdout, relaying it to
 * the upstream its config (or an explicit `stdio URI`) names.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, runCommand } from "./helpers/process.ts";
import { runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { MAIN_TS } from "./helpers/virtmux.ts";

/** Deno's cache directory: libvirt's reduced environment (and virsh's private HOME) hide it. */
async function denoDir(): Promise<string> {
  const result = await runCommand(Deno.execPath(), ["info", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout).denoDir;
}

/**
 * Writes an executable wrapper that sets `env` and runs `virtmux ...args`.
 *
 * @returns its path
 */
async function writeWrapper(
  dir: string,
  name: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<string> {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const lines = [
    "#!/bin/sh",
    ...Object.entries(env).map(([key, value]) => `export ${key}=${quote(value)}`),
    `exec ${quote(Deno.execPath())} run -A ${quote(MAIN_TS)} ${args.map(quote).join(" ")} "$@"`,
    "",
  ];
  const path = join(dir, name);
  await Deno.writeTextFile(path, lines.join("\n"));
  await Deno.chmod(path, 0o755);
  return path;
}

/** The ext URI that runs `command`. */
function ext(command: string): string {
  return `test+ext:///default?command=${command}`;
}

Deno.test("stdio mode: virtmux as libvirt's ext transport command", async (t) => {
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("stdio");
  try {
    const common = { DENO_DIR: await denoDir(), NO_COLOR: "1", RUST_BACKTRACE: "0" };
    const config = join(dir, "virtmux.toml");
    // The first upstream is unreachable, so only VIRTMUX_UPSTREAM=second can work.
    await Deno.writeTextFile(
      config,
      `
[log]
level = "warning"

[limits]
connect_timeout = 3

[[upstream]]
name = "first"
uri = "${libvirtd.uris.unix}"

[[upstream]]
name = "second"
uri = "${libvirtd.uris.tcp}"
`,
    );
    const plain = await writeWrapper(dir, "virtmux-plain", {
      ...common,
      VIRTMUX_CONFIG: config,
    });

    await t.step("virsh list --all over test+ext with the config's first upstream", async () => {
      const result = await virsh(ext(plain), ["list", "--all"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
    });

    await t.step("virsh session with destroy/start and a screenshot stream over ext", async () => {
      const file = join(dir, "shot.ppm");
      const result = await virsh(ext(plain), [
        `destroy test; start test; domstate test; screenshot test ${file}`,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^running$/m);
      const direct = join(dir, "direct.ppm");
      const shot = await virsh(libvirtd.uris.unix, ["screenshot", "test", direct]);
      assert.equal(shot.code, 0, shot.stderr);
      assert.deepEqual(await Deno.readFile(file), await Deno.readFile(direct));
    });

    await t.step("python-libvirt getLibVersion over the same ext URI", async () => {
      const result = await runPython(
        "import sys, libvirt\nc = libvirt.open(sys.argv[1])\nprint(c.getLibVersion())\n" +
          "print(c.lookupByName('test').name())\nc.close()",
        [ext(plain)],
      );
      assert.equal(result.code, 0, result.stderr);
      const [version, name] = result.stdout.trim().split("\n");
      assert.equal(Math.floor(Number(version) / 1000000), 9);
      assert.equal(name, "test");
    });

    await t.step("VIRTMUX_UPSTREAM selects the config's second upstream", async () => {
      // Take the first upstream away: only the tcp one can answer now.
      const broken = join(dir, "broken.toml");
      await Deno.writeTextFile(
        broken,
        (await Deno.readTextFile(config)).replace(
          libvirtd.uris.unix,
          `test+unix:///default?socket=${join(dir, "nothing.sock")}`,
        ),
      );
      const first = await writeWrapper(dir, "virtmux-first", {
        ...common,
        VIRTMUX_CONFIG: broken,
      });
      const failed = await virsh(ext(first), ["list", "--all"]);
      assert.notEqual(failed.code, 0);
      assert.match(failed.stderr, /"first"/);

      const second = await writeWrapper(dir, "virtmux-second", {
        ...common,
        VIRTMUX_CONFIG: broken,
        VIRTMUX_UPSTREAM: "second",
      });
      const result = await virsh(ext(second), ["list", "--all"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
    });

    await t.step("VIRTMUX_UPSTREAM naming no upstream: virsh shows virtmux's error", async () => {
      const wrapper = await writeWrapper(dir, "virtmux-nosuch", {
        ...common,
        VIRTMUX_CONFIG: config,
        VIRTMUX_UPSTREAM: "nosuch",
      });
      const result = await virsh(ext(wrapper), ["list", "--all"], { timeoutMs: 15000 });
      assert.notEqual(result.code, 0);
      assert.ok(!result.timedOut, "virsh hung");
      assert.match(result.stderr, /no upstream named "nosuch"/);
    });

    await t.step("virtmux stdio URI relays to an explicit upstream", async () => {
      const wrapper = await writeWrapper(dir, "virtmux-explicit", common, [
        "stdio",
        libvirtd.uris.unix,
      ]);
      const result = await virsh(ext(wrapper), ["list", "--all"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
    });

    await t.step("a bad config: virsh fails and shows virtmux's FILE:LINE:COL error", async () => {
      const bad = join(dir, "bad.toml");
      await Deno.writeTextFile(
        bad,
        `[[upstream]]\nname = "x"\nuri = "${libvirtd.uris.unix}"\nshare = false\nbogus_key = 1\n`,
      );
      const wrapper = await writeWrapper(dir, "virtmux-bad", { ...common, VIRTMUX_CONFIG: bad });
      const result = await virsh(ext(wrapper), ["list", "--all"], { timeoutMs: 15000 });
      assert.notEqual(result.code, 0);
      assert.ok(!result.timedOut, "virsh hung");
      assert.ok(result.stderr.includes(`${bad}:5:1:`), result.stderr);
      assert.match(result.stderr, /unknown key "bogus_key"/);
    });
  } finally {
    await libvirtd.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
