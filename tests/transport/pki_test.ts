import assert from "node:assert/strict";
import { join } from "node:path";
import { loadPki, locatePkiFiles, PkiError, SYSTEM_PKI } from "../../src/transport/pki.ts";
import { makePki, type Pki } from "../integration/helpers/pki.ts";
import { tempDir } from "../integration/helpers/tmp.ts";

Deno.test("pki: pkipath= names the three files whether they exist or not", () => {
  assert.deepEqual(locatePkiFiles({ pkipath: "/p/", exists: () => false }), {
    caCert: "/p/cacert.pem",
    caCrl: "/p/cacrl.pem",
    clientCert: "/p/clientcert.pem",
    clientKey: "/p/clientkey.pem",
  });
});

Deno.test("pki: root uses the system files only", () => {
  assert.deepEqual(locatePkiFiles({ uid: 0, home: "/root", exists: () => true }), SYSTEM_PKI);
});

Deno.test("pki: non-root prefers ~/.pki/libvirt, cert and key as a pair", () => {
  const user = "/home/u/.pki/libvirt";
  const only = (...names: string[]) => (path: string) => names.some((n) => path === `${user}/${n}`);
  assert.deepEqual(
    locatePkiFiles({
      uid: 1000,
      home: "/home/u",
      exists: only("cacert.pem", "clientcert.pem", "clientkey.pem"),
    }),
    {
      caCert: `${user}/cacert.pem`,
      caCrl: SYSTEM_PKI.caCrl,
      clientCert: `${user}/clientcert.pem`,
      clientKey: `${user}/clientkey.pem`,
    },
  );
  // A lone client certificate is not used: the pair falls back to the system files.
  assert.deepEqual(
    locatePkiFiles({ uid: 1000, home: "/home/u", exists: only("clientcert.pem") }),
    SYSTEM_PKI,
  );
  assert.deepEqual(
    locatePkiFiles({ uid: 1000, home: "/home/u", exists: only("clientcert.pem", "clientkey.pem") }),
    { ...SYSTEM_PKI, clientCert: `${user}/clientcert.pem`, clientKey: `${user}/clientkey.pem` },
  );
});

async function withPki(
  options: Parameters<typeof makePki>[1],
  body: (pki: Pki) => void | Promise<void>,
): Promise<void> {
  await using dir = await tempDir("pki-test");
  await body(await makePki(dir.path, options));
}

for (
  const [label, options] of [
    ["RSA PKCS#8", { keyType: "rsa", keyFormat: "pkcs8" }],
    ["RSA PKCS#1", { keyType: "rsa", keyFormat: "traditional" }],
    ["EC PKCS#8", { keyType: "ec", keyFormat: "pkcs8" }],
    ["EC SEC1", { keyType: "ec", keyFormat: "traditional" }],
  ] as const
) {
  Deno.test(`pki: loads and checks ${label} client files`, async () => {
    await withPki(options, (pki) => {
      const material = loadPki(locatePkiFiles({ pkipath: pki.clientPkiPath }));
      assert.match(material.clientKey, /-----BEGIN /);
      assert.match(material.clientCert, /BEGIN CERTIFICATE/);
      assert.equal(material.caCrl, undefined);
    });
  });
}

Deno.test("pki: each failure names the file and the check", async () => {
  await withPki({ otherCa: true, expiredClient: true }, async (pki) => {
    const files = (dir: string) => locatePkiFiles({ pkipath: dir });
    assert.throws(
      () => loadPki(files(join(pki.dir, "nowhere"))),
      (error: Error) =>
        error instanceof PkiError &&
        error.message ===
          `cannot read CA certificate "${join(pki.dir, "nowhere", "cacert.pem")}": no such file`,
    );
    assert.throws(
      () => loadPki(files(pki.expiredClient!.clientPkiPath)),
      /the client certificate ".*clientcert\.pem" has expired \(valid until /,
    );
    // no_sanity skips the checks of our own files, as libvirt's does.
    loadPki(files(pki.expiredClient!.clientPkiPath), { sanity: false });

    const mixed = join(pki.dir, "mixed");
    await Deno.mkdir(mixed);
    await Deno.copyFile(pki.otherCa!.ca.cert, join(mixed, "cacert.pem"));
    await Deno.copyFile(pki.client.cert, join(mixed, "clientcert.pem"));
    await Deno.copyFile(pki.client.key, join(mixed, "clientkey.pem"));
    assert.throws(
      () => loadPki(files(mixed)),
      /the client certificate ".*mixed\/clientcert\.pem" failed validation against ".*mixed\/cacert\.pem": the certificate has not got a known issuer/,
    );

    await Deno.copyFile(pki.ca.cert, join(mixed, "cacert.pem"));
    await Deno.copyFile(pki.otherCa!.client.key, join(mixed, "clientkey.pem"));
    assert.throws(
      () => loadPki(files(mixed)),
      /the client key ".*mixed\/clientkey\.pem" does not match the client certificate/,
    );

    await Deno.writeTextFile(
      join(mixed, "clientkey.pem"),
      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    assert.throws(
      () => loadPki(files(mixed)),
      /cannot read client key ".*": not a PEM private key/,
    );

    await Deno.writeTextFile(join(mixed, "clientcert.pem"), "hello");
    assert.throws(
      () => loadPki(files(mixed)),
      /cannot read client certificate ".*": not a PEM file/,
    );
  });
});
