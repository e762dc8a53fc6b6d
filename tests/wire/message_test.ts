import assert from "node:assert/strict";
import {
  KeepaliveProc,
  MessageStatus,
  MessageType,
  Program,
  RemoteProc,
} from "../../src/wire/constants.ts";
import {
  decodeOpenArgs,
  encodeMessage,
  encodeOkReply,
  encodeOpenArgs,
  encodeOptionalString,
  encodeWords,
  PING_FRAME,
  PONG_FRAME,
  readFirstInt,
} from "../../src/wire/message.ts";
import { concat, frame, words } from "../_helpers/frames.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("encodeMessage writes the header words, then the body", () => {
  const message = encodeMessage(
    { program: Program.REMOTE, procedure: 66, type: MessageType.CALL, serial: 7 },
    words(0xdeadbeef),
  );
  assert.deepEqual(
    message,
    words(
      32, //          Length: header and body
      0x20008086, //  Program: REMOTE
      1, //           Version
      66, //          Procedure: AUTH_LIST
      0, //           Type: CALL
      7, //           Serial
      0, //           Status: OK
      0xdeadbeef, //  Body
    ),
  );
  const error = encodeMessage({
    program: Program.REMOTE,
    procedure: 1,
    type: MessageType.REPLY,
    serial: 2,
    status: MessageStatus.ERROR,
  });
  assert.equal(error.length, 28);
  assert.deepEqual(error.subarray(24), words(1), "Status: ERROR");
});

Deno.test("the keepalive PING and PONG are header-only MESSAGEs with serial 0", () => {
  assert.deepEqual(
    PING_FRAME,
    words(
      28, //          Length
      0x6b656570, //  Program: KEEPALIVE ("keep")
      1, //           Version
      1, //           Procedure: PING
      2, //           Type: MESSAGE
      0, //           Serial
      0, //           Status: OK
    ),
  );
  assert.deepEqual(PONG_FRAME.subarray(12, 16), words(KeepaliveProc.PONG));
  assert.deepEqual(PONG_FRAME.subarray(0, 12), PING_FRAME.subarray(0, 12));
});

Deno.test("encodeOkReply answers a call with its program, procedure and serial", () => {
  const call = frame({ program: Program.QEMU, procedure: 3, serial: 99, body: words(5) });
  assert.deepEqual(
    encodeOkReply(call, words(42)),
    words(
      32, //          Length
      0x20008087, //  Program: QEMU, from the call
      1, //           Version
      3, //           Procedure, from the call
      1, //           Type: REPLY
      99, //          Serial, from the call
      0, //           Status: OK
      42, //          Body
    ),
  );
  assert.equal(encodeOkReply(call).length, 28);
});

Deno.test("encodeWords writes big-endian 32-bit words, negative ones as two's complement", () => {
  assert.deepEqual(
    encodeWords(1, 0x01020304, -1),
    new Uint8Array([0, 0, 0, 1, 1, 2, 3, 4, 255, 255, 255, 255]),
  );
  assert.deepEqual(encodeWords(), new Uint8Array(0));
});

Deno.test("an optional string is a presence word, a length and padded bytes", () => {
  assert.deepEqual(encodeOptionalString(null), words(0));
  assert.deepEqual(encodeOptionalString(""), words(1, 0));
  assert.deepEqual(encodeOptionalString("abc"), concat(words(1, 3), bytes("abc\0")));
  assert.deepEqual(encodeOptionalString("abcd"), concat(words(1, 4), bytes("abcd")));
  assert.deepEqual(
    encodeOptionalString("é"),
    concat(words(1, 2), new Uint8Array([0xc3, 0xa9, 0, 0])),
  );
});

Deno.test("CONNECT_OPEN arguments decode what encodeOpenArgs writes", () => {
  const cases = [
    { name: "qemu:///system", flags: 0 },
    { name: "test:///default", flags: 1 },
    { name: null, flags: 1 },
    { name: "", flags: 0xffffffff },
    { name: "abcde", flags: 2 },
  ];
  for (const args of cases) {
    const call = frame({ procedure: RemoteProc.CONNECT_OPEN, body: encodeOpenArgs(args) });
    assert.deepEqual(decodeOpenArgs(call), args, JSON.stringify(args));
  }
  assert.deepEqual(
    encodeOpenArgs({ name: "abcde", flags: 1 }),
    concat(
      words(1, 5), //          Name present, length 5
      bytes("abcde\0\0\0"), // Name, padded to 8
      words(1), //             Flags: VIR_CONNECT_RO
    ),
  );
});

Deno.test("CONNECT_OPEN arguments cut short anywhere are refused with a RangeError", () => {
  const body = encodeOpenArgs({ name: "qemu:///system", flags: 1 });
  for (let length = 0; length < body.length; length++) {
    const call = frame({ procedure: RemoteProc.CONNECT_OPEN, body: body.subarray(0, length) });
    assert.throws(() => decodeOpenArgs(call), RangeError, `body cut at ${length}`);
  }
  // A name length far beyond the frame, as a hostile client would send it.
  const huge = frame({ procedure: RemoteProc.CONNECT_OPEN, body: words(1, 0xfffffff0, 0) });
  assert.throws(() => decodeOpenArgs(huge), {
    name: "RangeError",
    message: "CONNECT_OPEN arguments are truncated",
  });
});

Deno.test("readFirstInt reads the body's first word as a signed int, if there is one", () => {
  assert.equal(readFirstInt(frame({ body: words(7) })), 7);
  assert.equal(readFirstInt(frame({ body: words(0xffffffff) })), -1);
  assert.equal(readFirstInt(frame()), undefined);
  assert.equal(readFirstInt(frame({ body: new Uint8Array(3) })), undefined);
});
