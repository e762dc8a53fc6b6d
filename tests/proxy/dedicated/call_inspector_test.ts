import assert from "node:assert/strict";
import { CallInspector } from "../../../src/proxy/dedicated/call_inspector.ts";
import { ClientClock } from "../../../src/proxy/client_clock.ts";
import { InflightCalls } from "../../../src/proxy/inflight.ts";
import { Policy } from "../../../src/proxy/policy.ts";
import { ErrorCode, MessageStatus, MessageType, Program } from "../../../src/wire/constants.ts";
import { decodeOpenArgs } from "../../../src/wire/open_args.ts";
import { concat, frame, words } from "../../_helpers/frames.ts";

const LISTENER = "/run/virtmux/test.sock";
const DOMAIN_DESTROY = 12;
const PLAIN = 157;
const OPEN_ARGS = (flags: number) =>
  concat(words(1, 15), new TextEncoder().encode("test:///default\0"), words(flags));

function setup(options: { readonly?: boolean; deny?: number[] } = {}) {
  const inflight = new InflightCalls(32);
  const clock = new ClientClock();
  const policy = options.deny === undefined ? undefined : new Policy({
    listener: LISTENER,
    deny: options.deny.map((procedure) => ({ program: Program.REMOTE, procedure })),
    allow: [],
  });
  const inspector = new CallInspector({
    readonly: options.readonly ?? false,
    policy,
    inflight,
    clock,
  });
  return { inspector, inflight, clock };
}

Deno.test("an ordinary call is forwarded and recorded as outstanding", () => {
  const t = setup();
  assert.equal(t.inspector.inspect(frame({ procedure: PLAIN, serial: 4 })), undefined);
  assert.deepEqual(t.inflight.takeAll().map((h) => [h.program, h.procedure, h.serial]), [
    [Program.REMOTE, PLAIN, 4],
  ]);
});

Deno.test("replies, events, stream data and keepalives pass without being recorded", () => {
  const t = setup();
  for (
    const type of [
      MessageType.REPLY,
      MessageType.MESSAGE,
      MessageType.STREAM,
      MessageType.STREAM_HOLE,
    ]
  ) {
    assert.equal(t.inspector.inspect(frame({ type, procedure: PLAIN, serial: 1 })), undefined);
  }
  const ping = frame({ program: Program.KEEPALIVE, procedure: 1, type: MessageType.MESSAGE });
  assert.equal(t.inspector.inspect(ping), undefined);
  assert.equal(t.inflight.size, 0);
});

Deno.test("a call the policy denies is refused with VIR_ERR_OPERATION_DENIED and not recorded", () => {
  const t = setup({ deny: [DOMAIN_DESTROY] });
  assert.deepEqual(t.inspector.inspect(frame({ procedure: DOMAIN_DESTROY, serial: 2 })), {
    message: `Procedure DOMAIN_DESTROY is denied by the policy of listener "${LISTENER}"`,
    code: ErrorCode.OPERATION_DENIED,
  });
  assert.equal(t.inflight.size, 0);
  assert.equal(t.inspector.inspect(frame({ procedure: PLAIN, serial: 3 })), undefined);
});

Deno.test("while draining, new calls are refused but stream data still flows", () => {
  const t = setup();
  t.inspector.draining = true;
  assert.deepEqual(t.inspector.inspect(frame({ procedure: PLAIN, serial: 2 })), {
    message: "virtmux is shutting down",
    code: ErrorCode.RPC,
  });
  const data = frame({ type: MessageType.STREAM, status: MessageStatus.CONTINUE, serial: 1 });
  assert.equal(t.inspector.inspect(data), undefined);
  assert.equal(t.inflight.size, 0);
});

Deno.test("CALL_WITH_FDS is refused with VIR_ERR_NO_SUPPORT", () => {
  const t = setup();
  assert.deepEqual(
    t.inspector.inspect(frame({ type: MessageType.CALL_WITH_FDS, procedure: 10, serial: 2 })),
    {
      message: "Passing file descriptors is not supported through virtmux",
      code: ErrorCode.NO_SUPPORT,
    },
  );
  assert.equal(t.inflight.size, 0);
});

Deno.test("a read-only session sets VIR_CONNECT_RO in CONNECT_OPEN, keeping the other flags", () => {
  const t = setup({ readonly: true });
  const open = frame({ procedure: 1, serial: 1, body: OPEN_ARGS(2) });
  assert.equal(t.inspector.inspect(open), undefined);
  assert.deepEqual(decodeOpenArgs(open), { name: "test:///default", flags: 3 });
  const other = frame({ procedure: PLAIN, serial: 2, body: words(2) });
  t.inspector.inspect(other);
  assert.deepEqual(other, frame({ procedure: PLAIN, serial: 2, body: words(2) }), "untouched");
});

Deno.test("a read-write session forwards CONNECT_OPEN unchanged", () => {
  const t = setup();
  const open = frame({ procedure: 1, serial: 1, body: OPEN_ARGS(0) });
  t.inspector.inspect(open);
  assert.equal(decodeOpenArgs(open).flags, 0);
});

Deno.test("CONNECT_OPEN counts for open_timeout, ADMIN's CONNECT_OPEN too", () => {
  for (const program of [Program.REMOTE, Program.ADMIN]) {
    const t = setup({ readonly: true });
    assert.equal(t.clock.opened, false);
    const open = frame({ program, procedure: 1, serial: 1, body: OPEN_ARGS(0) });
    t.inspector.inspect(open);
    assert.equal(t.clock.opened, true);
    if (program === Program.ADMIN) {
      assert.deepEqual(open.subarray(-4), words(0), "ADMIN's open is not patched read-only");
    }
  }
});

Deno.test({
  name: "procedure 1 of QEMU or LXC is not an open and does not stop open_timeout",
  fn() {
    for (const program of [Program.QEMU, Program.LXC]) {
      const t = setup();
      t.inspector.inspect(frame({ program, procedure: 1, serial: 1, body: words(0) }));
      assert.equal(t.clock.opened, false, `program ${program.toString(16)} procedure 1`);
    }
  },
});

Deno.test("CONNECT_CLOSE marks the client as closing, so the daemon's close is expected", () => {
  const t = setup();
  assert.equal(t.inspector.clientClosing, false);
  t.inspector.inspect(frame({ procedure: 2, serial: 9 }));
  assert.equal(t.inspector.clientClosing, true);
  assert.equal(t.inflight.size, 1, "still answered by the daemon");
});

Deno.test("once the upstream is gone, calls are refused with its message and stream data is dropped", () => {
  const t = setup();
  t.inspector.upstreamGone = 'Upstream "hv1" closed the connection';
  const refusal = { message: 'Upstream "hv1" closed the connection', code: ErrorCode.RPC };
  assert.deepEqual(t.inspector.inspect(frame({ procedure: PLAIN, serial: 2 })), refusal);
  assert.deepEqual(
    t.inspector.inspect(frame({ type: MessageType.CALL_WITH_FDS, procedure: PLAIN, serial: 3 })),
    refusal,
  );
  assert.equal(t.inspector.inspect(frame({ type: MessageType.STREAM, serial: 1 })), "drop");
  assert.equal(t.inspector.inspect(frame({ type: MessageType.STREAM_HOLE, serial: 1 })), "drop");
  assert.equal(t.inflight.size, 0);
});
