import assert from "node:assert/strict";
import { join } from "node:path";
import { pemBlocks } from "../../src/transport/distinguished_name.ts";
import { parseRevocationList } from "../../src/transport/revocation_list.ts";
import { makeClientPki, makeCrl, makePki } from "../integration/helpers/pki.ts";
import { tempDir } from "../integration/helpers/tmp.ts";

const der = async (file: string) => pemBlocks(await Deno.readTextFile(file), "CERTIFICATE")[0];

for (const keyType of ["rsa", "ec"] as const) {
  Deno.test(`revocation_list: an openssl CRL (${keyType}) revokes what it lists`, async () => {
    await using dir = await tempDir("crl");
    const pki = await makePki(dir.path, { keyType, otherCa: true });
    const revoked = await makeClientPki(pki, "revoked", "/O=virtmux/CN=revoked");
    const crlFile = await makeCrl(pki, [revoked.client], join(dir.path, "crl.pem"));
    const ca = await Deno.readTextFile(pki.ca.cert);
    const list = parseRevocationList(await Deno.readTextFile(crlFile), ca, crlFile);
    assert.equal(list.size, 1);
    assert.ok(list.revokes(await der(revoked.client.cert)));
    assert.ok(!list.revokes(await der(pki.client.cert)));
    // Same subject, other issuer: not the revoked certificate.
    assert.ok(!list.revokes(await der(pki.otherCa!.client.cert)));

    const empty = await makeCrl(pki, [], join(dir.path, "empty.pem"));
    assert.equal(parseRevocationList(await Deno.readTextFile(empty), ca, empty).size, 0);

    const otherCa = await Deno.readTextFile(pki.otherCa!.ca.cert);
    assert.throws(
      () => parseRevocationList(Deno.readTextFileSync(crlFile), otherCa, crlFile),
      /does not verify against any certificate of the CA file/,
    );
  });
}

Deno.test("revocation_list: a file without a CRL is refused by name", () => {
  assert.throws(
    () => parseRevocationList("not a crl", "", "/etc/pki/CA/cacrl.pem"),
    /Cannot read CRL "\/etc\/pki\/CA\/cacrl.pem": no "X509 CRL" block in it/,
  );
});
