/**
 * The harness's own smoke test: a private libvirtd answers virsh and python-libvirt directly over
 * unix, tcp and tls, its client count is visible, and nothing outlives a test. Also proves the
 * sshd helper and the PKI negatives, before any proxy is involved.
 */

import assert from "node:assert/strict";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import {
  assertNoLeftoverProcesses,
  isAlive,
  runCommand,
  spawnProcess,
  waitFor,
} from "./helpers/process.ts";
import { runPython } from "./helpers/python.ts";
import { startSshd } from "./helpers/sshd.ts";
import { virsh } from "./helpers/virsh.ts";

Deno.test("a private libvirtd serves the test driver over unix, tcp and tls", async (t) => {
  const libvirtd = await startLibvirtd({ tls: true });
  const pid = libvirtd.pid;
  try {
    console.log(`libvirtd started in ${libvirtd.startMs.toFixed(0)} ms`);
    assert.ok(isAlive(pid));

    for (const [name, uri] of Object.entries(libvirtd.uris)) {
      await t.step(`virsh list --all over ${name} shows the domain "test"`, async () => {
        const result = await virsh(uri, ["list", "--all"]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
      });
    }

    await t.step("python-libvirt getLibVersion() over tcp is 9.0", async () => {
      const result = await runPython(
        "import sys, libvirt\nc = libvirt.open(sys.argv[1])\nprint(c.getLibVersion())\nc.close()",
        [libvirtd.uris.tcp],
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(Math.floor(Number(result.stdout.trim()) / 1000000), 9);
    });

    await t.step("clientCount sees a connected client come and go", async () => {
      assert.equal(await libvirtd.clientCount(), 0);
      const holder = spawnProcess("/usr/bin/python3", {
        args: [
          "-c",
          "import sys, time, libvirt\nc = libvirt.open(sys.argv[1])\nprint('open', flush=True)\ntime.sleep(60)",
          libvirtd.uris.unix,
        ],
        name: "python holder",
      });
      try {
        await waitFor("one libvirtd client", async () => (await libvirtd.clientCount()) === 1, {
          process: holder,
        });
      } finally {
        await holder.kill();
      }
      await waitFor("no libvirtd clients", async () => (await libvirtd.clientCount()) === 0);
    });

    await t.step("kill() ends the daemon at once and restart() brings it back", async () => {
      await libvirtd.kill();
      assert.ok(!isAlive(pid));
      const down = await virsh(libvirtd.uris.tcp, ["list", "--all"], { timeoutMs: 10000 });
      assert.notEqual(down.code, 0);
      await libvirtd.restart();
      assert.notEqual(libvirtd.pid, pid);
      const up = await virsh(libvirtd.uris.tcp, ["list", "--all"]);
      assert.equal(up.code, 0, up.stderr);
    });
  } finally {
    await libvirtd.stop();
  }
  assert.ok(!isAlive(pid));
  assert.ok(!isAlive(libvirtd.pid));
  assertNoLeftoverProcesses();
  await assert.rejects(Deno.stat(libvirtd.dir), Deno.errors.NotFound);
});

Deno.test("libvirtd refuses client certificates from another CA or out of date", async () => {
  const libvirtd = await startLibvirtd({
    tls: true,
    pki: { keyType: "ec", keyFormat: "traditional", otherCa: true, expiredClient: true },
  });
  try {
    const base = `test+tls://localhost:${libvirtd.tlsPort}/default?pkipath=`;
    const ok = await virsh(base + libvirtd.pki!.clientPkiPath, ["list", "--all"]);
    assert.equal(ok.code, 0, ok.stderr);
    const other = await virsh(base + libvirtd.pki!.otherCa!.clientPkiPath, ["list", "--all"]);
    assert.notEqual(other.code, 0);
    const expired = await virsh(base + libvirtd.pki!.expiredClient!.clientPkiPath, ["list"]);
    assert.notEqual(expired.code, 0);
    assert.match(expired.stderr, /expired/i);
  } finally {
    await libvirtd.stop();
  }
  assertNoLeftoverProcesses();
});

Deno.test("a private sshd runs commands with the generated key and logs them", async () => {
  const sshd = await startSshd({ logCommands: true });
  try {
    const plain = await runCommand("ssh", [
      "-p",
      String(sshd.port),
      "-i",
      sshd.clientKey,
      "-o",
      `UserKnownHostsFile=${sshd.knownHosts}`,
      "-o",
      "BatchMode=yes",
      `${sshd.user}@127.0.0.1`,
      "true",
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    const echoed = await runCommand(sshd.sshCommand, [
      "-p",
      String(sshd.port),
      `${sshd.user}@127.0.0.1`,
      "echo hello from $((40 + 2))",
    ]);
    assert.equal(echoed.code, 0, echoed.stderr);
    assert.equal(echoed.stdout.trim(), "hello from 42");
    const log = await Deno.readTextFile(sshd.commandLog!);
    assert.deepEqual(log.split("\n").filter(Boolean), ["true", "echo hello from $((40 + 2))"]);
  } finally {
    await sshd.stop();
  }
  assert.ok(!isAlive(sshd.pid));
  assertNoLeftoverProcesses();
});
