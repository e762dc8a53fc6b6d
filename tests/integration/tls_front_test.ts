/**
 * The network fronts (`[[listen]] tls = ...` / `tcp = ...`) with real clients: unmodified virsh
 * and python-libvirt over `test+tls://...&name=hvX` reach two libvirtd instances picked by name;
 * refused certificates (outside tls_allowed_dn_list, revoked by the CRL, none at all) get the very
 * error text a real libvirtd 9.0 makes the client print; IPv6 loopback; plain TCP; a SIGHUP that
 * revokes a certificate without dropping connected clients.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startLibvirtd } from "./helpers/libvirtd.ts";
import { makeClientPki, makeCrl } from "./helpers/pki.ts";
import { freePort } from "./helpers/ports.ts";
import { assertNoLeftoverProcesses, waitFor } from "./helpers/process.ts";
import { PYTHON_EVENT_PRELUDE, runPython } from "./helpers/python.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";
import { virsh } from "./helpers/virsh.ts";
import { startVirtmux, type Virtmux } from "./helpers/virtmux.ts";

const DOMAIN_XML = `<domain type='test'><name>only-on-hv2</name><memory>8192</memory>
<os><type>hvm</type></os></domain>`;

/** True once `hostname:port` accepts a TCP connection. */
async function accepts(hostname: string, port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname, port })).close();
    return true;
  } catch {
    return false;
  }
}

/** virsh's error lines, without the log lines libvirt's client prints on its own. */
function errorLines(stderr: string): string {
  return stderr.split("\n").filter((line) => line.startsWith("error:")).join("\n");
}

Deno.test("network fronts: TLS and TCP clients reach upstreams picked by name", async (t) => {
  // hv1 also listens for TLS, refusing every DN: the reference for the refusals' error text.
  const hv1 = await startLibvirtd({
    tls: true,
    extraConfig: 'tls_allowed_dn_list = ["O=nobody,*"]',
  });
  const hv2 = await startLibvirtd();
  const dir = await makeTempDir("tls-front");
  let virtmux: Virtmux | undefined;
  try {
    const pki = hv1.pki!;
    const standard = pki.clientPkiPath; // O=virtmux,CN=virtmux-test-client
    const alice = await makeClientPki(pki, "alice", "/O=virtmux/CN=alice");
    const bob = await makeClientPki(pki, "bob", "/O=virtmux/CN=bob");
    const mallory = await makeClientPki(pki, "mallory", "/O=elsewhere/CN=mallory");
    const revoked = await makeClientPki(pki, "revoked", "/O=virtmux/CN=revoked");
    const crl = await makeCrl(pki, [revoked.client], join(dir, "cacrl.pem"));
    const noCert = join(dir, "nocert");
    await Deno.mkdir(noCert);
    await Deno.copyFile(pki.ca.cert, join(noCert, "cacert.pem"));
    const files = `key_file = "${pki.server.key}"
cert_file = "${pki.server.cert}"
ca_file = "${pki.ca.cert}"`;
    const [main, v6, mirror, plain, open, dedicated] = [0, 0, 0, 0, 0, 0].map(() => freePort());
    virtmux = await startVirtmux(
      `
[log]
level = "debug"

[[upstream]]
name = "hv1"
uri = "${hv1.uris.unix}"
share = true

[[upstream]]
name = "hv2"
uri = "${hv2.uris.unix}"
share = true

[[upstream]]
name = "hv1-dedicated"
uri = "${hv1.uris.unix}"

[[listen]]
tls = "127.0.0.1:${main}"
upstream = "hv1"
route_by_name = true
allow_upstreams = ["hv1", "hv2"]
${files}
crl_file = "${crl}"
tls_allowed_dn_list = ["O=virtmux,CN=*"]
allow_dns = { hv2 = ["O=virtmux,CN=alice", "O=virtmux,CN=bob"] }

[[listen]]
tls = "[::1]:${v6}"
upstream = "hv2"
${files}

[[listen]]
tls = "127.0.0.1:${mirror}"
upstream = "hv1"
${files}
tls_allowed_dn_list = ["O=nobody,*"]

[[listen]]
tcp = "127.0.0.1:${plain}"
upstream = "hv1"

[[listen]]
tls = "localhost:${open}"
upstream = "hv2"
${files}
tls_no_verify_certificate = true

[[listen]]
tls = "127.0.0.1:${dedicated}"
upstream = "hv1-dedicated"
${files}
allow_dns = { hv1-dedicated = ["O=virtmux,CN=alice"] }
`,
      { waitForSockets: [] },
    );
    const proc = virtmux.process;
    for (const [host, port] of [["127.0.0.1", main], ["::1", v6], ["127.0.0.1", plain]] as const) {
      await waitFor(`${host}:${port}`, () => accepts(host, port), { process: proc });
    }
    const tlsUri = (port: number, pkipath: string, name?: string, host = "localhost") =>
      `test+tls://${host}:${port}/default?pkipath=${pkipath}${name ? `&name=${name}` : ""}`;
    const xml = join(dir, "domain.xml");
    await Deno.writeTextFile(xml, DOMAIN_XML);

    await t.step("virsh picks hv2 by name, and hv1 by its own", async () => {
      const defined = await virsh(tlsUri(main, alice.clientPkiPath, "hv2"), ["define", xml]);
      assert.equal(defined.code, 0, defined.stderr);
      const onHv2 = await virsh(tlsUri(main, alice.clientPkiPath, "hv2"), ["list", "--all"]);
      assert.equal(onHv2.code, 0, onHv2.stderr);
      assert.match(onHv2.stdout, /only-on-hv2/);
      const onHv1 = await virsh(tlsUri(main, alice.clientPkiPath, "hv1"), ["list", "--all"]);
      assert.equal(onHv1.code, 0, onHv1.stderr);
      assert.match(onHv1.stdout, /test\s+running/);
      assert.doesNotMatch(onHv1.stdout, /only-on-hv2/);
    });

    await t.step("python-libvirt reaches hv2 through the front", async () => {
      const result = await runPython(
        "import libvirt, sys\n" +
          "conn = libvirt.open(sys.argv[1])\n" +
          "print(sorted(d.name() for d in conn.listAllDomains()))\n" +
          "conn.close()\n",
        [tlsUri(main, bob.clientPkiPath, "hv2")],
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /'only-on-hv2'/);
    });

    await t.step("allow_dns keeps other DNs from hv2 but not from hv1", async () => {
      const refused = await virsh(tlsUri(main, standard, "hv2"), ["list"]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /does not allow "O=virtmux,CN=virtmux-test-client"/);
      assert.match(refused.stderr, /allow_dns/);
      const allowed = await virsh(tlsUri(main, standard, "hv1"), ["list"]);
      assert.equal(allowed.code, 0, allowed.stderr);
    });

    // What libvirtd itself makes the client print for a refused certificate.
    const byLibvirtd = errorLines((await virsh(hv1.uris.tls!, ["list"])).stderr);
    const noCertByLibvirtd = errorLines(
      (await virsh(tlsUri(hv1.tlsPort!, noCert), ["list"])).stderr,
    );
    assert.match(byLibvirtd, /Unable to read TLS confirmation/);

    await t.step("a DN outside tls_allowed_dn_list gets libvirtd's own error", async () => {
      const mirrored = await virsh(tlsUri(mirror, standard), ["list"]);
      assert.notEqual(mirrored.code, 0);
      assert.equal(errorLines(mirrored.stderr), byLibvirtd);
      const outside = await virsh(tlsUri(main, mallory.clientPkiPath, "hv1"), ["list"]);
      assert.notEqual(outside.code, 0);
      assert.equal(errorLines(outside.stderr), byLibvirtd);
    });

    await t.step("a revoked certificate is refused through the CRL", async () => {
      const result = await virsh(tlsUri(main, revoked.clientPkiPath, "hv1"), ["list"]);
      assert.notEqual(result.code, 0);
      assert.equal(errorLines(result.stderr), byLibvirtd);
      assert.match(await virtmux!.logText(), /The certificate has been revoked/);
    });

    await t.step("a client without a certificate is refused as libvirtd refuses it", async () => {
      const result = await virsh(tlsUri(main, noCert, "hv1"), ["list"]);
      assert.notEqual(result.code, 0);
      assert.equal(errorLines(result.stderr), noCertByLibvirtd);
    });

    await t.step("tls_no_verify_certificate lets a client without one in", async () => {
      const result = await virsh(tlsUri(open, noCert), ["list"]);
      assert.equal(result.code, 0, result.stderr);
    });

    await t.step("IPv6 loopback", async () => {
      const result = await virsh(tlsUri(v6, standard, undefined, "[::1]"), ["list"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /test\s+running/);
    });

    await t.step("the plain tcp front, with a warning at start", async () => {
      const result = await virsh(`test+tcp://127.0.0.1:${plain}/default`, ["list"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(await virtmux!.logText(), /Plain TCP front/);
    });

    await t.step("allow_dns on a dedicated upstream refuses at the first call", async () => {
      const refused = await virsh(tlsUri(dedicated, standard), ["list"]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /does not allow "O=virtmux,CN=virtmux-test-client" to reach/);
      const allowed = await virsh(tlsUri(dedicated, alice.clientPkiPath), ["list"]);
      assert.equal(allowed.code, 0, allowed.stderr);
    });

    await t.step("garbage and silence before the handshake leave good clients alone", async () => {
      const garbage = await Deno.connect({ hostname: "127.0.0.1", port: main });
      await garbage.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n".repeat(50)));
      const silent = await Promise.all(
        Array.from({ length: 20 }, () => Deno.connect({ hostname: "127.0.0.1", port: main })),
      );
      const buffer = new Uint8Array(64);
      let got: number | null = 0;
      while (got !== null) got = await garbage.read(buffer).catch(() => null);
      garbage.close();
      const result = await virsh(tlsUri(main, alice.clientPkiPath, "hv1"), ["list"]);
      assert.equal(result.code, 0, result.stderr);
      for (const conn of silent) conn.close();
      assert.match(await virtmux!.logText(), /TLS handshake failed/);
    });

    await t.step("sessions log the client's DN and address", async () => {
      const log = await virtmux!.logText();
      assert.match(log, /Client connected.*peer=127\.0\.0\.1:\d+.*dn="?O=virtmux,CN=alice/);
    });

    await t.step("SIGHUP re-reads the CRL; connected clients stay", async () => {
      const ready = join(dir, "ready");
      const go = join(dir, "go");
      const held = runPython(
        PYTHON_EVENT_PRELUDE +
          "conn = libvirt.open(sys.argv[1])\n" +
          "print(len(conn.listAllDomains()))\n" +
          "touch(sys.argv[2]); wait_for(sys.argv[3])\n" +
          "print(len(conn.listAllDomains()))\n",
        [tlsUri(main, alice.clientPkiPath, "hv1"), ready, go],
      );
      await waitFor("python connected", async () => {
        try {
          await Deno.stat(ready);
          return true;
        } catch {
          return false;
        }
      });
      await makeCrl(pki, [revoked.client, alice.client], crl);
      const before = (await virtmux!.logText()).split("Config reloaded").length;
      Deno.kill(virtmux!.pid, "SIGHUP");
      await waitFor(
        "the reload",
        async () => (await virtmux!.logText()).split("Config reloaded").length > before,
      );
      const refused = await virsh(tlsUri(main, alice.clientPkiPath, "hv1"), ["list"]);
      assert.notEqual(refused.code, 0);
      assert.equal(errorLines(refused.stderr), byLibvirtd);
      await Deno.writeTextFile(go, "");
      const result = await held;
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(result.stdout.trim().split("\n"), ["1", "1"]);
    });
  } finally {
    await virtmux?.stop();
    await hv1.stop();
    await hv2.stop();
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
