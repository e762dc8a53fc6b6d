import assert from "node:assert/strict";
import { ScramClient, ScramError } from "../../../src/transport/sasl/scram.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("SCRAM-SHA-256 matches the example of RFC 7677 section 3", async () => {
  const client = new ScramClient("SCRAM-SHA-256", {
    authname: "user",
    password: "pencil",
    nonce: "rOprNGfwEbeRWgbNEkqO",
  });
  assert.equal(text(client.first()), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  const final = await client.final(bytes(
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  ));
  assert.equal(
    text(final),
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," +
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  );
  client.verify(bytes("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
  assert.throws(() => client.verify(bytes("v=AAAA")), ScramError);
  assert.throws(() => client.verify(bytes("e=invalid-proof")), /server refused: invalid-proof/);
});

Deno.test("SCRAM-SHA-1 matches the example of RFC 5802 section 5", async () => {
  const client = new ScramClient("SCRAM-SHA-1", {
    authname: "user",
    password: "pencil",
    nonce: "fyko+d2lbbFgONRv9qkxdawL",
  });
  const final = await client.final(bytes(
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
  ));
  assert.equal(
    text(final),
    "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
  );
  client.verify(bytes("v=rmF9pqV8S7suAoZWja4dJRkFsKQ="));
});

Deno.test("SCRAM refuses a server that does not extend our nonce or asks too much", async () => {
  const client = new ScramClient("scram-sha-256", {
    authname: "a,b=c",
    password: "p",
    nonce: "abc",
  });
  assert.equal(text(client.first()), "n,,n=a=2Cb=3Dc,r=abc");
  for (
    const [serverFirst, pattern] of [
      ["r=xyz,s=c2FsdA==,i=4096", /bad nonce/],
      ["r=abc,s=c2FsdA==,i=4096", /bad nonce/],
      ["r=abcdef,i=4096", /malformed/],
      ["r=abcdef,s=c2FsdA==,i=0", /malformed/],
      ["r=abcdef,s=c2FsdA==,i=100000000", /iterations/],
    ] as const
  ) {
    await assert.rejects(client.final(bytes(serverFirst)), pattern, serverFirst);
  }
  assert.throws(() => new ScramClient("PLAIN", { authname: "a", password: "b" }), RangeError);
});
