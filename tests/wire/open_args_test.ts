import assert from "node:assert/strict";
import { CONNECT_RO, STRING_MAX } from "../../src/wire/constants.ts";
import {
  decodeOpenArgs,
  encodeOpenArgs,
  encodeOptionalString,
  type OpenArgs,
  patchOpenReadOnly,
} from "../../src/wire/open_args.ts";
import { concat, frame, words } from "../_helpers/frames.ts";

/** The header every golden frame below shares: REMOTE CONNECT_OPEN, CALL, serial 2. */
const OPEN_HEADER = [
  ...[0x20, 0x00, 0x80, 0x86], // Program REMOTE
  ...[0x00, 0x00, 0x00, 0x01], // Version 1
  ...[0x00, 0x00, 0x00, 0x01], // Procedure 1 (CONNECT_OPEN)
  ...[0x00, 0x00, 0x00, 0x00], // Type CALL
  ...[0x00, 0x00, 0x00, 0x02], // Serial 2
  ...[0x00, 0x00, 0x00, 0x00], // Status OK
];

/** CONNECT_OPEN of "test:///default" (15 bytes, 1 byte of padding), flags 0, as virsh sends it. */
const GOLDEN_NAMED = new Uint8Array([
  ...[0x00, 0x00, 0x00, 0x38], // Length 56
  ...OPEN_HEADER,
  ...[0x00, 0x00, 0x00, 0x01], // name: present
  ...[0x00, 0x00, 0x00, 0x0f], // name: length 15
  ...[0x74, 0x65, 0x73, 0x74], // "test"
  ...[0x3a, 0x2f, 0x2f, 0x2f], // ":///"
  ...[0x64, 0x65, 0x66, 0x61], // "defa"
  ...[0x75, 0x6c, 0x74, 0x00], // "ult" + 1 byte padding
  ...[0x00, 0x00, 0x00, 0x00], // flags 0
]);

/** CONNECT_OPEN with no name (the daemon's default URI), flags VIR_CONNECT_RO. */
const GOLDEN_ABSENT = new Uint8Array([
  ...[0x00, 0x00, 0x00, 0x24], // Length 36
  ...OPEN_HEADER,
  ...[0x00, 0x00, 0x00, 0x00], // name: absent
  ...[0x00, 0x00, 0x00, 0x01], // flags 1 (VIR_CONNECT_RO)
]);

/** CONNECT_OPEN of "qemu" (4 bytes, no padding), flags VIR_CONNECT_NO_ALIASES. */
const GOLDEN_UNPADDED = new Uint8Array([
  ...[0x00, 0x00, 0x00, 0x2c], // Length 44
  ...OPEN_HEADER,
  ...[0x00, 0x00, 0x00, 0x01], // name: present
  ...[0x00, 0x00, 0x00, 0x04], // name: length 4
  ...[0x71, 0x65, 0x6d, 0x75], // "qemu", no padding
  ...[0x00, 0x00, 0x00, 0x02], // flags 2 (VIR_CONNECT_NO_ALIASES)
]);

/** The CONNECT_OPEN call frame carrying `body`, serial 2 like the golden ones. */
function openFrame(body: Uint8Array): Uint8Array {
  return frame({ procedure: 1, serial: 2, body });
}

const GOLDEN: ReadonlyArray<[string, Uint8Array, OpenArgs]> = [
  ["named, padded", GOLDEN_NAMED, { name: "test:///default", flags: 0 }],
  ["absent name", GOLDEN_ABSENT, { name: null, flags: CONNECT_RO }],
  ["named, no padding", GOLDEN_UNPADDED, { name: "qemu", flags: 2 }],
];

Deno.test("decodeOpenArgs reads each golden frame", () => {
  for (const [why, bytes, args] of GOLDEN) {
    assert.deepEqual(decodeOpenArgs(bytes), args, why);
  }
});

Deno.test("encodeOpenArgs makes each golden body word for word", () => {
  for (const [why, bytes, args] of GOLDEN) {
    assert.deepEqual(openFrame(encodeOpenArgs(args)), bytes, why);
  }
});

Deno.test("encodeOpenArgs pads names of every length mod 4 and round-trips them", () => {
  for (const name of [null, "", "a", "ab", "abc", "abcd", "abcde", "qemu:///system", "ü:///€"]) {
    for (const flags of [0, 1, 2, 3, 0xffffffff]) {
      const body = encodeOpenArgs({ name, flags });
      assert.equal(body.length % 4, 0, `${name} is word aligned`);
      assert.deepEqual(decodeOpenArgs(openFrame(body)), { name, flags }, `${name} ${flags}`);
    }
  }
  assert.deepEqual(encodeOptionalString(null), words(0));
  assert.deepEqual(encodeOptionalString(""), words(1, 0));
});

Deno.test("decodeOpenArgs throws RangeError for a frame truncated at every offset", () => {
  for (const [why, bytes] of GOLDEN) {
    for (let end = 0; end < bytes.length; end++) {
      assert.throws(() => decodeOpenArgs(bytes.subarray(0, end)), RangeError, `${why} at ${end}`);
    }
  }
});

Deno.test("decodeOpenArgs ignores bytes after the flags, as libvirt's decoder does", () => {
  const longer = concat(GOLDEN_NAMED, words(CONNECT_RO));
  assert.deepEqual(decodeOpenArgs(longer), { name: "test:///default", flags: 0 });
});

Deno.test("a huge declared name length is a RangeError before anything is read", () => {
  for (const length of [STRING_MAX + 1, 0x7fffffff, 0xfffffffc, 0xffffffff]) {
    const bytes = openFrame(words(1, length, 0));
    assert.throws(
      () => decodeOpenArgs(bytes),
      new RangeError(
        `Cannot decode CONNECT_OPEN arguments: name length ${length} exceeds ${STRING_MAX}`,
      ),
    );
    assert.throws(() => patchOpenReadOnly(bytes), RangeError);
  }
  // Within STRING_MAX but past the frame's end: the length is checked against the frame.
  assert.throws(
    () => decodeOpenArgs(openFrame(words(1, STRING_MAX, 0))),
    new RangeError(
      `Cannot decode CONNECT_OPEN arguments: the name needs ${STRING_MAX} bytes at offset 36, ` +
        "the frame has 40",
    ),
  );
});

Deno.test("a name of exactly STRING_MAX bytes is accepted", () => {
  const name = "x".repeat(STRING_MAX);
  assert.equal(decodeOpenArgs(openFrame(encodeOpenArgs({ name, flags: 0 }))).name, name);
});

Deno.test("patchOpenReadOnly sets VIR_CONNECT_RO and keeps every other bit and byte", () => {
  for (const [why, bytes, args] of GOLDEN) {
    const copy = bytes.slice();
    patchOpenReadOnly(copy);
    assert.deepEqual(decodeOpenArgs(copy), { ...args, flags: args.flags | CONNECT_RO }, why);
    assert.deepEqual(copy.subarray(0, copy.length - 4), bytes.subarray(0, bytes.length - 4), why);
  }
  const all = openFrame(encodeOpenArgs({ name: "x", flags: 0xfffffffe }));
  patchOpenReadOnly(all);
  assert.equal(decodeOpenArgs(all).flags, 0xffffffff);
});

Deno.test("patchOpenReadOnly patches the decoded flags, not an appended last word", () => {
  // The bypass the old patch (OR into the frame's last word) allowed.
  const longer = concat(GOLDEN_NAMED, words(0));
  patchOpenReadOnly(longer);
  assert.equal(decodeOpenArgs(longer).flags, CONNECT_RO);
  assert.deepEqual(longer.subarray(GOLDEN_NAMED.length), words(0));
});

Deno.test("patchOpenReadOnly refuses arguments it cannot read", () => {
  for (let end = 0; end < GOLDEN_NAMED.length; end++) {
    const cut = GOLDEN_NAMED.slice(0, end);
    assert.throws(() => patchOpenReadOnly(cut), RangeError, `at ${end}`);
    assert.deepEqual(cut, GOLDEN_NAMED.subarray(0, end), "left unchanged");
  }
});

/** mulberry32: a small seeded PRNG, so every failing case can be run again. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A body that is random, a mutated golden body, or one with chosen words. */
function randomFrame(random: () => number): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  const interesting = [0, 1, 2, 3, 4, 5, 15, 16, 0x7fffffff, 0x80000000, 0xffffffff, STRING_MAX];
  const word = () => random() < 0.5 ? interesting[int(interesting.length)] : int(2 ** 32);
  switch (int(4)) {
    case 0: { // random bytes
      const bytes = new Uint8Array(int(80));
      for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      return bytes;
    }
    case 1: // random words after a real header
      return openFrame(words(...Array.from({ length: int(8) }, word)));
    case 2: { // a golden frame with some bytes changed and maybe cut or lengthened
      const [, golden] = GOLDEN[int(GOLDEN.length)];
      let bytes: Uint8Array = golden.slice();
      for (let flips = int(4) + 1; flips > 0; flips--) bytes[int(bytes.length)] = int(256);
      if (random() < 0.3) bytes = bytes.slice(0, int(bytes.length + 1));
      if (random() < 0.3) bytes = concat(bytes, words(word()));
      return bytes;
    }
    default: { // a present name whose length word lies, within a few bytes or wildly
      const name = new Uint8Array(int(12));
      for (let i = 0; i < name.length; i++) name[i] = int(256);
      const declared = random() < 0.7 ? Math.max(0, name.length + int(9) - 4) : word();
      return openFrame(concat(words(1, declared), name, words(word())));
    }
  }
}

Deno.test("decodeOpenArgs only ever returns or throws RangeError, over 20000 seeded bodies", () => {
  const seed = 0x5eed0a;
  const random = prng(seed);
  let decoded = 0;
  for (let i = 0; i < 20000; i++) {
    const bytes = randomFrame(random);
    const where = `seed ${seed} case ${i}: ${Array.from(bytes).join(",")}`;
    let args: OpenArgs;
    try {
      args = decodeOpenArgs(bytes);
    } catch (error) {
      assert.ok(error instanceof RangeError, `${where}: ${error}`);
      assert.throws(() => patchOpenReadOnly(bytes.slice()), RangeError, where);
      continue;
    }
    decoded++;
    assert.ok(args.name === null || typeof args.name === "string", where);
    assert.ok(Number.isInteger(args.flags) && args.flags >= 0 && args.flags < 2 ** 32, where);
    const patched = bytes.slice();
    patchOpenReadOnly(patched);
    assert.deepEqual(decodeOpenArgs(patched), { ...args, flags: (args.flags | 1) >>> 0 }, where);
    assert.deepEqual(decodeOpenArgs(openFrame(encodeOpenArgs(args))), args, where);
  }
  // Both outcomes must be well represented, or the generator tests nothing.
  assert.ok(decoded > 2000 && decoded < 18000, `decoded ${decoded} of 20000`);
});
