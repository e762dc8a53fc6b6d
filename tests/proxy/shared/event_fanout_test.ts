import assert from "node:assert/strict";
import { Logger } from "../../../src/log/logger.ts";
import { EventFanout } from "../../../src/proxy/shared/event_fanout.ts";
import type { PoolClient } from "../../../src/proxy/shared/pool_client.ts";
import {
  classifyRegistrationCall,
  type Registration,
} from "../../../src/proxy/shared/registrations.ts";
import type { UpstreamConnection } from "../../../src/proxy/shared/upstream_connection.ts";
import { ErrorCode, MessageStatus, MessageType, Program } from "../../../src/wire/constants.ts";
import { decodeErrorReply } from "../../../src/wire/error_reply.ts";
import { readHeader, readU32 } from "../../../src/wire/header.ts";
import { frame, words } from "../../_helpers/frames.ts";
import { settledWithin } from "../../_helpers/wait.ts";

const REGISTER_ANY = 316;
const DEREGISTER_ANY = 317;
const LIFECYCLE_EVENT = 318;
/** REMOTE_PROC_DOMAIN_EVENT_LIFECYCLE, the legacy lifecycle event (VIR_DOMAIN_EVENT_ID 0). */
const LEGACY_LIFECYCLE_EVENT = 107;

class FakeClient implements PoolClient {
  readonly frames: Uint8Array[] = [];
  constructor(readonly id: string) {}
  deliver(bytes: Uint8Array): undefined {
    this.frames.push(bytes.slice());
    return undefined;
  }
  lost(): void {}
}

interface Forwarded {
  client: PoolClient;
  serial: number;
  registration: Registration | undefined;
  leaving: Registration | undefined;
  pinnedTo: UpstreamConnection | undefined;
}

interface OwnCall {
  procedure: number;
  argument: number | undefined;
  leaving: Registration;
}

/** A fan-out whose forwarded calls land on `connection`; own calls and forwards are recorded. */
function setup() {
  const connection = { closed: false } as unknown as UpstreamConnection;
  const forwarded: Forwarded[] = [];
  const own: OwnCall[] = [];
  const detached = new Set<PoolClient>();
  const fanout = new EventFanout({
    attached: (client) => !detached.has(client),
    forward: (client, bytes, registration, leaving, pinnedTo) => {
      if (registration !== undefined) registration.connection = connection;
      forwarded.push({ client, serial: readHeader(bytes).serial, registration, leaving, pinnedTo });
      return undefined;
    },
    callOwn: (_connection, _program, procedure, body, _registration, leaving) =>
      own.push({
        procedure,
        argument: body === undefined ? undefined : readU32(body, 0),
        leaving: leaving!,
      }),
    lose: () => {},
    logger: new Logger({ sink: () => {}, level: "debug" }),
  });
  return { fanout, connection, forwarded, own, detached };
}

function registerFrame(serial: number, args: number[] = [0, 0]): Uint8Array {
  return frame({ procedure: REGISTER_ANY, serial, body: words(...args) });
}

function deregisterFrame(serial: number, callbackId: number): Uint8Array {
  return frame({ procedure: DEREGISTER_ANY, serial, body: words(callbackId) });
}

function submit(t: ReturnType<typeof setup>, client: PoolClient, bytes: Uint8Array) {
  return t.fanout.submit(client, bytes, classifyRegistrationCall(bytes)!);
}

/** The daemon's OK reply to the registering call `serial`, with `callbackId`. */
function okReply(serial: number, callbackId: number): Uint8Array {
  return frame({
    procedure: REGISTER_ANY,
    type: MessageType.REPLY,
    serial,
    body: words(callbackId),
  });
}

function event(callbackId: number): Uint8Array {
  return frame({
    procedure: LIFECYCLE_EVENT,
    type: MessageType.MESSAGE,
    serial: 1,
    body: words(callbackId, 5),
  });
}

/** Registers `client` as the first user and confirms with `callbackId`. */
async function registered(t: ReturnType<typeof setup>, client: FakeClient, callbackId: number) {
  await submit(t, client, registerFrame(3));
  const registration = t.forwarded.at(-1)!.registration!;
  t.fanout.replied(registration, true, okReply(3, callbackId), client, []);
  return registration;
}

Deno.test("the first registration of some events is forwarded upstream", async () => {
  const t = setup();
  const a = new FakeClient("a");
  await submit(t, a, registerFrame(3));
  assert.equal(t.forwarded.length, 1);
  const [call] = t.forwarded;
  assert.equal(call.client, a);
  assert.equal(call.leaving, undefined);
  assert.equal(call.pinnedTo, undefined, "any connection may take it");
  assert.ok(call.registration);
  assert.equal(t.fanout.registrations.byKey(call.registration.key), call.registration);
  t.fanout.replied(call.registration, true, okReply(3, 42), a, []);
  assert.equal(call.registration.confirmed, true);
  assert.deepEqual([...call.registration.clients], [a]);
});

Deno.test("a second client asking meanwhile is answered with a copy of the daemon's reply", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  await submit(t, a, registerFrame(3));
  await submit(t, b, registerFrame(8));
  assert.equal(t.forwarded.length, 1, "registered upstream once");
  assert.deepEqual(b.frames, [], "b waits for the daemon's answer");
  const deliveries: (Promise<void> | undefined)[] = [];
  const reply = okReply(3, 42);
  t.fanout.replied(t.forwarded[0].registration!, true, reply, a, deliveries);
  assert.equal(deliveries.length, 1);
  assert.deepEqual(b.frames, [okReply(8, 42)], "the same callbackID, b's serial");
  assert.equal(readHeader(reply).serial, 3, "the caller's reply is left as it was");
  assert.deepEqual(new Set(t.forwarded[0].registration!.clients), new Set([a, b]));
});

Deno.test("a client registering events already held is answered here with their callbackID", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  await registered(t, a, 42);
  await submit(t, b, registerFrame(9));
  assert.equal(t.forwarded.length, 1, "nothing more upstream");
  assert.deepEqual(b.frames, [okReply(9, 42)]);
});

Deno.test("different arguments make a different registration upstream", async () => {
  const t = setup();
  const a = new FakeClient("a");
  await registered(t, a, 42);
  await submit(t, a, registerFrame(4, [1, 7]));
  assert.equal(t.forwarded.length, 2);
});

Deno.test("an event goes to every client of its registration, and nobody else", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  const c = new FakeClient("c");
  await registered(t, a, 42);
  await submit(t, b, registerFrame(9));
  await t.fanout.deliver(event(42));
  assert.equal(a.frames.length, 1);
  assert.deepEqual(b.frames.at(-1), event(42));
  assert.deepEqual(c.frames, []);
  assert.equal(t.fanout.deliver(event(43)), undefined, "an unknown callbackID is dropped");
});

Deno.test("a legacy event goes to the clients registered for its event id", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const legacy = frame({ procedure: 167, serial: 3, body: words(0) });
  await t.fanout.submit(a, legacy, classifyRegistrationCall(legacy)!);
  const registration = t.forwarded[0].registration!;
  t.fanout.replied(
    registration,
    true,
    frame({ procedure: 167, type: MessageType.REPLY, serial: 3 }),
    a,
    [],
  );
  const eventFrame = frame({
    procedure: LEGACY_LIFECYCLE_EVENT,
    type: MessageType.MESSAGE,
    body: words(1),
  });
  t.fanout.deliver(eventFrame);
  assert.deepEqual(a.frames, [eventFrame]);
});

Deno.test("deregistering a callback the client does not hold is refused with VIR_ERR_INVALID_ARG", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  await registered(t, a, 42);
  for (const id of [42, 43]) {
    await submit(t, b, deregisterFrame(5, id));
    const reply = b.frames.at(-1)!;
    assert.equal(readHeader(reply).status, MessageStatus.ERROR);
    assert.deepEqual(
      [decodeErrorReply(reply).code, decodeErrorReply(reply).message],
      [ErrorCode.INVALID_ARG, `Event callback ${id} is not registered on this connection`],
    );
  }
  assert.equal(t.forwarded.length, 1, "nothing went upstream");
});

Deno.test("a deregistration while others still use the callback is answered here", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  const registration = await registered(t, a, 42);
  await submit(t, b, registerFrame(9));
  await submit(t, b, deregisterFrame(10, 42));
  assert.deepEqual(
    b.frames.at(-1),
    frame({ procedure: DEREGISTER_ANY, type: MessageType.REPLY, serial: 10 }),
  );
  assert.equal(t.forwarded.length, 1);
  assert.deepEqual([...registration.clients], [a]);
  await t.fanout.deliver(event(42));
  assert.equal(b.frames.filter((f) => readHeader(f).type === MessageType.MESSAGE).length, 0);
});

Deno.test("the last user's deregistration goes upstream, pinned to the registration's connection", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const registration = await registered(t, a, 42);
  await submit(t, a, deregisterFrame(11, 42));
  assert.equal(t.forwarded.length, 2);
  const call = t.forwarded[1];
  assert.equal(call.leaving, registration);
  assert.equal(call.pinnedTo, t.connection);
  assert.ok(registration.leaving, "leaving until the daemon answers");
  assert.equal(t.fanout.deliver(event(42)), undefined, "its events stop");
});

Deno.test("a registration of events being deregistered waits until the daemon has answered", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const registration = await registered(t, a, 42);
  await submit(t, a, deregisterFrame(11, 42));
  const again = submit(t, a, registerFrame(12));
  assert.equal(await settledWithin(again, 20), "pending");
  assert.equal(t.forwarded.length, 2);
  t.fanout.registrations.remove(registration); // the daemon answered the deregistration
  await again;
  assert.equal(t.forwarded.length, 3, "registered anew upstream");
  assert.notEqual(t.forwarded[2].registration, registration);
});

Deno.test("a client leaving as the last user deregisters upstream with the callbackID", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  const registration = await registered(t, a, 42);
  await submit(t, b, registerFrame(9));
  t.fanout.leave(a);
  assert.deepEqual(t.own, [], "b still uses it");
  t.fanout.leave(b);
  assert.deepEqual(t.own, [{ procedure: DEREGISTER_ANY, argument: 42, leaving: registration }]);
});

Deno.test("a registration on a closed connection is just forgotten when its last user leaves", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const registration = await registered(t, a, 42);
  (t.connection as unknown as { closed: boolean }).closed = true;
  t.fanout.leave(a);
  assert.deepEqual(t.own, []);
  assert.equal(t.fanout.registrations.byKey(registration.key), undefined);
});

Deno.test("a registration the daemon refuses is forgotten and its waiters get the refusal", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  await submit(t, a, registerFrame(3));
  await submit(t, b, registerFrame(8));
  const registration = t.forwarded[0].registration!;
  const refusal = frame({
    procedure: REGISTER_ANY,
    type: MessageType.REPLY,
    status: MessageStatus.ERROR,
    serial: 3,
    body: words(1),
  });
  t.fanout.replied(registration, false, refusal, a, []);
  assert.equal(t.fanout.registrations.byKey(registration.key), undefined);
  assert.equal(readHeader(b.frames[0]).serial, 8);
  assert.equal(readHeader(b.frames[0]).status, MessageStatus.ERROR);
  assert.equal(registration.clients.size, 0);
});

Deno.test("a registration confirmed after every asker left is deregistered at once", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  await submit(t, a, registerFrame(3));
  await submit(t, b, registerFrame(8));
  t.detached.add(b);
  const registration = t.forwarded[0].registration!;
  t.fanout.replied(registration, true, okReply(3, 42), undefined, []);
  assert.deepEqual(b.frames, [], "a detached waiter gets nothing");
  assert.deepEqual(t.own, [{ procedure: DEREGISTER_ANY, argument: 42, leaving: registration }]);
});

Deno.test("a registering call that never reached the daemon fails its waiters too", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const b = new FakeClient("b");
  await submit(t, a, registerFrame(3));
  await submit(t, b, registerFrame(8));
  const registration = t.forwarded[0].registration!;
  t.fanout.abandon(registration, new Error('Upstream "hv1" closed the connection'));
  assert.equal(readHeader(b.frames[0]).serial, 8);
  assert.equal(readHeader(b.frames[0]).procedure, REGISTER_ANY);
  assert.equal(decodeErrorReply(b.frames[0]).message, 'Upstream "hv1" closed the connection');
  assert.equal(t.fanout.registrations.byKey(registration.key), undefined);
});

Deno.test("registrations of QEMU monitor events are held per program", async () => {
  const t = setup();
  const a = new FakeClient("a");
  const qemu = frame({ program: Program.QEMU, procedure: 4, serial: 3, body: words(0, 0, 0) });
  await t.fanout.submit(a, qemu, classifyRegistrationCall(qemu)!);
  await submit(t, a, registerFrame(4, [0, 0, 0]));
  assert.equal(t.forwarded.length, 2, "the same arguments, another program: two registrations");
});
