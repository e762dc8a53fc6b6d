import assert from "node:assert/strict";
import { parseNcArgs } from "../../src/cli/nc.ts";

Deno.test("parseNcArgs: what libvirt's remote command runs", async (t) => {
  await t.step("the -q probe: 'requires an argument', as OpenBSD netcat says", () => {
    const probe = parseNcArgs(["-q"]);
    assert.ok("exit" in probe);
    assert.match(probe.stderr ?? "", /requires an argument/);
  });
  await t.step("nc -q0 -U SOCKET", () => {
    assert.deepEqual(parseNcArgs(["-q0", "-U", "/run/libvirt/libvirt-sock"]), {
      args: { socket: "/run/libvirt/libvirt-sock", quitAfterSeconds: 0 },
    });
  });
  await t.step("nc -U SOCKET (netcat without -q)", () => {
    assert.deepEqual(parseNcArgs(["-U", "/s"]), {
      args: { socket: "/s", quitAfterSeconds: undefined },
    });
  });
  await t.step("-q 5 -N -U/s", () => {
    assert.deepEqual(parseNcArgs(["-q", "5", "-N", "-U/s"]), {
      args: { socket: "/s", quitAfterSeconds: 5 },
    });
  });
  await t.step("a host and port is not supported", () => {
    const tcp = parseNcArgs(["example.com", "16509"]);
    assert.ok("exit" in tcp);
    assert.equal(tcp.exit, 2);
    assert.match(tcp.stderr ?? "", /Usage: nc/);
  });
});
