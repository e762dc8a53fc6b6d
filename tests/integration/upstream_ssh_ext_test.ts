/**
 * virtmux with an ssh or ext `[[upstream]]` (`share = false`), reached as a user reaches it:
 * virsh and python-libvirt on the `[[listen]]` socket of each, while the upstream URI is the very
 * one the user would give libvirt itself (ssh through a real sshd and `nc -U`; ext through a
 * script that execs socat). Then that sshd receives exactly libvirt's own remote command, what the
 * client is told when ssh authentication fails or the ext command exits at once or does not
 * exist, and that none of it disturbs the upstreams that work.
 *
 * The tls, tcp and unix upstreams are in upstream_tls_test.ts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, isAlive, runCommand } from "./helpers/process.ts";
import { runPython } from "./helpers/python.ts";
import { type Sshd, startSshd } from "./helpers/sshd.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { startVirtmux, type Virtmux } from "./helpers/virtmux.ts";
import { virsh } from "./helpers/virsh.ts";
import {
  BURST,
  escape,
  PYTHON_BURST,
  pythonOpen,
  virtmuxConfig,
} from "./helpers/upstream_clients.ts";

/** Writes an executable shell script. */
async function script(path: string, lines: string[]): Promise<string> {
  await Deno.writeTextFile(path, ["#!/bin/sh", ...lines, ""].join("\n"));
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("ssh and ext upstreams through virtmux, and what a client sees of their failures", async (t) => {
  const daemon = await startLibvirtd();
  let sshd: Sshd | undefined;
  let virtmux: Virtmux | undefined;
  const dir = await makeTempDir("upstream-ssh-ext");
  try {
    // Sessions run root's login shell, bash, which reads ~/.bashrc when started by sshd unless
    // SHLVL says it is nested; a .bashrc that runs `pyenv init` makes 100 sessions take ~30 s.
    sshd = await startSshd({ logCommands: true, extraConfig: "SetEnv SHLVL=1" });

    const otherKey = join(dir, "unauthorized_key");
    const keygen = await runCommand("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-f",
      otherKey,
    ]);
    assert.equal(keygen.code, 0, keygen.stderr);
    // Like sshd.sshCommand (private known_hosts, no user config), with a key sshd does not know.
    const wrongKeySsh = await script(join(dir, "ssh-wrong-key"), [
      `exec ssh -F /dev/null -i '${otherKey}' -o 'UserKnownHostsFile=${sshd.knownHosts}' \\`,
      `  -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes "$@"`,
    ]);
    const socat = await script(join(dir, "ext-socat"), [
      `exec socat STDIO UNIX-CONNECT:${daemon.unixSocket}`,
    ]);
    const missing = join(dir, "no-such-command");

    const sshAt =
      `test+ssh://${sshd.user}@127.0.0.1:${sshd.port}/default?socket=${daemon.unixSocket}`;
    const good: Record<string, string> = {
      ssh: `${sshAt}&command=${sshd.sshCommand}`,
      ext: `test+ext:///default?command=${socat}`,
    };
    const bad: Record<string, string> = {
      "ssh-wrong-key": `${sshAt}&command=${wrongKeySsh}`,
      "ext-true": "test+ext:///default?command=/bin/true",
      "ext-missing": `test+ext:///default?command=${missing}`,
    };
    virtmux = await startVirtmux(virtmuxConfig(dir, { ...good, ...bad }));
    const through = (name: string) => `test+unix:///default?socket=${join(dir, `${name}.sock`)}`;

    const reference = join(dir, "direct.png");
    const direct = await virsh(daemon.uris.unix, ["screenshot", "test", reference]);
    assert.equal(direct.code, 0, direct.stderr);
    const expectedImage = await Deno.readFile(reference);
    assert.ok(expectedImage.length > 1000, `screenshot of ${expectedImage.length} bytes`);

    for (const name of Object.keys(good)) {
      await t.step(`${name}: virsh list --all through virtmux shows "test"`, async () => {
        const result = await virsh(through(name), ["list", "--all"]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
      });

      await t.step(`${name}: python-libvirt getLibVersion() and listAllDomains()`, async () => {
        const result = await pythonOpen(through(name));
        assert.equal(result.error, undefined);
        assert.equal(Math.floor(result.version! / 1000000), 9);
        assert.deepEqual(result.domains, ["test"]);
      });

      await t.step(`${name}: virsh screenshot gives the bytes of a direct one`, async () => {
        const file = join(dir, `${name}.png`);
        const result = await virsh(through(name), ["screenshot", "test", file]);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(await Deno.readFile(file), expectedImage);
      });

      await t.step(`${name}: ${BURST} concurrent python-libvirt clients all succeed`, async () => {
        const result = await runPython(PYTHON_BURST, [through(name), String(BURST)], {
          timeoutMs: 60000,
        });
        assert.equal(result.code, 0, result.stderr);
        const burst = JSON.parse(result.stdout);
        assert.deepEqual(burst.errors, []);
        assert.equal(burst.ok, BURST);
        assert.equal(burst.versions.length, 1);
      });
    }

    await t.step("ssh: sshd receives the remote command libvirt itself sends", async () => {
      const log = async () =>
        (await Deno.readTextFile(sshd!.commandLog!)).split("\n").filter((line) => line !== "");
      const proxied = await virsh(through("ssh"), ["list"]);
      assert.equal(proxied.code, 0, proxied.stderr);
      // The remote command of every ssh session virtmux has started so far, this one's included.
      const fromVirtmux = await log();
      assert.ok(fromVirtmux.length > 0, "no remote command logged");
      const own = await virsh(good.ssh, ["list"]);
      assert.equal(own.code, 0, own.stderr);
      const fromLibvirt = (await log()).slice(fromVirtmux.length);
      assert.equal(fromLibvirt.length, 1, fromLibvirt.join("\n"));
      assert.match(fromLibvirt[0], /nc' \$ARG -U /);
      assert.equal(fromVirtmux.at(-1), fromLibvirt[0]);
      assert.deepEqual([...new Set(fromVirtmux)], fromLibvirt);
    });

    const failures: { name: string; what: string; expected: RegExp; tries: number }[] = [
      {
        name: "ssh-wrong-key",
        what: "an unauthorized key: the client sees ssh's Permission denied",
        expected: /Permission denied \(publickey\)/,
        tries: 1,
      },
      {
        name: "ext-true",
        what: "a command that exits at once: an error naming the upstream, not a hang",
        expected: /[Uu]pstream "ext-true"/,
        // Its end may reach virtmux before or after the client's first call: try both a few times.
        tries: 3,
      },
      {
        name: "ext-missing",
        what: "a command that does not exist: an error naming it",
        expected: new RegExp(`cannot run "${escape(missing)}": .*No such file or directory`),
        tries: 1,
      },
    ];
    for (const { name, what, expected, tries } of failures) {
      await t.step(`${name}: ${what}`, async () => {
        for (let attempt = 0; attempt < tries; attempt++) {
          const began = performance.now();
          const result = await virsh(through(name), ["list", "--all"], { timeoutMs: 15000 });
          assert.equal(result.timedOut, false, "virsh hung");
          assert.equal(result.code, 1, result.stdout);
          assert.match(result.stderr, /failed to connect to the hypervisor/);
          assert.match(result.stderr, expected);
          const python = await pythonOpen(through(name));
          assert.match(python.error ?? "(no error)", expected);
          assert.ok(performance.now() - began < 10000, "an error, not a wait for a timeout");
        }
      });
    }

    await t.step("after the failures virtmux still serves ssh and ext", async () => {
      assert.ok(isAlive(virtmux!.pid), "virtmux is running");
      for (const name of Object.keys(good)) {
        const result = await virsh(through(name), ["list", "--all"]);
        assert.equal(result.code, 0, `${name}: ${result.stderr}`);
        assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m, name);
      }
    });

    await t.step("virtmux stops cleanly on SIGTERM", async () => {
      const { code } = await virtmux!.stop();
      assert.equal(code, 0, await virtmux!.logText());
    });
  } finally {
    await virtmux?.stop();
    await sshd?.stop();
    await daemon.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
