import assert from "node:assert/strict";
import {
  decodeOid,
  integerHex,
  readChildren,
  readElement,
  Tag,
  toHex,
} from "../../src/transport/der.ts";

Deno.test("der: short and long lengths", () => {
  const short = readElement(new Uint8Array([0x04, 0x02, 0xaa, 0xbb]));
  assert.equal(short.tag, Tag.OCTET_STRING);
  assert.deepEqual([...short.value], [0xaa, 0xbb]);
  const body = new Uint8Array(300).fill(7);
  const long = readElement(new Uint8Array([0x04, 0x82, 0x01, 0x2c, ...body]));
  assert.equal(long.value.length, 300);
  assert.equal(long.encoded.length, 304);
});

Deno.test("der: a SEQUENCE's children, in order", () => {
  const children = readChildren(new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07]));
  assert.deepEqual(children.map((c) => [c.tag, c.value[0]]), [[2, 5], [2, 7]]);
});

Deno.test("der: truncated and forbidden encodings throw RangeError", () => {
  for (
    const [why, bytes] of [
      ["one byte", [0x30]],
      ["content shorter than claimed", [0x04, 0x05, 1, 2]],
      ["indefinite length", [0x30, 0x80, 0, 0]],
      ["length of five bytes", [0x04, 0x85, 0, 0, 0, 0, 1, 0]],
      ["multi-byte tag", [0x1f, 0x81, 0x01, 0x00]],
    ] as const
  ) {
    assert.throws(() => readElement(new Uint8Array(bytes)), RangeError, why);
  }
});

Deno.test("der: OIDs, serial numbers and hex", () => {
  assert.equal(decodeOid(new Uint8Array([0x55, 0x04, 0x03])), "2.5.4.3");
  assert.equal(
    decodeOid(new Uint8Array([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01])),
    "1.2.840.113549.1.9.1",
  );
  assert.equal(decodeOid(new Uint8Array([0x09, 0x92, 0x26])), "0.9.2342");
  assert.equal(integerHex(new Uint8Array([0x00, 0x00, 0x8f, 0x01])), "8f01");
  assert.equal(integerHex(new Uint8Array([0x00])), "00");
  assert.equal(toHex(new Uint8Array([0, 15, 255])), "000fff");
});
