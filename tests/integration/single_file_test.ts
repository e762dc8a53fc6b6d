/**
 * The self-contained single file (`deno task compile --single-file`, tools/single_file.ts) on a
 * machine as bare as a bastion: copied alone into an empty directory, run with `env -i`, an empty
 * HOME and a PATH holding only the few tools its launcher uses (no deno, no node). It prints the
 * same `version` as `deno run main.ts`, serves a socket that a real `virsh list` reaches a real
 * libvirtd through, works as libvirt's ext command, takes its roles from the name it is run as,
 * and survives two first runs racing to unpack it. First-run and later-run start times are
 * printed (the README quotes them).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { startSshd } from "./helpers/sshd.ts";
import { runCommand, spawnProcess, waitForUnixSocket } from "./helpers/process.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { runVirtmux } from "./helpers/virtmux.ts";
import { virsh } from "./helpers/virsh.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The only commands the launcher may need (tools/single_file.ts says which). */
const LAUNCHER_TOOLS = [
  "id",
  "mkdir",
  "mktemp",
  "tail",
  "head",
  "gzip",
  "wc",
  "chmod",
  "mv",
  "rm",
];

/** Writes an executable shell script. */
async function script(path: string, lines: string[]): Promise<string> {
  await Deno.writeTextFile(path, ["#!/bin/sh", ...lines, ""].join("\n"));
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("the single file runs alone on a machine without Deno", async (t) => {
  const dir = await makeTempDir("single-file");
  const daemon = await startLibvirtd({ tls: true });
  try {
    const built = await runCommand(
      Deno.execPath(),
      ["run", "-A", "tools/compile.ts", "--single-file", "--out", join(dir, "out")],
      { cwd: ROOT, timeoutMs: 120000 },
    );
    assert.equal(built.code, 0, built.stderr);

    const alone = join(dir, "alone");
    const home = join(dir, "home");
    const tools = join(dir, "tools");
    for (const d of [alone, home, tools]) await Deno.mkdir(d);
    const file = join(alone, "virtmux");
    await Deno.copyFile(join(dir, "out", "virtmux"), file);
    await Deno.chmod(file, 0o755);
    for (const tool of LAUNCHER_TOOLS) await Deno.symlink(`/usr/bin/${tool}`, join(tools, tool));
    const bare = (args: string[], extra: string[] = []) =>
      runCommand("env", ["-i", `HOME=${home}`, `PATH=${tools}`, ...extra, ...args], {
        timeoutMs: 60000,
      });

    await t.step("no deno or node on its PATH", async () => {
      const which = await bare(["/bin/sh", "-c", "command -v deno || command -v node"]);
      assert.notEqual(which.code, 0, which.stdout);
    });

    await t.step(
      "version: the same as from source; first run unpacks, later runs do not",
      async () => {
        const size = (await Deno.stat(file)).size;
        let started = performance.now();
        const first = await bare([file, "version"]);
        const firstMs = performance.now() - started;
        assert.equal(first.code, 0, first.stderr);
        const later: number[] = [];
        for (let i = 0; i < 5; i++) {
          started = performance.now();
          const again = await bare([file, "version"]);
          later.push(performance.now() - started);
          assert.equal(again.stdout, first.stdout);
        }
        const fromSource = await runVirtmux(["version"]);
        assert.equal(first.stdout, fromSource.stdout);
        const cached = [...Deno.readDirSync(join(home, ".cache", "virtmux"))].map((e) => e.name);
        assert.equal(cached.length, 1, `one unpacked copy: ${cached}`);
        later.sort((a, b) => a - b);
        console.log(
          `single file: ${(size / 1048576).toFixed(1)} MiB, first run ${firstMs.toFixed(0)} ms, ` +
            `later runs median ${later[2].toFixed(0)} ms ("virtmux version")`,
        );
      },
    );

    await t.step("serve: virsh list reaches libvirtd through its socket", async () => {
      const socket = join(dir, "through.sock");
      const config = join(dir, "serve.toml");
      await Deno.writeTextFile(
        config,
        `[[upstream]]\nname = "local"\nuri = "${daemon.uris.unix}"\n\n` +
          `[[listen]]\nsocket = "${socket}"\nupstream = "local"\n`,
      );
      const serve = spawnProcess("env", {
        args: ["-i", `HOME=${home}`, `PATH=${tools}`, file, "serve", "--config", config],
        logFile: join(dir, "serve.log"),
        name: "single-file serve",
      });
      try {
        await waitForUnixSocket(socket, { process: serve, timeoutMs: 20000 });
        const list = await virsh(`test+unix:///default?socket=${socket}`, ["list", "--all"]);
        assert.equal(list.code, 0, list.stderr);
        assert.match(list.stdout, /\btest\s+running/);
      } finally {
        const status = await serve.kill({ graceMs: 10000 });
        assert.equal(status.code, 0, await Deno.readTextFile(join(dir, "serve.log")));
      }
    });

    await t.step(
      "its permissions suffice for every upstream transport and peer checks",
      async () => {
        const sshd = await startSshd({ extraConfig: "SetEnv SHLVL=1" });
        const socketOf = (name: string) => join(dir, `${name}.sock`);
        const upstreams: Record<string, string> = {
          unix: daemon.uris.unix,
          tcp: daemon.uris.tcp,
          tls: daemon.uris.tls!,
          ssh: `test+ssh://${sshd.user}@127.0.0.1:${sshd.port}/default?socket=` +
            `${daemon.unixSocket}&command=${sshd.sshCommand}`,
        };
        const config = join(dir, "transports.toml");
        const lines: string[] = [];
        for (const [name, uri] of Object.entries(upstreams)) {
          lines.push(`[[upstream]]`, `name = "${name}"`, `uri = "${uri}"`, `share = true`, ``);
          // allow_uids goes through the C library (FFI); group through chown.
          lines.push(`[[listen]]`, `socket = "${socketOf(name)}"`, `upstream = "${name}"`);
          lines.push(`group = "root"`, `allow_uids = [${Deno.uid()}]`, ``);
        }
        await Deno.writeTextFile(config, lines.join("\n"));
        const log = join(dir, "transports.log");
        // ssh needs its own binary on PATH; nothing else of the machine's is given.
        const serve = spawnProcess("env", {
          args: ["-i", `HOME=${home}`, `PATH=${tools}:/usr/bin`, file, "serve", "--config", config],
          logFile: log,
          name: "single-file serve (transports)",
        });
        try {
          for (const name of Object.keys(upstreams)) {
            await waitForUnixSocket(socketOf(name), { process: serve, timeoutMs: 20000 });
          }
          for (const name of Object.keys(upstreams)) {
            const list = await virsh(`test+unix:///default?socket=${socketOf(name)}`, ["list"]);
            assert.equal(list.code, 0, `${name}: ${list.stderr}\n${await Deno.readTextFile(log)}`);
            assert.match(list.stdout, /\btest\s+running/, name);
          }
        } finally {
          await serve.kill({ graceMs: 10000 });
          await sshd.stop();
        }
        assert.doesNotMatch(await Deno.readTextFile(log), /NotCapable|PermissionDenied|Requires /);
      },
    );

    await t.step("as libvirt's ext command", async () => {
      const config = join(dir, "ext.toml");
      await Deno.writeTextFile(
        config,
        `[[upstream]]\nname = "local"\nuri = "${daemon.uris.unix}"\n`,
      );
      // libvirt runs ext commands with HOME, PATH and LC_ALL only; the config comes by wrapper.
      const ext = await script(join(dir, "ext"), [
        `HOME='${home}' PATH='${tools}' VIRTMUX_CONFIG='${config}' exec '${file}'`,
      ]);
      const list = await virsh(`test+ext:///default?command=${ext}`, ["list", "--all"]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stdout, /\btest\s+running/);
    });

    await t.step("symlinked as virt-ssh-helper or nc, it takes that role", async () => {
      await Deno.symlink(file, join(alone, "virt-ssh-helper"));
      await Deno.symlink(file, join(alone, "nc"));
      const helper = await bare([join(alone, "virt-ssh-helper"), "--help"]);
      assert.equal(helper.code, 0, helper.stderr);
      assert.match(helper.stdout, /^Usage: virt-ssh-helper/);
      const probe = await bare([join(alone, "nc"), "-q"]);
      assert.match(probe.stderr, /requires an argument/);
    });

    await t.step("two first runs racing both work and leave one copy", async () => {
      const raceHome = join(dir, "race-home");
      await Deno.mkdir(raceHome);
      const runs = await Promise.all(
        [0, 1, 2].map(() =>
          runCommand("env", ["-i", `HOME=${raceHome}`, `PATH=${tools}`, file, "version"], {
            timeoutMs: 60000,
          })
        ),
      );
      for (const run of runs) assert.equal(run.code, 0, run.stderr);
      const entries = [...Deno.readDirSync(join(raceHome, ".cache", "virtmux"))].map((e) => e.name);
      assert.equal(entries.length, 1, `one copy, no leftover temp dirs: ${entries}`);
      const inside = [...Deno.readDirSync(join(raceHome, ".cache", "virtmux", entries[0]))]
        .map((e) => e.name).filter((name) => name !== "deno_dir").sort();
      assert.deepEqual(inside, ["deno", "virtmux.js"], "no loser's copy left inside");
    });
  } finally {
    await daemon.stop();
    await removeDir(dir);
  }
});
