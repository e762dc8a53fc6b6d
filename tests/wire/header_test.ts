import assert from "node:assert/strict";
import { HEADER_BYTES, MessageStatus, MessageType, Program } from "../../src/wire/constants.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  frameStatus,
  frameType,
  type Header,
  patchSerial,
  readHeader,
  readU32,
  writeHeader,
  writeU32,
} from "../../src/wire/header.ts";

/** A REMOTE CALL of CONNECT_GET_LIB_VERSION (157), serial 9, with one body word. */
const GOLDEN_CALL = new Uint8Array([
  ...[0x00, 0x00, 0x00, 0x20], // Length 32
  ...[0x20, 0x00, 0x80, 0x86], // Program REMOTE
  ...[0x00, 0x00, 0x00, 0x01], // Version 1
  ...[0x00, 0x00, 0x00, 0x9d], // Procedure 157
  ...[0x00, 0x00, 0x00, 0x00], // Type CALL
  ...[0x00, 0x00, 0x00, 0x09], // Serial 9
  ...[0x00, 0x00, 0x00, 0x00], // Status OK
  ...[0xde, 0xad, 0xbe, 0xef], // Body word
]);

const GOLDEN_HEADER: Header = {
  length: 32,
  program: Program.REMOTE,
  version: 1,
  procedure: 157,
  type: MessageType.CALL,
  serial: 9,
  status: MessageStatus.OK,
};

Deno.test("readHeader decodes each field of a golden frame", () => {
  assert.deepEqual(readHeader(GOLDEN_CALL), GOLDEN_HEADER);
});

Deno.test("writeHeader encodes the golden header and leaves the body alone", () => {
  const bytes = new Uint8Array(32);
  bytes.set([0xde, 0xad, 0xbe, 0xef], 28);
  writeHeader(bytes, GOLDEN_HEADER);
  assert.deepEqual(bytes, GOLDEN_CALL);
});

Deno.test("readHeader refuses fewer than 28 bytes", () => {
  assert.throws(
    () => readHeader(GOLDEN_CALL.subarray(0, 27)),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message === "Cannot read header: need 28 bytes, have 27",
  );
});

Deno.test("readHeader reads from a view's own offset, not its buffer's", () => {
  const padded = new Uint8Array(8 + GOLDEN_CALL.length);
  padded.fill(0xff, 0, 8);
  padded.set(GOLDEN_CALL, 8);
  assert.deepEqual(readHeader(padded.subarray(8)), GOLDEN_HEADER);
});

Deno.test("frame accessors read each field in place", () => {
  assert.equal(frameProgram(GOLDEN_CALL), Program.REMOTE);
  assert.equal(frameProcedure(GOLDEN_CALL), 157);
  assert.equal(frameType(GOLDEN_CALL), MessageType.CALL);
  assert.equal(frameSerial(GOLDEN_CALL), 9);
  assert.equal(frameStatus(GOLDEN_CALL), MessageStatus.OK);
});

Deno.test("each field patched in place changes only its own 4 bytes", () => {
  const fields: [keyof Header, number][] = [
    ["length", 0],
    ["program", 4],
    ["version", 8],
    ["procedure", 12],
    ["type", 16],
    ["serial", 20],
    ["status", 24],
  ];
  for (const [field, offset] of fields) {
    const bytes = GOLDEN_CALL.slice();
    writeU32(bytes, offset, 0x01020304);
    const expected = { ...GOLDEN_HEADER, [field]: 0x01020304 };
    assert.deepEqual(readHeader(bytes), expected, field);
    for (let i = 0; i < bytes.length; i++) {
      if (i < offset || i >= offset + 4) assert.equal(bytes[i], GOLDEN_CALL[i], `${field} @${i}`);
    }
  }
});

Deno.test("patchSerial changes only bytes 20..23", () => {
  const bytes = GOLDEN_CALL.slice();
  patchSerial(bytes, 0xcafebabe);
  assert.deepEqual(bytes.subarray(20, 24), new Uint8Array([0xca, 0xfe, 0xba, 0xbe]));
  assert.deepEqual(bytes.subarray(0, 20), GOLDEN_CALL.subarray(0, 20));
  assert.deepEqual(bytes.subarray(24), GOLDEN_CALL.subarray(24));
  assert.equal(frameSerial(bytes), 0xcafebabe);
});

Deno.test("patchSerial patches a view without touching bytes around it", () => {
  const two = new Uint8Array(64);
  two.set(GOLDEN_CALL, 0);
  two.set(GOLDEN_CALL, 32);
  patchSerial(two.subarray(32, 64), 77);
  assert.deepEqual(two.subarray(0, 32), GOLDEN_CALL);
  assert.equal(frameSerial(two.subarray(32)), 77);
  assert.equal(readU32(two, 52), 77);
});

Deno.test("readU32 is unsigned for values from 2^31 up", () => {
  const rows: [string, number[], number][] = [
    ["zero", [0, 0, 0, 0], 0],
    ["2^31 - 1", [0x7f, 0xff, 0xff, 0xff], 0x7fffffff],
    ["2^31", [0x80, 0, 0, 0], 0x80000000],
    ["REMOTE program", [0x20, 0x00, 0x80, 0x86], 0x20008086],
    ["2^32 - 1", [0xff, 0xff, 0xff, 0xff], 0xffffffff],
  ];
  for (const [why, bytes, value] of rows) {
    assert.equal(readU32(new Uint8Array(bytes), 0), value, why);
  }
});

Deno.test("writeU32 then readU32 round-trips serials above 2^31", () => {
  const bytes = new Uint8Array(4);
  for (const value of [0x80000000, 0xfffffffe, 0xffffffff]) {
    writeU32(bytes, 0, value);
    assert.equal(readU32(bytes, 0), value);
  }
});

Deno.test("procedure is signed while serial and program are unsigned", () => {
  const bytes = GOLDEN_CALL.slice();
  bytes.fill(0xff, 4, 28); // every header word 0xffffffff
  const header = readHeader(bytes);
  assert.equal(header.procedure, -1);
  assert.equal(frameProcedure(bytes), -1);
  assert.equal(header.program, 0xffffffff);
  assert.equal(header.serial, 0xffffffff);
  assert.equal(frameSerial(bytes), 0xffffffff);
  assert.equal(header.status, 0xffffffff);
});

Deno.test("writeHeader encodes a negative procedure as two's complement", () => {
  const bytes = new Uint8Array(HEADER_BYTES);
  writeHeader(bytes, { ...GOLDEN_HEADER, length: HEADER_BYTES, procedure: -2 });
  assert.deepEqual(bytes.subarray(12, 16), new Uint8Array([0xff, 0xff, 0xff, 0xfe]));
  assert.equal(readHeader(bytes).procedure, -2);
});
