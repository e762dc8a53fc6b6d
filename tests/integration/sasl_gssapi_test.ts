/**
 * GSSAPI (Kerberos) to a real libvirtd 9.0 on plain tcp, with a private KDC: libvirtd demands a
 * security layer there, which GSSAPI provides. virsh direct is the baseline; virtmux then logs in
 * with the ticket in its own cache, for a shared pool and a dedicated upstream, and its clients
 * (virsh, python-libvirt) need no Kerberos at all. Without a ticket the client sees why.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startKdc } from "./helpers/kdc.ts";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux, type Virtmux } from "./helpers/virtmux.ts";

const via = (socket: string) => `test+unix:///default?socket=${socket}`;

Deno.test({
  name: "GSSAPI on plain tcp: virtmux logs in with its Kerberos ticket",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const kdc = await startKdc();
    const daemon = await startLibvirtd({
      sasl: { mechanisms: ["gssapi"], users: {}, extraConfig: `keytab: ${kdc.keytab}` },
      env: kdc.serverEnv,
    });
    const dir = await makeTempDir("sasl-gssapi");
    const proxies: Virtmux[] = [];
    try {
      // "localhost": the service principal is libvirt/localhost.
      const tcp = `test+tcp://localhost:${daemon.tcpPort}/default`;
      const s = (name: string) => join(dir, `${name}.sock`);
      const config = (suffix: string) =>
        `[limits]\nshutdown_grace = 1\n\n` +
        `[[upstream]]\nname = "shared"\nuri = "${tcp}"\nshare = true\n\n` +
        `[[listen]]\nsocket = "${s(`shared${suffix}`)}"\nupstream = "shared"\n\n` +
        `[[upstream]]\nname = "dedicated"\nuri = "${tcp}"\n\n` +
        `[[listen]]\nsocket = "${s(`dedicated${suffix}`)}"\nupstream = "dedicated"\n`;

      await t.step("baseline: virsh with the ticket lists the domain directly", async () => {
        const result = await virsh(tcp, ["list", "--all"], { env: kdc.clientEnv });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
      });

      proxies.push(await startVirtmux(config(""), { env: kdc.clientEnv }));
      for (const name of ["shared", "dedicated"]) {
        await t.step(
          `${name}: virsh and python-libvirt need no ticket through virtmux`,
          async () => {
            const listed = await virsh(via(s(name)), ["list", "--all"]);
            assert.equal(listed.code, 0, listed.stderr);
            assert.match(listed.stdout, /^\s*1\s+test\s+running\s*$/m);
            const result = await runPython(
              "import sys, libvirt\nc = libvirt.open(sys.argv[1])\n" +
                "print(','.join(d.name() for d in c.listAllDomains()))\nc.close()",
              [via(s(name))],
            );
            assert.equal(result.stdout.trim(), "test", result.stderr);
          },
        );
      }
      await t.step("virtmux logged in with GSSAPI and a security layer", async () => {
        assert.match(await proxies[0].logText(), /Upstream SASL login.*mechanism=GSSAPI ssf=\d+/);
      });

      proxies.push(await startVirtmux(config("-noticket"), { env: kdc.noTicketEnv }));
      await t.step("without a ticket, clients see the GSSAPI failure", async () => {
        for (const name of ["shared-noticket", "dedicated-noticket"]) {
          const result = await virsh(via(s(name)), ["list"]);
          assert.notEqual(result.code, 0);
          assert.match(result.stderr, /authentication failed/, result.stderr);
        }
      });
    } finally {
      for (const proxy of proxies) await proxy.stop();
      await daemon.stop();
      await kdc.stop();
      await removeDir(dir);
    }
  },
});
