import assert from "node:assert/strict";
import { invokedName, roleArgs } from "../../src/cli/role.ts";

Deno.test("roleArgs: the invocation name selects a role", () => {
  assert.deepEqual(roleArgs(["-r", "qemu:///system"], "/usr/local/bin/virt-ssh-helper"), [
    "virt-ssh-helper",
    "-r",
    "qemu:///system",
  ]);
  assert.deepEqual(roleArgs(["-q0", "-U", "/s"], "nc"), ["nc", "-q0", "-U", "/s"]);
  assert.deepEqual(roleArgs(["version"], "/usr/local/bin/virtmux"), ["version"]);
  assert.deepEqual(roleArgs(["version"], "deno"), ["version"]);
  assert.deepEqual(roleArgs(["version"], undefined), ["version"]);
  assert.deepEqual(roleArgs([], "/opt/nc-tools/virtmux"), []);
});

Deno.test("invokedName: VIRTMUX_ARGV0 wins and is not inherited by children", () => {
  Deno.env.set("VIRTMUX_ARGV0", "/usr/local/bin/nc");
  assert.equal(invokedName(), "/usr/local/bin/nc");
  assert.equal(Deno.env.get("VIRTMUX_ARGV0"), undefined);
  // Without it: argv[0] of this process, the deno runtime.
  assert.match(invokedName() ?? "", /deno$/);
});
