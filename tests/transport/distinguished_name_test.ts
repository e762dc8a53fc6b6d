import assert from "node:assert/strict";
import { join } from "node:path";
import {
  certificateSubjectDn,
  escapeDnValue,
  pemBlocks,
} from "../../src/transport/distinguished_name.ts";
import { runCommand } from "../integration/helpers/process.ts";
import { tempDir } from "../integration/helpers/tmp.ts";

/** Self-signed certificates with awkward subjects, made by openssl. */
const SUBJECTS = [
  "/O=virtmux/CN=virtmux-test-client",
  "/C=GB/ST=London/L=London/O=Red Hat, Inc./OU=ops/CN=client.example.com/emailAddress=x@y.z" +
  "/DC=example/serialNumber=42",
  '/O=x;y<z>"q"/CN=a+UID=b/title=T/2.5.4.45=zzz/street= lead#=/L=#hash /GN=g/SN=s' +
  "/initials=i/pseudonym=p/postalCode=1/businessCategory=b/jurisdictionC=DE/name=n" +
  "/dnQualifier=q/generationQualifier=III",
  "/O=Zürich ünïcode/CN=back\\\\slash",
];

async function makeCert(dir: string, index: number, subject: string): Promise<string> {
  const cert = join(dir, `c${index}.pem`);
  const result = await runCommand("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(dir, `k${index}.pem`),
    "-out",
    cert,
    "-days",
    "2",
    "-utf8",
    "-multivalue-rdn",
    "-subj",
    subject,
  ], { env: { LC_ALL: "C" } });
  assert.equal(result.code, 0, result.stderr);
  return cert;
}

Deno.test("distinguished_name: formats subjects exactly as virt-pki-query-dn", async (t) => {
  await using dir = await tempDir("dn");
  const haveTool = (await runCommand("sh", ["-c", "command -v virt-pki-query-dn"])).code === 0;
  for (const [index, subject] of SUBJECTS.entries()) {
    const cert = await makeCert(dir.path, index, subject);
    const ours = certificateSubjectDn(pemBlocks(await Deno.readTextFile(cert), "CERTIFICATE")[0]);
    await t.step(subject, async () => {
      if (index === 0) assert.equal(ours, "O=virtmux,CN=virtmux-test-client");
      if (!haveTool) return; // libvirt-clients ships it; the integration tests need it anyway
      const theirs = await runCommand("virt-pki-query-dn", [cert], { env: { LC_ALL: "C" } });
      assert.equal(theirs.code, 0, theirs.stderr);
      assert.equal(ours, theirs.stdout.trimEnd());
    });
  }
});

Deno.test("distinguished_name: GnuTLS's escaping", () => {
  const rows: [string, string][] = [
    ["plain", "plain"],
    ["a,b+c", "a\\,b\\+c"],
    ['"q"<>;\\', '\\"q\\"\\<\\>\\;\\\\'],
    ["#lead", "\\#lead"],
    ["mid#dle", "mid#dle"],
    [" both ", "\\ both\\ "],
    ["a=b", "a=b"],
  ];
  for (const [raw, escaped] of rows) assert.equal(escapeDnValue(raw), escaped, raw);
});

Deno.test("distinguished_name: a truncated certificate throws RangeError", () => {
  assert.throws(() => certificateSubjectDn(new Uint8Array([0x30, 0x10, 0x30])), RangeError);
});
