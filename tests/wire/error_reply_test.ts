import assert from "node:assert/strict";
import { ErrorCode, MessageType, Program, RemoteProc } from "../../src/wire/constants.ts";
import { decodeErrorReply, encodeErrorReply } from "../../src/wire/error_reply.ts";
import { type Header, readHeader } from "../../src/wire/header.ts";

/** The CONNECT_SET_IDENTITY (419) call the golden replies answer, serial 5. */
const CALL: Header = {
  length: 60,
  program: Program.REMOTE,
  version: 1,
  procedure: RemoteProc.CONNECT_SET_IDENTITY,
  type: MessageType.CALL,
  serial: 5,
  status: 0,
};

/**
 * The reply refusing it with "Denied: shared" (14 bytes, padded to 16), code 29, domain 13; the
 * body is a whole `remote_error` (src/remote/remote_protocol.x).
 */
const GOLDEN_DENIED = new Uint8Array([
  ...[0x00, 0x00, 0x00, 0x5c], // Length 92
  ...[0x20, 0x00, 0x80, 0x86], // Program REMOTE
  ...[0x00, 0x00, 0x00, 0x01], // Version 1
  ...[0x00, 0x00, 0x01, 0xa3], // Procedure 419 (CONNECT_SET_IDENTITY)
  ...[0x00, 0x00, 0x00, 0x01], // Type REPLY
  ...[0x00, 0x00, 0x00, 0x05], // Serial 5
  ...[0x00, 0x00, 0x00, 0x01], // Status ERROR
  ...[0x00, 0x00, 0x00, 0x1d], // code 29 (VIR_ERR_OPERATION_DENIED)
  ...[0x00, 0x00, 0x00, 0x0d], // domain 13 (VIR_FROM_REMOTE)
  ...[0x00, 0x00, 0x00, 0x01], // message: present
  ...[0x00, 0x00, 0x00, 0x0e], // message: length 14
  ...[0x44, 0x65, 0x6e, 0x69], // "Deni"
  ...[0x65, 0x64, 0x3a, 0x20], // "ed: "
  ...[0x73, 0x68, 0x61, 0x72], // "shar"
  ...[0x65, 0x64, 0x00, 0x00], // "ed" + 2 bytes padding
  ...[0x00, 0x00, 0x00, 0x02], // level 2 (VIR_ERR_ERROR)
  ...[0x00, 0x00, 0x00, 0x00], // dom: absent
  ...[0x00, 0x00, 0x00, 0x00], // str1: absent
  ...[0x00, 0x00, 0x00, 0x00], // str2: absent
  ...[0x00, 0x00, 0x00, 0x00], // str3: absent
  ...[0x00, 0x00, 0x00, 0x00], // int1 0
  ...[0x00, 0x00, 0x00, 0x00], // int2 0
  ...[0x00, 0x00, 0x00, 0x00], // net: absent
]);

Deno.test("encodeErrorReply matches the golden remote_error frame word for word", () => {
  const reply = encodeErrorReply(CALL, "Denied: shared", {
    code: ErrorCode.OPERATION_DENIED,
    domain: 13,
  });
  assert.equal(reply.length, 92);
  assert.deepEqual(reply, GOLDEN_DENIED);
});

Deno.test("decodeErrorReply round-trips the golden frame", () => {
  assert.deepEqual(decodeErrorReply(GOLDEN_DENIED), {
    code: 29,
    domain: 13,
    message: "Denied: shared",
    level: 2,
  });
});

Deno.test("encodeErrorReply defaults to VIR_ERR_RPC from VIR_FROM_RPC in a REPLY", () => {
  const reply = encodeErrorReply(CALL, "x");
  const header = readHeader(reply);
  assert.deepEqual(header, { ...CALL, length: reply.length, type: 1, status: 1 });
  assert.deepEqual(decodeErrorReply(reply), { code: 39, domain: 7, message: "x", level: 2 });
});

Deno.test("encodeErrorReply answers a stream message with a STREAM frame", () => {
  const reply = encodeErrorReply({ ...CALL, type: MessageType.STREAM, status: 2 }, "gone", {
    type: MessageType.STREAM,
  });
  assert.equal(readHeader(reply).type, MessageType.STREAM);
  assert.equal(readHeader(reply).status, 1);
});

Deno.test("error frames are word aligned for every message length mod 4", () => {
  const rows: [string, string, number][] = [
    ["empty message", "", 0],
    ["1 byte pads 3", "a", 4],
    ["2 bytes pad 2", "ab", 4],
    ["3 bytes pad 1", "abc", 4],
    ["4 bytes pad none", "abcd", 4],
    ["5 bytes pad 3", "abcde", 8],
    ["multibyte UTF-8 counts bytes, not chars", "é€", 8],
  ];
  for (const [why, message, padded] of rows) {
    const reply = encodeErrorReply(CALL, message);
    assert.equal(reply.length, 28 + 4 * 4 + padded + 4 * 8, why);
    assert.equal(reply.length % 4, 0, why);
    assert.equal(
      new DataView(reply.buffer).getUint32(28 + 12),
      new TextEncoder().encode(message)
        .length,
      why,
    );
    assert.deepEqual(decodeErrorReply(reply).message, message, why);
    // The padding and everything after level is zero.
    const textEnd = 28 + 16 + new TextEncoder().encode(message).length;
    assert.ok(reply.subarray(textEnd, 28 + 16 + padded).every((b) => b === 0), why);
    assert.ok(reply.subarray(28 + 16 + padded + 4).every((b) => b === 0), why);
  }
});

Deno.test("encodeErrorReply keeps the call's serial above 2^31 and a signed procedure", () => {
  const reply = encodeErrorReply({ ...CALL, serial: 0xfffffff0, procedure: -3 }, "x");
  const header = readHeader(reply);
  assert.equal(header.serial, 0xfffffff0);
  assert.equal(header.procedure, -3);
});

Deno.test("decodeErrorReply reads a frame that is a view into a larger buffer", () => {
  const big = new Uint8Array(7 + GOLDEN_DENIED.length);
  big.set(GOLDEN_DENIED, 7);
  assert.equal(decodeErrorReply(big.subarray(7)).message, "Denied: shared");
});

Deno.test("decodeErrorReply reports an absent message as null", () => {
  const reply = GOLDEN_DENIED.slice(0, 28 + 12);
  const absent = new Uint8Array(28 + 12 + 4);
  absent.set(reply);
  absent[28 + 11] = 0; // present flag 0
  absent.set([0, 0, 0, 2], 28 + 12); // level right after the flag
  assert.deepEqual(decodeErrorReply(absent), { code: 29, domain: 13, message: null, level: 2 });
});
