/**
 * contrib/: the systemd unit passes `systemd-analyze verify` (with ExecStart pointed at an
 * executable that exists here), and the sysusers and tmpfiles examples apply cleanly to an empty
 * root directory. Without systemd-analyze these tests are skipped when not root (the test runner
 * installs it as root), and fail as root, where its absence is a broken setup.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runCommand } from "../integration/helpers/process.ts";
import { tempDir } from "../integration/helpers/tmp.ts";

const CONTRIB = new URL("../../contrib/", import.meta.url).pathname;

function hasSystemdAnalyze(): boolean {
  try {
    return new Deno.Command("systemd-analyze", { args: ["--version"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

const present = hasSystemdAnalyze();
const skip = !present && Deno.uid() !== 0;
if (skip) {
  console.error(
    "tests/contrib/systemd_test.ts skipped: systemd-analyze is not installed " +
      "(apt-get install --no-install-recommends systemd, or run the tests as root)",
  );
}

Deno.test({
  name: "virtmux.service passes systemd-analyze verify and reloads with SIGHUP",
  ignore: skip,
  async fn() {
    assert.ok(present, "systemd-analyze is missing although the tests run as root");
    await using dir = await tempDir("systemd");
    const text = await Deno.readTextFile(join(CONTRIB, "virtmux.service"));
    assert.match(text, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    assert.match(text, /^NoNewPrivileges=yes$/m);
    assert.match(text, /^ProtectSystem=strict$/m);
    assert.match(text, /^RuntimeDirectory=virtmux$/m);
    assert.match(text, /^CapabilityBoundingSet=$/m);
    // verify insists that ExecStart's program exists: stand in a real executable for it.
    const stub = join(dir.path, "virtmux");
    await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n");
    await Deno.chmod(stub, 0o755);
    const unit = join(dir.path, "virtmux.service");
    await Deno.writeTextFile(unit, text.replaceAll("/usr/local/bin/virtmux", stub));
    const verify = await runCommand("systemd-analyze", ["verify", unit], {
      env: { SYSTEMD_LOG_LEVEL: "notice" },
    });
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), "", "no warnings");
  },
});

Deno.test({
  name: "the sysusers and tmpfiles examples make the user and directories in an empty root",
  ignore: skip,
  async fn() {
    await using dir = await tempDir("tmpfiles");
    const root = join(dir.path, "root");
    await Deno.mkdir(join(root, "etc"), { recursive: true });
    const users = await runCommand("systemd-sysusers", [
      `--root=${root}`,
      join(CONTRIB, "virtmux.sysusers.conf"),
    ]);
    assert.equal(users.code, 0, users.stderr);
    assert.match(await Deno.readTextFile(join(root, "etc", "passwd")), /^virtmux:x:/m);
    const tmpfiles = await runCommand("systemd-tmpfiles", [
      `--root=${root}`,
      "--create",
      join(CONTRIB, "virtmux.tmpfiles.conf"),
    ]);
    assert.equal(tmpfiles.code, 0, tmpfiles.stderr);
    const run = await Deno.stat(join(root, "run", "virtmux"));
    assert.ok(run.isDirectory);
    assert.equal(run.mode! & 0o777, 0o755);
    assert.equal((await Deno.stat(join(root, "var", "lib", "virtmux"))).mode! & 0o777, 0o700);
  },
});
