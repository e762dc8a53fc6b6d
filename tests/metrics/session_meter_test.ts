import assert from "node:assert/strict";
import {
  errorKindOf,
  SAMPLE_EVERY,
  SessionMeter,
  TIME_FIRST_CALLS,
} from "../../src/metrics/session_meter.ts";
import { ErrorKindIndex, UpstreamMeter } from "../../src/metrics/upstream_meter.ts";
import {
  ErrorCode,
  ErrorDomain,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  Program,
  RemoteProc,
} from "../../src/wire/constants.ts";
import { encodeErrorReply } from "../../src/wire/error_reply.ts";
import { readHeader } from "../../src/wire/header.ts";
import { frame } from "../_helpers/frames.ts";

function setup() {
  const meter = new UpstreamMeter("hv1");
  const closed: string[] = [];
  const session = new SessionMeter(meter, (_, reason) => closed.push(reason));
  return { meter, session, closed };
}

Deno.test("a call and its reply count frames, bytes, the call and its latency", () => {
  const { meter, session } = setup();
  const call = frame({ procedure: RemoteProc.CONNECT_OPEN, serial: 7, body: new Uint8Array(12) });
  assert.equal(session.fromClient(call), undefined);
  const reply = frame({ procedure: RemoteProc.CONNECT_OPEN, serial: 7, type: MessageType.REPLY });
  assert.equal(session.toClient(reply), undefined);
  assert.equal(meter.frames[MessageType.CALL], 1);
  assert.equal(meter.frames[8 + MessageType.REPLY], 1);
  assert.deepEqual([...meter.bytes], [40, 28]);
  assert.equal(meter.calls(Program.REMOTE, RemoteProc.CONNECT_OPEN, "ok"), 1);
  assert.equal(session.calls, 1);
  assert.equal(session.replies, 1);
  const out: string[] = [];
  meter.render("latency", out);
  assert.ok(
    out.some((l) => l.startsWith("virtmux_call_duration_seconds_count") && l.endsWith(" 1")),
  );
});

Deno.test("a reply to an unknown serial is counted without latency", () => {
  const { meter, session } = setup();
  session.toClient(frame({ procedure: 3, serial: 9, type: MessageType.REPLY }));
  assert.equal(meter.calls(Program.REMOTE, 3, "ok"), 1);
  const out: string[] = [];
  meter.render("latency", out);
  assert.deepEqual(out, []);
});

Deno.test("events count, keepalive messages do not", () => {
  const { meter, session } = setup();
  session.toClient(frame({ procedure: 318, type: MessageType.MESSAGE }));
  session.toClient(
    frame({ program: Program.KEEPALIVE, procedure: KeepaliveProc.PING, type: MessageType.MESSAGE }),
  );
  assert.equal(meter.events, 1);
  assert.equal(meter.frames[8 + MessageType.MESSAGE], 2);
});

Deno.test("the proxy's own OPERATION_DENIED in VIR_FROM_RPC counts as a policy denial", () => {
  const { meter, session } = setup();
  const call = frame({ procedure: 59, serial: 1 });
  session.fromClient(call);
  session.toClient(
    encodeErrorReply(readHeader(call), "denied", {
      code: ErrorCode.OPERATION_DENIED,
      domain: ErrorDomain.RPC,
    }),
  );
  const daemonDenial = encodeErrorReply(readHeader(frame({ serial: 2 })), "read only", {
    code: ErrorCode.OPERATION_DENIED,
    domain: 10,
  });
  session.toClient(daemonDenial);
  assert.equal(meter.errors[ErrorKindIndex.policy_denied], 1);
  assert.equal(meter.calls(Program.REMOTE, 59, "error"), 1);
  assert.equal(frame({ status: MessageStatus.ERROR }).length, 28);
});

Deno.test("the close reason names the error kind", () => {
  const { meter, session, closed } = setup();
  session.closed("invalid frame: length 99999999 exceeds the limit of 33554436 bytes");
  assert.deepEqual(closed, ["invalid frame: length 99999999 exceeds the limit of 33554436 bytes"]);
  assert.equal(meter.errors[ErrorKindIndex.oversize], 1);
  const table: [string, string | undefined][] = [
    ["invalid frame: program 0x12345678 is not allowed", "bad_frame"],
    ["did not read its replies (9000000 bytes waiting)", "budget"],
    ["upstream closed the connection", "upstream_lost"],
    ["upstream unreachable", undefined],
    ["client closed the connection", undefined],
    ["finished", undefined],
  ];
  for (const [reason, kind] of table) assert.equal(errorKindOf(reason), kind, reason);
});

Deno.test("a session's first 16 calls are timed, then one in 16; all are counted", () => {
  const { meter, session } = setup();
  for (let serial = 0; serial < TIME_FIRST_CALLS + 4 * SAMPLE_EVERY; serial++) {
    session.fromClient(frame({ procedure: 3, serial }));
    session.toClient(frame({ procedure: 3, serial, type: MessageType.REPLY }));
  }
  assert.equal(meter.calls(Program.REMOTE, 3, "ok"), 80);
  const out: string[] = [];
  meter.render("latency", out);
  assert.ok(
    out.includes(
      'virtmux_call_duration_seconds_count{upstream="hv1",program="remote",procedure="CONNECT_GET_TYPE"} 20',
    ),
    out.join("\n"),
  );
});
