/**
 * The decoder on frames captured from a real libvirtd 9.0 (tests/audit/capture_frames.ts made
 * tests/audit/fixtures/libvirtd.frames): every frame decodes without error, re-encodes to the same
 * bytes, and carries the values virsh and virt-admin showed.
 */

import assert from "node:assert/strict";
import { type DecodedMessage, decodeFrame } from "../../src/audit/decoder.ts";
import { objectOf } from "../../src/audit/decoder_object.ts";
import { StreamSummary } from "../../src/audit/decoder_stream.ts";
import { type CapturedFrame, readLibvirtdCapture } from "./_fixture.ts";
import { encodeMessage } from "./_xdr_encoder.ts";

const CAPTURE = await readLibvirtdCapture();
const DECODED = CAPTURE.map((item) => ({ ...item, message: decodeFrame(item.frame) }));

/** The decoded frames of one procedure, type and status. */
function find(procedure: string, type: string, status = "OK") {
  return DECODED.filter(({ message }) =>
    message.procedure === procedure && message.type === type && message.status === status
  );
}

function one(procedure: string, type: string, status = "OK"): DecodedMessage {
  const found = find(procedure, type, status);
  assert.ok(found.length > 0, `no ${procedure} ${type} ${status} in the capture`);
  return found[0].message;
}

Deno.test("every captured frame decodes without a decode_error and is JSON-safe", () => {
  assert.ok(CAPTURE.length > 500);
  for (const { message, connection } of DECODED) {
    assert.equal(
      message.decode_error,
      undefined,
      `connection ${connection}: ${JSON.stringify(message)}`,
    );
    assert.deepEqual(JSON.parse(JSON.stringify(message)), message);
  }
});

Deno.test("every captured frame re-encodes to its own bytes (stream data aside)", () => {
  let streamData = 0;
  for (const { frame, message } of DECODED) {
    const again = encodeMessage(message);
    if (message.data) {
      streamData++;
      assert.deepEqual(again.subarray(0, 28), frame.subarray(0, 28));
      assert.equal(again.length, frame.length);
    } else {
      assert.deepEqual(again, frame, JSON.stringify(message));
    }
  }
  assert.equal(streamData, 1);
});

Deno.test("the capture spans the five programs and the message kinds", () => {
  const programs = new Set(DECODED.map(({ message }) => message.program));
  assert.deepEqual([...programs].sort(), ["ADMIN", "KEEPALIVE", "LXC", "QEMU", "REMOTE"]);
  const kinds = new Set(DECODED.map(({ message }) => `${message.type}/${message.status}`));
  for (
    const kind of [
      "CALL/OK",
      "REPLY/OK",
      "REPLY/ERROR",
      "MESSAGE/OK",
      "STREAM/CONTINUE",
      "STREAM/OK",
    ]
  ) {
    assert.ok(kinds.has(kind), kind);
  }
});

Deno.test("open, lookup and XML carry what virsh sent and got", () => {
  assert.deepEqual(one("CONNECT_OPEN", "CALL").args, { name: "test:///default", flags: 0 });
  assert.deepEqual(one("DOMAIN_LOOKUP_BY_NAME", "REPLY").ret, {
    dom: { name: "test", uuid: "6695eb01-f6a4-8304-79aa-97f2502e193f", id: 1 },
  });
  const xml = (one("DOMAIN_GET_XML_DESC", "REPLY").ret as { xml: string }).xml;
  assert.match(xml, /<name>test<\/name>/);
  assert.match(xml, /<uuid>6695eb01-f6a4-8304-79aa-97f2502e193f<\/uuid>/);
  const defined = one("DOMAIN_DEFINE_XML", "CALL").args as { xml: string };
  assert.match(defined.xml, /<name>audit-vm<\/name>/);
  assert.deepEqual(one("DOMAIN_DEFINE_XML", "REPLY").ret, {
    dom: { name: "audit-vm", uuid: "0b8b3f5e-6f2a-4c8e-9d43-5a1b2c3d4e5f", id: -1 },
  });
  const list = one("CONNECT_LIST_ALL_DOMAINS", "REPLY").ret as {
    domains: { name: string }[];
    ret: number;
  };
  assert.deepEqual(list.domains.map((domain) => domain.name), ["test"]);
  assert.match(
    (one("CONNECT_GET_CAPABILITIES", "REPLY").ret as { capabilities: string }).capabilities,
    /<capabilities>/,
  );
});

Deno.test("error replies carry libvirt's message text", () => {
  const lookup = one("DOMAIN_LOOKUP_BY_NAME", "REPLY", "ERROR").error as Record<string, unknown>;
  assert.equal(lookup.code, 42); // VIR_ERR_NO_DOMAIN
  assert.match(lookup.message as string, /^Domain not found/);
  const qemu = one("DOMAIN_MONITOR_COMMAND", "REPLY", "ERROR");
  assert.equal(qemu.program, "QEMU");
  assert.match(
    (qemu.error as { message: string }).message,
    /not supported by the connection driver: virDomainQemuMonitorCommand/,
  );
  const admin = one("CONNECT_LOOKUP_SERVER", "REPLY", "ERROR");
  assert.equal(admin.program, "ADMIN");
  assert.equal(
    (admin.error as { message: string }).message,
    "Server not found: No server named 'nosuch'",
  );
});

Deno.test("events, typed parameters, hypers and char arrays decode by name", () => {
  const events = find("DOMAIN_EVENT_CALLBACK_LIFECYCLE", "MESSAGE").map(({ message }) =>
    message.msg as { msg: { dom: { name: string }; event: number } }
  );
  assert.deepEqual(events.map((event) => event.msg.event), [0, 2, 3, 4, 5, 1]);
  assert.ok(events.every((event) => event.msg.dom.name === "audit-vm"));
  const stats = one("CONNECT_GET_ALL_DOMAIN_STATS", "REPLY").ret as {
    retStats: { params: { field: string; value: Record<string, unknown> }[] }[];
  };
  assert.deepEqual(stats.retStats[0].params[0], { field: "state.state", value: { type: 1, i: 1 } });
  const vcpus = one("DOMAIN_GET_VCPUS", "REPLY").ret as { info: { cpu_time: number }[] };
  assert.ok(Number.isSafeInteger(vcpus.info[0].cpu_time) && vcpus.info[0].cpu_time > 2 ** 32);
  assert.deepEqual(one("DOMAIN_GET_SECURITY_LABEL", "REPLY").ret, {
    label: "libvirt-test",
    enforcing: 1,
  });
  const pool = one("SERVER_GET_THREADPOOL_PARAMETERS", "REPLY").ret as {
    params: { field: string }[];
  };
  assert.ok(pool.params.some((param) => param.field === "maxWorkers"));
  assert.ok(find("PING", "MESSAGE").length > 0 || find("PONG", "MESSAGE").length > 0);
});

Deno.test("the screenshot stream summarises to bytes, chunks and a finished outcome", () => {
  const call = one("DOMAIN_SCREENSHOT", "CALL");
  const frames: CapturedFrame[] = CAPTURE.filter((_, i) => {
    const message = DECODED[i].message;
    return message.procedure === "DOMAIN_SCREENSHOT" && message.serial === call.serial &&
      (message.type === "STREAM" || message.type === "STREAM_HOLE");
  });
  const summary = new StreamSummary();
  for (const item of frames) summary.add(item.frame, item.direction === "up");
  assert.equal(summary.done, true);
  const record = summary.toJSON();
  assert.equal(record.outcome, "finished");
  assert.deepEqual(record.from_client, {
    bytes: 0,
    chunks: 0,
    holes: 0,
    hole_bytes: 0,
    eof: false,
  });
  assert.equal(record.from_daemon.chunks, 1);
  assert.equal(record.from_daemon.eof, true);
  assert.ok(record.from_daemon.bytes > 30000);
  assert.equal(
    one("DOMAIN_SCREENSHOT", "REPLY").ret &&
      (one("DOMAIN_SCREENSHOT", "REPLY").ret as { mime: string }).mime,
    "image/png",
  );
});

Deno.test("objectOf finds the domain a call acts on, in its args or its reply", () => {
  const destroy = one("DOMAIN_DESTROY", "CALL");
  assert.deepEqual(objectOf(0x20008086, 12, destroy.args), {
    kind: "domain",
    name: "audit-vm",
    uuid: "0b8b3f5e-6f2a-4c8e-9d43-5a1b2c3d4e5f",
    id: 2,
  });
  const lookup = find("DOMAIN_LOOKUP_BY_NAME", "CALL")[0].message;
  const reply = one("DOMAIN_LOOKUP_BY_NAME", "REPLY");
  assert.equal(objectOf(0x20008086, 23, lookup.args, reply.ret)?.name, "test");
  assert.equal(objectOf(0x20008086, 23, lookup.args), undefined);
  const threadpool = one("SERVER_GET_THREADPOOL_PARAMETERS", "CALL");
  assert.deepEqual(objectOf(0x06900690, 6, threadpool.args), { kind: "server", name: "libvirtd" });
  assert.equal(objectOf(0x20008086, 1, one("CONNECT_OPEN", "CALL").args), undefined);
});
