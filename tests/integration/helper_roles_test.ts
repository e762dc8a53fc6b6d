/**
 * virtmux as libvirt's own helpers on a bastion, end to end: a real virsh with a plain
 * `test+ssh://` URI → a real sshd whose session PATH finds `virt-ssh-helper` and `nc` as symlinks
 * to a wrapper that runs virtmux → a real libvirtd. proxy=auto and proxy=native land in the
 * virt-ssh-helper role, routed by the URI argument through the config; proxy=netcat lands in the
 * nc role (after libvirt's `-q` probe). `-r` forces read-only; an unknown name is refused with
 * a libvirt error virsh prints.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { runCommand } from "./helpers/process.ts";
import { type Sshd, startSshd } from "./helpers/sshd.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { MAIN_TS } from "./helpers/virtmux.ts";
import { virsh } from "./helpers/virsh.ts";
import { V8_FLAGS } from "../../tools/v8_flags.ts";

/** Writes an executable shell script. */
async function script(path: string, lines: string[]): Promise<string> {
  await Deno.writeTextFile(path, ["#!/bin/sh", ...lines, ""].join("\n"));
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("virtmux as virt-ssh-helper and nc behind sshd: proxy=auto, native and netcat", async (t) => {
  const daemon = await startLibvirtd();
  const dir = await makeTempDir("helper-roles");
  let sshd: Sshd | undefined;
  try {
    const config = join(dir, "virtmux.toml");
    await Deno.writeTextFile(
      config,
      [
        `[log]`,
        `level = "warning"`,
        `[[upstream]]`,
        `name = "hv1"`,
        `uri = "test+unix:///default?socket=${daemon.unixSocket}"`,
        `share = true`,
        `[[upstream]]`,
        `name = "hv2"`,
        `uri = "${daemon.uris.tcp}"`,
        `share = true`,
        `[[listen]]`,
        `socket = "${join(dir, "bastion.sock")}"`,
        `upstream = "hv1"`,
        `route_by_name = true`,
        `allow_upstreams = ["hv1", "hv2"]`,
        `deny_procedures = ["DOMAIN_SUSPEND"]`,
        ``,
      ].join("\n"),
    );
    const info = await runCommand(Deno.execPath(), ["info", "--json"]);
    const denoDir = JSON.parse(info.stdout).denoDir as string;
    const invocations = join(dir, "invocations.log");
    await Deno.writeTextFile(invocations, "");
    // What an admin installs on a bastion: one program, symlinked under libvirt's helper names.
    const wrapper = await script(join(dir, "virtmux"), [
      `printf '%s\\n' "$(basename "$0") $*" >> '${invocations}'`,
      `VIRTMUX_ARGV0=$0 VIRTMUX_CONFIG='${config}' DENO_DIR='${denoDir}' RUST_BACKTRACE=0`,
      `NO_COLOR=1`,
      `export VIRTMUX_ARGV0 VIRTMUX_CONFIG DENO_DIR RUST_BACKTRACE NO_COLOR`,
      `exec '${Deno.execPath()}' run -A ${V8_FLAGS} '${MAIN_TS}' "$@"`,
    ]);
    const bin = join(dir, "bin");
    await Deno.mkdir(bin);
    await Deno.symlink(wrapper, join(bin, "virt-ssh-helper"));
    await Deno.symlink(wrapper, join(bin, "nc"));

    sshd = await startSshd({
      logCommands: true,
      extraConfig: `SetEnv SHLVL=1 PATH=${bin}:/usr/bin:/bin`,
    });
    const at = `test+ssh://${sshd.user}@127.0.0.1:${sshd.port}/default?command=${sshd.sshCommand}`;
    const roles = async () => (await Deno.readTextFile(invocations)).trim().split("\n");
    const clear = () => Deno.writeTextFile(invocations, "");

    await t.step("proxy=auto: `which virt-ssh-helper` finds virtmux", async () => {
      await clear();
      const result = await virsh(`${at}&proxy=auto`, ["list", "--all"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /\btest\s+running/);
      assert.deepEqual(await roles(), ["virt-ssh-helper test:///default"]);
    });

    await t.step("proxy=native, read-only client: `virt-ssh-helper -r`", async () => {
      await clear();
      const result = await virsh(`${at}&proxy=native`, ["list", "--all"]);
      assert.equal(result.code, 0, result.stderr);
      const ro = await virsh(`${at}&proxy=native`, ["-r", "destroy", "test"]);
      assert.notEqual(ro.code, 0);
      assert.match(ro.stderr, /read.only/i);
      assert.deepEqual(await roles(), [
        "virt-ssh-helper test:///default",
        "virt-ssh-helper -r test:///default",
      ]);
    });

    await t.step("name= picks another upstream of the route_by_name listener", async () => {
      await clear();
      const result = await virsh(`${at}&proxy=native&name=hv2`, ["list", "--all"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /\btest\s+running/);
      assert.deepEqual(await roles(), ["virt-ssh-helper hv2"]);
    });

    await t.step("a name with no route is refused with a libvirt error", async () => {
      const result = await virsh(`${at}&proxy=native&name=hv9`, ["list"]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /no route for "hv9"/);
      assert.match(result.stderr, /"hv1" \(\?name=hv1\)/);
    });

    await t.step("-r forces read-only even when the client asked read-write", async () => {
      const ext = await script(join(dir, "helper-ro"), [
        `exec '${join(bin, "virt-ssh-helper")}' -r test:///default`,
      ]);
      const list = await virsh(`test+ext:///default?command=${ext}`, ["list", "--all"]);
      assert.equal(list.code, 0, list.stderr);
      const write = await virsh(`test+ext:///default?command=${ext}`, ["destroy", "test"]);
      assert.notEqual(write.code, 0);
      assert.match(write.stderr, /read.only/i);
    });

    await t.step(
      "the listener policy applies; a missing config is told to the client",
      async () => {
        const denied = await virsh(`${at}&proxy=native`, ["suspend", "test"]);
        assert.notEqual(denied.code, 0);
        assert.match(denied.stderr, /DOMAIN_SUSPEND is denied by the policy/);
        const ext = await script(join(dir, "helper-no-config"), [
          `exec '${join(bin, "virt-ssh-helper")}' --config '${join(dir, "missing.toml")}' x`,
        ]);
        const missing = await virsh(`test+ext:///default?command=${ext}`, ["list"]);
        assert.notEqual(missing.code, 0);
        assert.match(missing.stderr, /cannot load its config/);
        assert.match(missing.stderr, /missing\.toml/);
      },
    );

    await t.step("proxy=netcat: libvirt's -q probe, then `nc -q0 -U SOCKET`", async () => {
      await clear();
      const result = await virsh(
        `${at}&proxy=netcat&socket=${daemon.unixSocket}`,
        ["list", "--all"],
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /\btest\s+running/);
      assert.deepEqual(await roles(), ["nc -q", `nc -q0 -U ${daemon.unixSocket}`]);
    });

    await t.step("usage errors exit 2", async () => {
      const helper = await runCommand(join(bin, "virt-ssh-helper"), ["--bogus"]);
      assert.equal(helper.code, 2);
      assert.match(helper.stderr, /Usage: virt-ssh-helper/);
      const probe = await runCommand(join(bin, "nc"), ["-q"]);
      assert.match(probe.stderr, /requires an argument/);
    });
  } finally {
    await sshd?.stop();
    await daemon.stop();
    await removeDir(dir);
  }
});
