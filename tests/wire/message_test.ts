import assert from "node:assert/strict";
import { MessageStatus, MessageType, Program } from "../../src/wire/constants.ts";
import {
  encodeMessage,
  encodeOkReply,
  encodeWords,
  PING_FRAME,
  PONG_FRAME,
  readFirstInt,
} from "../../src/wire/message.ts";
import { frame, words } from "../_helpers/frames.ts";

/** A QEMU CONNECT_DOMAIN_MONITOR_EVENT_REGISTER (4) call, serial 7, with a 3-word body. */
const CALL = frame({
  program: Program.QEMU,
  procedure: 4,
  serial: 7,
  body: words(0, 0, 0),
});

/** Its successful reply carrying callbackID 3 (`qemu_connect_domain_monitor_event_register_ret`). */
const GOLDEN_OK_REPLY = new Uint8Array([
  ...[0x00, 0x00, 0x00, 0x20], // Length 32
  ...[0x20, 0x00, 0x80, 0x87], // Program QEMU
  ...[0x00, 0x00, 0x00, 0x01], // Version 1
  ...[0x00, 0x00, 0x00, 0x04], // Procedure 4 (CONNECT_DOMAIN_MONITOR_EVENT_REGISTER)
  ...[0x00, 0x00, 0x00, 0x01], // Type REPLY
  ...[0x00, 0x00, 0x00, 0x07], // Serial 7, the call's
  ...[0x00, 0x00, 0x00, 0x00], // Status OK
  ...[0x00, 0x00, 0x00, 0x03], // callbackID 3
]);

/** The keepalive PING libvirt sends (src/rpc/virkeepalive.c): a MESSAGE with serial 0. */
const GOLDEN_PING = new Uint8Array([
  ...[0x00, 0x00, 0x00, 0x1c], // Length 28
  ...[0x6b, 0x65, 0x65, 0x70], // Program KEEPALIVE ("keep")
  ...[0x00, 0x00, 0x00, 0x01], // Version 1
  ...[0x00, 0x00, 0x00, 0x01], // Procedure 1 (PING)
  ...[0x00, 0x00, 0x00, 0x02], // Type MESSAGE
  ...[0x00, 0x00, 0x00, 0x00], // Serial 0
  ...[0x00, 0x00, 0x00, 0x00], // Status OK
]);

Deno.test("encodeOkReply answers with the call's program, procedure and serial", () => {
  assert.deepEqual(encodeOkReply(CALL, encodeWords(3)), GOLDEN_OK_REPLY);
});

Deno.test("encodeOkReply without a body is a bare 28-byte REPLY", () => {
  assert.deepEqual(encodeOkReply(CALL), GOLDEN_OK_REPLY.subarray(0, 28).with(3, 28));
});

Deno.test("encodeOkReply keeps a procedure number above 2^31 as it came", () => {
  const call = frame({ procedure: 0xfffffffe, serial: 0xffffffff });
  const reply = encodeOkReply(call);
  assert.deepEqual(reply.subarray(12, 16), call.subarray(12, 16));
  assert.deepEqual(reply.subarray(20, 24), call.subarray(20, 24));
});

Deno.test("PING_FRAME and PONG_FRAME match the keepalive messages word for word", () => {
  assert.deepEqual(PING_FRAME, GOLDEN_PING);
  assert.deepEqual(PONG_FRAME, GOLDEN_PING.with(15, 2)); // Procedure 2 (PONG)
});

Deno.test("encodeMessage writes the length and defaults the status to OK", () => {
  const message = encodeMessage(
    { program: Program.REMOTE, procedure: 2, type: MessageType.CALL, serial: 9 },
    words(5),
  );
  assert.deepEqual(message, frame({ procedure: 2, serial: 9, body: words(5) }));
  const error = encodeMessage({
    program: Program.REMOTE,
    procedure: 2,
    type: MessageType.REPLY,
    serial: 9,
    status: MessageStatus.ERROR,
  });
  assert.deepEqual(error, frame({ procedure: 2, serial: 9, type: 1, status: 1 }));
});

Deno.test("encodeWords writes big-endian words, negative ints as two's complement", () => {
  assert.deepEqual(encodeWords(1, 0x01020304, -1), words(1, 0x01020304, 0xffffffff));
  assert.deepEqual(encodeWords(), new Uint8Array(0));
});

Deno.test("readFirstInt reads the first body word as a signed int", () => {
  const rows: Array<[string, Uint8Array, number | undefined]> = [
    ["no body", frame(), undefined],
    ["three bytes of body", frame({ body: new Uint8Array(3) }), undefined],
    ["zero", frame({ body: words(0) }), 0],
    ["a callbackID", frame({ body: words(42, 7) }), 42],
    ["-1, as a deregistration of nothing", frame({ body: words(0xffffffff) }), -1],
    ["2^31 reads as -2^31", frame({ body: words(0x80000000) }), -0x80000000],
  ];
  for (const [why, bytes, expected] of rows) assert.equal(readFirstInt(bytes), expected, why);
});
