/**
 * virtmux with a tls, tcp or unix `[[upstream]]` (`share = false`), reached as a user reaches it:
 * virsh and python-libvirt on the `[[listen]]` socket of each, while the upstream URI is the very
 * one the user would give libvirt itself. Then what the client is told when the TLS setup is
 * wrong (missing client certificate, wrong CA, wrong host name, expired client certificate), that
 * `no_verify=1` gets past a wrong name, and that none of it disturbs the upstreams that work.
 *
 * The ssh and ext upstreams are in upstream_ssh_ext_test.ts.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type Libvirtd, startLibvirtd } from "./helpers/libvirtd.ts";
import { assertNoLeftoverProcesses, isAlive } from "./helpers/process.ts";
import { runPython } from "./helpers/python.ts";
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

/** Starts two daemons at once; if one fails, stops the other and throws. */
async function startBoth(
  first: Promise<Libvirtd>,
  second: Promise<Libvirtd>,
): Promise<[Libvirtd, Libvirtd]> {
  const [a, b] = await Promise.allSettled([first, second]);
  if (a.status === "fulfilled" && b.status === "fulfilled") return [a.value, b.value];
  for (const started of [a, b]) if (started.status === "fulfilled") await started.value.stop();
  throw a.status === "rejected" ? a.reason : (b as PromiseRejectedResult).reason;
}

Deno.test("tls, tcp and unix upstreams through virtmux, and what a client sees of TLS failures", async (t) => {
  const [daemon, wrongName] = await startBoth(
    startLibvirtd({ tls: true, pki: { otherCa: true, expiredClient: true } }),
    // Its CA signs a second server certificate, for wrong.invalid, which then replaces the one
    // for localhost: a daemon whose certificate is valid, but not for the name clients dial.
    startLibvirtd({ tls: true, pki: { wrongNameServer: true, keyType: "ec" } }),
  );
  let virtmux: Virtmux | undefined;
  const dir = await makeTempDir("upstream-tls");
  try {
    const wrongPki = wrongName.pki!;
    await Deno.copyFile(wrongPki.wrongNameServer!.cert, wrongPki.server.cert);
    await Deno.copyFile(wrongPki.wrongNameServer!.key, wrongPki.server.key);
    await wrongName.restart();

    const pki = daemon.pki!;
    const caOnly = join(dir, "ca-only");
    await Deno.mkdir(caOnly);
    await Deno.copyFile(pki.ca.cert, join(caOnly, "cacert.pem"));

    const tlsAt = `test+tls://localhost:${daemon.tlsPort}/default`;
    const wrongNameAt = `test+tls://localhost:${wrongName.tlsPort}/default`;
    const good: Record<string, string> = {
      tls: daemon.uris.tls!,
      tcp: daemon.uris.tcp,
      unix: daemon.uris.unix,
    };
    const bad: Record<string, string> = {
      "tls-no-client-cert": `${tlsAt}?pkipath=${caOnly}`,
      "tls-wrong-ca": `${tlsAt}?pkipath=${pki.otherCa!.clientPkiPath}`,
      "tls-wrong-name": `${wrongNameAt}?pkipath=${wrongName.clientPki}`,
      "tls-no-verify": `${wrongNameAt}?pkipath=${wrongName.clientPki}&no_verify=1`,
      "tls-expired-client": `${tlsAt}?pkipath=${pki.expiredClient!.clientPkiPath}`,
      "tls-expired-client-no-sanity": `${tlsAt}?pkipath=${
        pki.expiredClient!.clientPkiPath
      }&no_sanity=1`,
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

    const failures: { name: string; what: string; expected: RegExp }[] = [
      {
        name: "tls-no-client-cert",
        what: "a pkipath with only cacert.pem names the missing client certificate",
        expected: new RegExp(
          `client certificate "${escape(join(caOnly, "clientcert.pem"))}": no such file`,
        ),
      },
      {
        name: "tls-wrong-ca",
        what: "a CA that did not sign the daemon's certificate is called a wrong CA",
        expected:
          /the server certificate is not signed by the CA in ".*\/cacert\.pem" \(wrong CA\)/,
      },
      {
        name: "tls-wrong-name",
        what: "a server certificate for another host name is called a name mismatch",
        expected:
          /the server certificate does not match the host name "localhost" \(name mismatch\)/,
      },
      {
        name: "tls-expired-client",
        what: "an expired client certificate is named before connecting, as libvirt does",
        expected: new RegExp(
          `the client certificate "${escape(pki.expiredClient!.client.cert)}" has expired`,
        ),
      },
      {
        name: "tls-expired-client-no-sanity",
        what: "an expired client certificate sent anyway (no_sanity=1) is refused by the daemon",
        expected: /the daemon rejected our certificate/,
      },
    ];
    for (const { name, what, expected } of failures) {
      await t.step(`${name}: ${what}`, async () => {
        const began = performance.now();
        const result = await virsh(through(name), ["list", "--all"]);
        assert.equal(result.timedOut, false);
        assert.equal(result.code, 1, result.stdout);
        assert.match(result.stderr, /failed to connect to the hypervisor/);
        assert.match(result.stderr, expected);
        assert.match(result.stderr, new RegExp(`upstream "${name}"`));
        const python = await pythonOpen(through(name));
        assert.match(python.error ?? "(no error)", expected);
        assert.ok(performance.now() - began < 10000, "an error, not a wait for a timeout");
      });
    }

    await t.step("tls-no-verify: no_verify=1 connects despite the name mismatch", async () => {
      const result = await virsh(through("tls-no-verify"), ["list", "--all"]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^\s*1\s+test\s+running\s*$/m);
      const python = await pythonOpen(through("tls-no-verify"));
      assert.deepEqual(python.domains, ["test"]);
    });

    await t.step("after the failures virtmux still serves tls, tcp and unix", async () => {
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
    await Promise.all([daemon.stop(), wrongName.stop()]);
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
