import assert from "node:assert/strict";
import { CyrusSaslClient, loadSaslLibrary, Sasl } from "../../../src/transport/sasl/cyrus.ts";

Deno.test("a machine without libsasl2 gets an error naming the library and packages", () => {
  assert.throws(
    () => loadSaslLibrary("libsasl2-absent.so.9"),
    /Cannot load the Cyrus SASL library "libsasl2-absent.so.9" that SASL authentication needs \(Debian: libsasl2-2 and libsasl2-modules\)/,
  );
});

Deno.test("a Cyrus session asks for credentials as prompts and uses the answers", () => {
  // A host no other test logs in to: DIGEST-MD5 keeps a per-process cache of servers it logged
  // in to (fast reauthentication, which starts with prompts instead of waiting for a challenge),
  // and the library stays loaded across this process's test modules.
  const client = new CyrusSaslClient({ hostname: "cyrus-test.invalid" });
  try {
    client.setSecurityProperties(0, 0, 65536, true);
    const first = client.start("DIGEST-MD5");
    assert.equal(first.status, Sasl.CONTINUE);
    assert.equal(first.mechanism, "DIGEST-MD5");
    assert.equal(first.output, null); // DIGEST-MD5 waits for the server's challenge
    const challenge = new TextEncoder().encode(
      'realm="lab",nonce="OA6MG9tEQGm2hh",qop="auth",charset=utf-8,algorithm=md5-sess',
    );
    const asked = client.step(challenge);
    assert.equal(asked.status, Sasl.INTERACT);
    const ids = asked.prompts.map((prompt) => prompt.id);
    assert.ok(ids.includes(Sasl.CB_AUTHNAME) && ids.includes(Sasl.CB_PASS), String(ids));
    client.answer(
      new Map([[Sasl.CB_AUTHNAME, "alice"], [Sasl.CB_PASS, "pw"], [
        Sasl.CB_GETREALM,
        "lab",
      ]]),
    );
    const answered = client.step(challenge);
    assert.equal(answered.status, Sasl.CONTINUE);
    const response = new TextDecoder().decode(answered.output!);
    assert.match(response, /username="alice"/);
    assert.match(response, /digest-uri="libvirt\/cyrus-test.invalid"/);
    assert.equal(client.ssf(), 0);
  } finally {
    client.dispose();
    client.dispose();
  }
});
