import assert from "node:assert/strict";
import { AuditPolicy } from "../../src/audit/policy.ts";
import type { SessionObserver } from "../../src/proxy/observer.ts";
import { AuditTap } from "../../src/audit/tap.ts";
import { ErrorCode, MessageType, Program } from "../../src/wire/constants.ts";
import { encodeErrorReply } from "../../src/wire/error_reply.ts";
import { readHeader } from "../../src/wire/header.ts";
import { encodeOkReply } from "../../src/wire/message.ts";
import { readLibvirtdCapture } from "./_fixture.ts";
import { encodeMessage } from "./_xdr_encoder.ts";
import type { AuditRule } from "../../src/audit/policy.ts";

type AuditRecord = Record<string, unknown>;

function tapWith(rules: AuditRule[] = []) {
  const records: AuditRecord[] = [];
  const tap = new AuditTap({
    write(record) {
      records.push(JSON.parse(JSON.stringify(record)));
      return Promise.resolve();
    },
  }, { policy: new AuditPolicy(rules) });
  const observe = (client = 1): SessionObserver =>
    tap.observe(
      { listener: "/run/a.sock", client, uid: 0, gid: 0, pid: 42 },
      { name: "hv", uri: "test:///default", shared: false },
    );
  return {
    /** The records so far, after the tap's pending ones are flushed. */
    get records(): AuditRecord[] {
      tap.flush();
      return records;
    },
    observe,
  };
}

function call(procedure: string, serial: number, args: unknown): Uint8Array {
  return encodeMessage({
    program: "REMOTE",
    version: 1,
    procedure,
    type: "CALL",
    serial,
    status: "OK",
    bytes: 0,
    args,
  });
}

function reply(procedure: string, serial: number, ret: unknown): Uint8Array {
  return encodeMessage({
    program: "REMOTE",
    version: 1,
    procedure,
    type: "REPLY",
    serial,
    status: "OK",
    bytes: 0,
    ...(ret === undefined ? {} : { ret }),
  });
}

const DOM = { name: "vm-12", uuid: "0b8b3f5e-6f2a-4c8e-9d43-5a1b2c3d4e5f", id: 3 };

Deno.test("a call and its reply become one record, with the object and bodies per level", async () => {
  const t = tapWith();
  const session = t.observe();
  assert.equal(session.fromClient(call("DOMAIN_DESTROY", 5, { dom: DOM })), undefined);
  await new Promise((resolve) => setTimeout(resolve, 2));
  await session.toClient(reply("DOMAIN_DESTROY", 5, undefined));
  session.fromClient(call("DOMAIN_LOOKUP_BY_NAME", 6, { name: "vm-12" }));
  await new Promise((resolve) => setTimeout(resolve, 1));
  await session.toClient(reply("DOMAIN_LOOKUP_BY_NAME", 6, { dom: DOM }));
  const [connect, destroy, lookup] = t.records;
  assert.deepEqual(connect, {
    kind: "connect",
    listener: "/run/a.sock",
    client: 1,
    identity: { uid: 0, user: "root", gid: 0, group: "root", pid: 42 },
    upstream: "hv",
    uri: "test:///default",
    shared: false,
  });
  assert.equal(destroy.kind, "call");
  assert.equal(destroy.procedure, "DOMAIN_DESTROY");
  assert.equal(destroy.program, "REMOTE");
  assert.equal(destroy.class, "write");
  assert.equal(destroy.serial, 5);
  assert.equal(destroy.status, "ok");
  assert.equal(destroy.level, "request_response");
  assert.equal(destroy.by, undefined);
  assert.ok((destroy.latency_ms as number) >= 1, String(destroy.latency_ms));
  assert.equal(destroy.call_bytes, 28 + 4 + 8 + 16 + 4);
  assert.equal(destroy.reply_bytes, 28);
  assert.deepEqual(destroy.object, { kind: "domain", ...DOM });
  assert.deepEqual(destroy.args, { dom: DOM });
  // A read at metadata: no bodies, but the object, from the reply when the args lack it.
  assert.equal(lookup.level, "metadata");
  assert.equal(lookup.args, undefined);
  assert.equal(lookup.ret, undefined);
  assert.deepEqual(lookup.object, { kind: "domain", ...DOM });
});

Deno.test("a reply made in the same step as its call is marked by virtmux", () => {
  const t = tapWith([{ procedures: ["DOMAIN_UNDEFINE"], level: "none" }]);
  const session = t.observe();
  const refused = call("DOMAIN_UNDEFINE", 9, { dom: DOM });
  session.fromClient(refused);
  session.toClient(
    encodeErrorReply(readHeader(refused), "Procedure DOMAIN_UNDEFINE is denied", {
      code: ErrorCode.OPERATION_DENIED,
    }),
  );
  const denied = t.records.at(-1)!;
  assert.equal(denied.by, "virtmux");
  assert.equal(denied.status, "error");
  assert.equal(denied.level, "metadata", "recorded although its rule says none");
  assert.equal((denied.error as { code: number }).code, ErrorCode.OPERATION_DENIED);
});

Deno.test("a call at level none whose daemon reply fails is not recorded", async () => {
  const t = tapWith([{ level: "none" }]);
  const session = t.observe();
  const sent = call("DOMAIN_UNDEFINE", 9, { dom: DOM });
  session.fromClient(sent);
  await Promise.resolve();
  session.toClient(encodeErrorReply(readHeader(sent), "no domain", { code: 42 }));
  assert.deepEqual(t.records.map((r) => r.kind), ["connect"]);
});

Deno.test("a local answer is marked by virtmux; keepalive is not recorded", async () => {
  const t = tapWith();
  const session = t.observe();
  const authList = call("AUTH_LIST", 0, undefined);
  session.fromClient(authList);
  session.toClient(encodeOkReply(authList, new Uint8Array([0, 0, 0, 1, 0, 0, 0, 0])));
  const ping = new Uint8Array(28);
  new DataView(ping.buffer).setUint32(0, 28);
  new DataView(ping.buffer).setUint32(4, Program.KEEPALIVE);
  new DataView(ping.buffer).setUint32(12, 1);
  new DataView(ping.buffer).setUint32(16, MessageType.MESSAGE);
  session.fromClient(ping);
  session.toClient(ping);
  await Promise.resolve();
  assert.deepEqual(t.records.map((r) => [r.kind, r.procedure, r.by]), [
    ["connect", undefined, undefined],
    ["call", "AUTH_LIST", "virtmux"],
  ]);
});

Deno.test("calls left unanswered and the disconnect are written when the session ends", () => {
  const t = tapWith();
  const session = t.observe(7);
  session.fromClient(call("DOMAIN_SHUTDOWN", 3, { dom: DOM }));
  session.closed("client closed the connection");
  session.closed("twice");
  const [unanswered, disconnect] = t.records.slice(1);
  assert.equal(unanswered.status, "unanswered");
  assert.deepEqual(unanswered.args, { dom: DOM });
  assert.equal(disconnect.kind, "disconnect");
  assert.equal(disconnect.reason, "client closed the connection");
  assert.equal(disconnect.calls, 1);
  assert.equal(t.records.length, 3);
});

Deno.test("a replay of real libvirtd traffic: calls, events and the screenshot stream", async () => {
  const t = tapWith([{ level: "request_response" }]);
  const sessions = new Map<number, SessionObserver>();
  const capture = await readLibvirtdCapture();
  for (const item of capture) {
    let session = sessions.get(item.connection);
    if (session === undefined) sessions.set(item.connection, session = t.observe(item.connection));
    if (item.direction === "up") await session.fromClient(item.frame);
    else await session.toClient(item.frame);
  }
  for (const session of sessions.values()) session.closed("finished");
  const calls = t.records.filter((r) => r.kind === "call");
  const callFrames = capture.filter((f) =>
    f.direction === "up" &&
    new DataView(f.frame.buffer, f.frame.byteOffset).getInt32(16) === MessageType.CALL
  );
  assert.equal(calls.length, callFrames.length);
  assert.ok(calls.every((r) => r.status === "ok" || r.status === "error"));
  assert.ok(
    t.records.every((r) => r.decode_error === undefined && r.reply_decode_error === undefined),
  );
  assert.equal(t.records.filter((r) => r.kind === "connect").length, sessions.size);
  assert.equal(t.records.filter((r) => r.kind === "disconnect").length, sessions.size);
  const events = t.records.filter((r) => r.kind === "event");
  assert.ok(events.length > 0);
  assert.ok(events.every((r) => (r.object as { kind: string }).kind === "domain" && r.msg));
  const [stream] = t.records.filter((r) => r.kind === "stream");
  assert.equal(stream.procedure, "DOMAIN_SCREENSHOT");
  assert.equal(stream.status, "finished");
  assert.equal((stream.object as { name: string }).name, "test");
  const summary = stream.stream as { from_daemon: { bytes: number; chunks: number } };
  assert.ok(summary.from_daemon.bytes > 30000 && summary.from_daemon.chunks >= 1);
  const define = calls.find((r) => r.procedure === "DOMAIN_DEFINE_XML")!;
  assert.match((define.args as { xml: string }).xml, /<domain/);
});
