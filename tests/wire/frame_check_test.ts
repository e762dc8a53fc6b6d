import assert from "node:assert/strict";
import { MAX_FRAME_BYTES, MessageStatus, MessageType, Program } from "../../src/wire/constants.ts";
import {
  answerableHeader,
  checkHeader,
  checkLength,
  DEFAULT_PROGRAMS,
  type Direction,
  FrameError,
  resolveLimits,
} from "../../src/wire/frame_check.ts";
import { readHeader } from "../../src/wire/header.ts";
import { frame, type FrameFields } from "../_helpers/frames.ts";

const WITH_ADMIN: ReadonlySet<number> = new Set([...DEFAULT_PROGRAMS, Program.ADMIN]);

Deno.test("checkLength errors", () => {
  const rows: [string, number, string][] = [
    ["length 0", 0, "length 0 is below the 28-byte minimum"],
    ["length 3: libvirt's own len < 4", 3, "length 3 is below the 28-byte minimum"],
    ["length 27: one byte short of a header", 27, "length 27 is below the 28-byte minimum"],
    [
      "max + 1",
      MAX_FRAME_BYTES + 1,
      "length 33554437 exceeds the limit of 33554436 bytes",
    ],
    [
      "0x7ffffff0: a hostile claim near 2 GiB",
      0x7ffffff0,
      "length 2147483632 exceeds the limit of 33554436 bytes",
    ],
    [
      "2^32 - 1: the largest u32",
      0xffffffff,
      "length 4294967295 exceeds the limit of 33554436 bytes",
    ],
  ];
  for (const [why, length, message] of rows) {
    assert.equal(checkLength(length, MAX_FRAME_BYTES), message, why);
  }
});

Deno.test("checkLength accepts the bounds themselves", () => {
  assert.equal(checkLength(28, MAX_FRAME_BYTES), undefined);
  assert.equal(checkLength(MAX_FRAME_BYTES, MAX_FRAME_BYTES), undefined);
  assert.equal(checkLength(1024, 1024), undefined);
  assert.equal(checkLength(1025, 1024), "length 1025 exceeds the limit of 1024 bytes");
});

interface HeaderRow {
  why: string;
  fields: FrameFields;
  direction?: Direction;
  programs?: ReadonlySet<number>;
  error: string | undefined;
}

const HEADER_ROWS: HeaderRow[] = [
  // errors
  {
    why: "unknown program",
    fields: { program: 0x12345678 },
    error: "program 0x12345678 is not allowed",
  },
  {
    why: "ADMIN refused by default",
    fields: { program: Program.ADMIN },
    error: "program ADMIN is not allowed",
  },
  {
    why: "version 2",
    fields: { version: 2 },
    error: "version 2 of program REMOTE is not supported",
  },
  {
    why: "version 0",
    fields: { program: Program.QEMU, version: 0 },
    error: "version 0 of program QEMU is not supported",
  },
  {
    why: "type 1 (REPLY) from a client",
    fields: { type: MessageType.REPLY },
    error: "message type 1 is not valid here",
  },
  {
    why: "type 5 (REPLY_WITH_FDS) from a client",
    fields: { type: MessageType.REPLY_WITH_FDS },
    error: "message type 5 is not valid here",
  },
  {
    why: "type 0 (CALL) from a server",
    fields: { type: MessageType.CALL },
    direction: "fromServer",
    error: "message type 0 is not valid here",
  },
  {
    why: "type 4 (CALL_WITH_FDS) from a server",
    fields: { type: MessageType.CALL_WITH_FDS },
    direction: "fromServer",
    error: "message type 4 is not valid here",
  },
  {
    why: "type 7: beyond STREAM_HOLE",
    fields: { type: 7 },
    error: "message type 7 is not valid here",
  },
  {
    why: "type 7 from a server too",
    fields: { type: 7 },
    direction: "fromServer",
    error: "message type 7 is not valid here",
  },
  {
    why: "status 3: beyond CONTINUE",
    fields: { status: 3 },
    error: "status 3 is not valid",
  },
  {
    why: "status 2^31 stays unsigned",
    fields: { status: 0x80000000 },
    error: "status 2147483648 is not valid",
  },
  {
    why: "program checked before version",
    fields: { program: 1, version: 9, type: 9, status: 9 },
    error: "program 0x00000001 is not allowed",
  },
  {
    why: "version checked before type",
    fields: { version: 9, type: 9, status: 9 },
    error: "version 9 of program REMOTE is not supported",
  },
  {
    why: "type checked before status",
    fields: { type: 9, status: 9 },
    error: "message type 9 is not valid here",
  },
  // accepted
  { why: "REMOTE CALL", fields: {}, error: undefined },
  {
    why: "ADMIN accepted when allowed",
    fields: { program: Program.ADMIN },
    programs: WITH_ADMIN,
    error: undefined,
  },
  {
    why: "keepalive PING from a client",
    fields: { program: Program.KEEPALIVE, type: MessageType.MESSAGE },
    error: undefined,
  },
  {
    why: "keepalive PONG from a server",
    fields: { program: Program.KEEPALIVE, procedure: 2, type: MessageType.MESSAGE },
    direction: "fromServer",
    error: undefined,
  },
  { why: "LXC CALL", fields: { program: Program.LXC }, error: undefined },
  {
    why: "stream data from a client",
    fields: { type: MessageType.STREAM, status: MessageStatus.CONTINUE },
    error: undefined,
  },
  {
    why: "CALL_WITH_FDS from a client (refused later, not here)",
    fields: { type: MessageType.CALL_WITH_FDS },
    error: undefined,
  },
  { why: "STREAM_HOLE", fields: { type: MessageType.STREAM_HOLE }, error: undefined },
  {
    why: "error REPLY from a server",
    fields: { type: MessageType.REPLY, status: MessageStatus.ERROR },
    direction: "fromServer",
    error: undefined,
  },
  {
    why: "REPLY_WITH_FDS from a server",
    fields: { type: MessageType.REPLY_WITH_FDS },
    direction: "fromServer",
    error: undefined,
  },
];

Deno.test("checkHeader errors and accepted headers", () => {
  for (const row of HEADER_ROWS) {
    const bytes = frame(row.fields);
    const problem = checkHeader(
      bytes,
      0,
      row.programs ?? DEFAULT_PROGRAMS,
      row.direction ?? "fromClient",
    );
    assert.equal(problem, row.error, row.why);
  }
});

Deno.test("checkHeader reads the frame at an offset", () => {
  const bytes = new Uint8Array(100);
  bytes.set(frame({ type: 7 }), 0);
  bytes.set(frame(), 50);
  assert.equal(checkHeader(bytes, 50, DEFAULT_PROGRAMS, "fromClient"), undefined);
  assert.equal(
    checkHeader(bytes, 0, DEFAULT_PROGRAMS, "fromClient"),
    "message type 7 is not valid here",
  );
});

Deno.test("answerableHeader", () => {
  const rows: [string, FrameFields, boolean][] = [
    ["REMOTE CALL", { serial: 3 }, true],
    ["QEMU CALL", { program: Program.QEMU }, true],
    ["LXC CALL", { program: Program.LXC }, true],
    ["ADMIN CALL, answerable even where refused", { program: Program.ADMIN }, true],
    ["CALL_WITH_FDS", { type: MessageType.CALL_WITH_FDS }, true],
    ["CALL with a bad status can still be answered", { status: 3 }, true],
    ["REPLY", { type: MessageType.REPLY }, false],
    ["MESSAGE", { type: MessageType.MESSAGE }, false],
    ["STREAM", { type: MessageType.STREAM }, false],
    ["unknown program", { program: 0x12345678 }, false],
    ["keepalive: never a CALL anyone waits on", { program: Program.KEEPALIVE }, false],
    ["version 2", { version: 2 }, false],
  ];
  for (const [why, fields, answerable] of rows) {
    const bytes = frame(fields);
    const header = answerableHeader(bytes, 0);
    assert.deepEqual(header, answerable ? readHeader(bytes) : undefined, why);
  }
});

Deno.test("answerableHeader needs all 28 header bytes after the offset", () => {
  const bytes = new Uint8Array(40);
  bytes.set(frame({ serial: 8 }), 12);
  assert.equal(answerableHeader(bytes, 12)?.serial, 8); // exactly 28 bytes from 12
  assert.equal(answerableHeader(bytes.subarray(0, 39), 12), undefined);
  assert.equal(answerableHeader(bytes.subarray(0, 16), 12), undefined); // only a length word
});

Deno.test("resolveLimits fills in libvirt's defaults", () => {
  assert.deepEqual(resolveLimits(), {
    maxFrameBytes: 33554436,
    programs: DEFAULT_PROGRAMS,
    direction: "fromClient",
  });
  assert.ok(!DEFAULT_PROGRAMS.has(Program.ADMIN));
  assert.deepEqual(resolveLimits({ maxFrameBytes: 1024, direction: "fromServer" }), {
    maxFrameBytes: 1024,
    programs: DEFAULT_PROGRAMS,
    direction: "fromServer",
  });
});

Deno.test("FrameError carries its length and header", () => {
  const header = readHeader(frame({ serial: 4 }));
  const error = new FrameError("status 3 is not valid", 28, header);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "FrameError");
  assert.equal(error.message, "status 3 is not valid");
  assert.equal(error.length, 28);
  assert.equal(error.header, header);
  assert.equal(new FrameError("x", 3).header, undefined);
});
