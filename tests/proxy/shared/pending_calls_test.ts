import assert from "node:assert/strict";
import {
  type PendingCall,
  PendingCalls,
  pendingHeader,
} from "../../../src/proxy/shared/pending_calls.ts";
import type { PoolClient } from "../../../src/proxy/shared/pool_client.ts";
import type { Registration } from "../../../src/proxy/shared/registrations.ts";
import { StreamRoutes } from "../../../src/proxy/shared/stream_routes.ts";
import type { UpstreamConnection } from "../../../src/proxy/shared/upstream_connection.ts";
import { MessageType, Program, PROGRAM_VERSION } from "../../../src/wire/constants.ts";

const PLAIN = 157;
const SCREENSHOT = 211;
const REGISTER_ANY = 316;

/**
 * What PendingCalls uses of a connection: allocateSerial, here the lowest serial from 1 that the
 * predicate says is free (the real one continues from its last serial).
 */
function connection(): UpstreamConnection {
  return {
    closed: false,
    allocateSerial(inUse: (serial: number) => boolean) {
      let serial = 1;
      while (inUse(serial)) serial++;
      return serial;
    },
    write: () => Promise.resolve(),
  } as unknown as UpstreamConnection;
}

function client(id: string): PoolClient {
  return { id, deliver: () => undefined, lost: () => {} };
}

function pending(
  owner: PoolClient | undefined,
  clientSerial: number,
  extra: Partial<PendingCall> = {},
) {
  return {
    client: owner,
    clientSerial,
    program: Program.REMOTE,
    procedure: PLAIN,
    stream: undefined,
    registration: undefined,
    leaving: undefined,
    ...extra,
  } satisfies PendingCall;
}

function setup() {
  const streams = new StreamRoutes();
  const calls = new PendingCalls(streams);
  const c1 = connection();
  calls.opened(c1);
  return { streams, calls, c1 };
}

Deno.test("a reply's serial finds its call once", () => {
  const t = setup();
  const a = client("a");
  const call = pending(a, 7);
  t.calls.add(t.c1, 1, call);
  assert.equal(t.calls.take(t.c1, 2), undefined);
  assert.equal(t.calls.take(t.c1, 1), call);
  assert.equal(t.calls.take(t.c1, 1), undefined, "taken once");
});

Deno.test("a tracked connection is alive until lost; calls on an untracked one are ignored", () => {
  const t = setup();
  const c2 = connection();
  assert.equal(t.calls.tracks(t.c1), true);
  assert.equal(t.calls.tracks(c2), false);
  t.calls.add(c2, 1, pending(client("a"), 1));
  assert.equal(t.calls.take(c2, 1), undefined);
  t.calls.add(t.c1, 3, pending(client("a"), 9));
  const lost = t.calls.lost(t.c1);
  assert.deepEqual([...lost!.keys()], [3]);
  assert.equal(t.calls.tracks(t.c1), false);
  assert.equal(t.calls.lost(t.c1), undefined, "lost once");
});

Deno.test("allocate skips serials of pending calls and of streams on that connection", () => {
  const t = setup();
  const a = client("a");
  t.calls.add(t.c1, 1, pending(a, 1));
  t.calls.add(t.c1, 2, pending(a, 2));
  t.streams.open(a, { program: Program.REMOTE, procedure: SCREENSHOT, clientSerial: 3 }, t.c1, 3);
  assert.equal(t.calls.allocate(t.c1), 4);
  t.calls.take(t.c1, 1);
  assert.equal(t.calls.allocate(t.c1), 1, "free again once answered");
  const c2 = connection();
  t.calls.opened(c2);
  assert.equal(t.calls.allocate(c2), 1, "another connection's serials are its own");
});

Deno.test("a client that leaves gets its unanswered calls back, and their replies are dropped", () => {
  const t = setup();
  const a = client("a");
  const b = client("b");
  const mine = pending(a, 7, { procedure: 200 });
  t.calls.add(t.c1, 1, mine);
  t.calls.add(t.c1, 2, pending(b, 7));
  const headers = t.calls.forget(a);
  assert.deepEqual(headers, [{
    length: 0,
    program: Program.REMOTE,
    version: PROGRAM_VERSION,
    procedure: 200,
    type: MessageType.CALL,
    serial: 7,
    status: 0,
  }]);
  assert.equal(mine.client, undefined, "its reply goes nowhere");
  assert.equal(t.calls.take(t.c1, 1), mine, "but the serial stays taken until the reply");
  assert.equal(t.calls.take(t.c1, 2)?.client, b);
});

Deno.test("a client waiting on another's registration call is answered and unqueued", () => {
  const t = setup();
  const a = client("a");
  const b = client("b");
  const registration = { waiting: [{ client: b, serial: 11 }, { client: a, serial: 12 }] };
  t.calls.add(
    t.c1,
    1,
    pending(a, 4, {
      procedure: REGISTER_ANY,
      registration: registration as unknown as Registration,
    }),
  );
  const headers = t.calls.forget(b);
  assert.deepEqual(headers.map((h) => [h.procedure, h.serial]), [[REGISTER_ANY, 11]]);
  assert.deepEqual(registration.waiting, [{ client: a, serial: 12 }]);
  assert.deepEqual(
    t.calls.forget(a).map((h) => h.serial).sort((x, y) => x - y),
    [4, 12],
    "its own call and its wait",
  );
  assert.deepEqual(registration.waiting, []);
});

Deno.test("pendingHeader answers the serial asked for with the call's program and procedure", () => {
  const header = pendingHeader(pending(undefined, 1, { program: Program.QEMU, procedure: 3 }), 99);
  assert.deepEqual([header.program, header.procedure, header.serial, header.type], [
    Program.QEMU,
    3,
    99,
    MessageType.CALL,
  ]);
});
