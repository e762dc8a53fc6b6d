import assert from "node:assert/strict";
import { decodeFrame } from "../../src/audit/decoder.ts";
import { MessageStatus, MessageType, Program } from "../../src/wire/constants.ts";
import { concat, frame, words } from "../_helpers/frames.ts";

const LOOKUP_BY_NAME = 23;
const GET_VERSION = 4;
const DOMAIN_DESTROY = 12;

/** An XDR string: length, bytes, padding. */
function xdrString(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(4 + ((bytes.length + 3) & ~3));
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

Deno.test("a call's args decode by field name", () => {
  const decoded = decodeFrame(
    frame({ procedure: LOOKUP_BY_NAME, serial: 9, body: xdrString("vm-12") }),
  );
  assert.deepEqual(decoded, {
    program: "REMOTE",
    version: 1,
    procedure: "DOMAIN_LOOKUP_BY_NAME",
    type: "CALL",
    serial: 9,
    status: "OK",
    bytes: 40,
    args: { name: "vm-12" },
  });
});

Deno.test("hypers are numbers while safe and exact decimal strings beyond", () => {
  const reply = (high: number, low: number) =>
    decodeFrame(frame({ procedure: GET_VERSION, type: MessageType.REPLY, body: words(high, low) }))
      .ret;
  assert.deepEqual(reply(0, 9000001), { hv_ver: 9000001 });
  assert.deepEqual(reply(0x001fffff, 0xffffffff), { hv_ver: Number.MAX_SAFE_INTEGER });
  assert.deepEqual(reply(0x00200000, 0), { hv_ver: "9007199254740992" });
  assert.deepEqual(reply(0xffffffff, 0xffffffff), { hv_ver: "18446744073709551615" });
});

Deno.test("an error reply decodes remote_error with its optional strings", () => {
  const body = concat(
    words(42, 12), // code VIR_ERR_NO_DOMAIN, domain
    words(1),
    xdrString("Domain not found: no domain with matching name 'x'"),
    words(2, 0, 0, 0, 0), // level; dom, str1, str2, str3 absent
    words(0xffffffff, 0, 0), // int1, int2, net absent
  );
  const decoded = decodeFrame(frame({
    procedure: LOOKUP_BY_NAME,
    type: MessageType.REPLY,
    status: MessageStatus.ERROR,
    body,
  }));
  assert.equal(decoded.decode_error, undefined);
  assert.deepEqual(decoded.error, {
    code: 42,
    domain: 12,
    message: "Domain not found: no domain with matching name 'x'",
    level: 2,
    dom: null,
    str1: null,
    str2: null,
    str3: null,
    int1: -1,
    int2: 0,
    net: null,
  });
});

Deno.test("unknown programs, procedures, types and statuses stay numbers with a decode_error", () => {
  const program = decodeFrame(frame({ program: 0x12345678 }));
  assert.equal(program.program, 0x12345678);
  assert.deepEqual(program.decode_error, { offset: 4, expected: "a known program", path: "" });
  const procedure = decodeFrame(frame({ procedure: 99999 }));
  assert.equal(procedure.procedure, 99999);
  assert.equal(procedure.decode_error?.offset, 12);
  const type = decodeFrame(frame({ procedure: DOMAIN_DESTROY, type: 9 }));
  assert.equal(type.type, 9);
  assert.equal(type.decode_error?.expected, "a known message type");
  const status = decodeFrame(frame({ procedure: GET_VERSION, type: MessageType.REPLY, status: 7 }));
  assert.equal(status.status, 7);
});

Deno.test("a truncated body keeps what decoded and names the field that did not fit", () => {
  // DOMAIN_DESTROY args: { dom: { name, uuid, id } }, cut inside the uuid.
  const body = concat(xdrString("web"), new Uint8Array(10));
  const decoded = decodeFrame(frame({ procedure: DOMAIN_DESTROY, body }));
  assert.deepEqual(decoded.args, { dom: { name: "web" } });
  assert.deepEqual(decoded.decode_error, {
    offset: 36,
    expected: "uuid: 16 bytes, 10 left",
    path: "args.dom.uuid",
  });
});

Deno.test("lengths beyond the declared maximum or the frame are refused before reading", () => {
  const tooLong = decodeFrame(frame({ procedure: LOOKUP_BY_NAME, body: words(4194305) }));
  assert.equal(tooLong.decode_error?.expected, "string of at most 4194304, found length 4194305");
  assert.equal(tooLong.decode_error?.path, "args.name");
  const pastEnd = decodeFrame(frame({ procedure: LOOKUP_BY_NAME, body: words(100, 0) }));
  assert.equal(pastEnd.decode_error?.expected, "string of length 100: 100 bytes, 4 left");
});

Deno.test("trailing bytes, a wrong length word and a short frame are decode errors", () => {
  const trailing = decodeFrame(frame({ procedure: GET_VERSION, body: words(1) }));
  assert.equal(trailing.decode_error?.expected, "the end of the body (4 bytes more)");
  const length = decodeFrame(frame({ procedure: DOMAIN_DESTROY + 1000, length: 99 }));
  assert.equal(length.decode_error?.offset, 12);
  const lengthOnly = decodeFrame(frame({ procedure: 2, length: 99 }));
  assert.deepEqual(lengthOnly.decode_error, {
    offset: 0,
    expected: "a length word of 28, the frame's size",
    path: "",
  });
  const short = decodeFrame(new Uint8Array(10));
  assert.equal(short.program, null);
  assert.equal(short.decode_error?.expected, "a frame of at least 28 bytes");
});

Deno.test("*_WITH_FDS messages carry their fd count before the body", () => {
  const decoded = decodeFrame(frame({
    procedure: LOOKUP_BY_NAME,
    type: MessageType.CALL_WITH_FDS,
    body: concat(words(2), xdrString("vm")),
  }));
  assert.equal(decoded.fds, 2);
  assert.deepEqual(decoded.args, { name: "vm" });
  const tooMany = decodeFrame(frame({ type: MessageType.CALL_WITH_FDS, body: words(33) }));
  assert.equal(tooMany.decode_error?.expected, "at most 32 fds, found 33");
});

Deno.test("stream messages: data as a byte count, holes decoded, a client abort without error", () => {
  const stream = (status: number, body: Uint8Array, type: number = MessageType.STREAM) =>
    decodeFrame(frame({ procedure: 211, type, status, body }));
  assert.equal(stream(MessageStatus.CONTINUE, new Uint8Array(1000)).data, 1000);
  const abort = stream(MessageStatus.ERROR, new Uint8Array(0));
  assert.equal(abort.error, undefined);
  assert.equal(abort.decode_error, undefined);
  assert.deepEqual(
    stream(MessageStatus.CONTINUE, words(1, 0, 0), MessageType.STREAM_HOLE).hole,
    { length: 4294967296, flags: 0 },
  );
});

Deno.test("keepalive, admin and qemu programs decode by name", () => {
  const ping = decodeFrame(
    frame({ program: Program.KEEPALIVE, procedure: 1, type: MessageType.MESSAGE }),
  );
  assert.equal(ping.procedure, "PING");
  const admin = decodeFrame(frame({ program: Program.ADMIN, procedure: 1, body: words(0) }));
  assert.deepEqual([admin.program, admin.procedure, admin.args], ["ADMIN", "CONNECT_OPEN", {
    flags: 0,
  }]);
  const qemu = decodeFrame(frame({
    program: Program.QEMU,
    procedure: 1,
    body: concat(xdrString("vm"), new Uint8Array(16), words(3), xdrString("{}"), words(0)),
  }));
  assert.equal(qemu.procedure, "DOMAIN_MONITOR_COMMAND");
  assert.deepEqual((qemu.args as { cmd: string }).cmd, "{}");
});

Deno.test("enums decode by name, and by number when no member has the value", () => {
  // AUTH_LIST reply: remote_auth_type types<REMOTE_AUTH_TYPE_LIST_MAX>.
  const decoded = decodeFrame(
    frame({ procedure: 66, type: MessageType.REPLY, body: words(2, 0, 7) }),
  );
  assert.deepEqual(decoded.ret, { types: ["REMOTE_AUTH_NONE", 7] });
});
