/** The chain's primitives: line hashes, key evolution, key ids and seal HMACs. */

import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import {
  bytesHex,
  evolveKey,
  GENESIS,
  hexBytes,
  keyAtEpoch,
  keyId,
  lineHash,
  sealHmac,
} from "../../../src/audit/log/chain.ts";

const K0 = new Uint8Array(32).fill(7);

Deno.test("a line hash is SHA-256 of the line's UTF-8 bytes, string or bytes alike", () => {
  const line = '{"seq":0,"name":"vm-é"}';
  const expected = createHash("sha256").update(Buffer.from(line, "utf8")).digest("hex");
  assert.equal(lineHash(line), expected);
  assert.equal(lineHash(new TextEncoder().encode(line)), expected);
  assert.equal(GENESIS, "0".repeat(64));
});

Deno.test('the key evolves as SHA-256("virtmux-seal" || K), one way, epoch by epoch', () => {
  const k1 = evolveKey(K0);
  const expected = createHash("sha256").update("virtmux-seal").update(K0).digest();
  assert.deepEqual(k1, new Uint8Array(expected));
  assert.deepEqual(keyAtEpoch(K0, 0), K0);
  assert.deepEqual(keyAtEpoch(K0, 3), evolveKey(evolveKey(k1)));
  assert.notDeepEqual(keyAtEpoch(K0, 3), keyAtEpoch(K0, 4));
});

Deno.test("the key id names K(0) without giving it away, and differs between keys", () => {
  assert.match(keyId(K0), /^[0-9a-f]{16}$/);
  assert.notEqual(keyId(K0), keyId(evolveKey(K0)));
  assert.notEqual(keyId(K0), bytesHex(K0).slice(0, 16));
});

Deno.test("a seal is HMAC-SHA256(K, prev || seq u64 BE || epoch u64 BE)", () => {
  const prev = lineHash("x");
  const message = Buffer.concat([
    Buffer.from(prev, "hex"),
    Buffer.from([0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 5]),
  ]);
  assert.equal(
    sealHmac(K0, prev, 0x102, 5),
    createHmac("sha256", K0).update(message).digest("hex"),
  );
  assert.notEqual(sealHmac(K0, prev, 0x102, 5), sealHmac(K0, prev, 0x102, 6));
  assert.notEqual(sealHmac(K0, prev, 0x102, 5), sealHmac(K0, prev, 0x103, 5));
});

Deno.test("hex round-trips and refuses what is no hex", () => {
  assert.deepEqual(hexBytes("00ff10"), new Uint8Array([0, 255, 16]));
  assert.equal(bytesHex(new Uint8Array([0, 255, 16])), "00ff10");
  assert.throws(() => hexBytes("abc"), SyntaxError);
  assert.throws(() => hexBytes("zz"), /Cannot read hex "zz"/);
});
