import assert from "node:assert/strict";
import type { PoolClient } from "../../../src/proxy/shared/pool_client.ts";
import {
  classifyRegistrationCall,
  deregisterArgument,
  type RegistrationCall,
  Registrations,
} from "../../../src/proxy/shared/registrations.ts";
import type { UpstreamConnection } from "../../../src/proxy/shared/upstream_connection.ts";
import { Program } from "../../../src/wire/constants.ts";
import { frame, words } from "../../_helpers/frames.ts";
import { settledWithin } from "../../_helpers/wait.ts";

const DOMAIN_EVENT_CALLBACK_REGISTER_ANY = 316;
const DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY = 317;
const NETWORK_EVENT_REGISTER_ANY = 313;
const QEMU_MONITOR_EVENT_REGISTER = 4;
const QEMU_MONITOR_EVENT_DEREGISTER = 5;
/** CONNECT_GET_LIB_VERSION: neither registers nor deregisters. */
const PLAIN = 157;

function call(procedure: number, body?: Uint8Array, program: number = Program.REMOTE) {
  return frame({ program, procedure, serial: 9, body });
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function client(id: string): PoolClient {
  return { id, deliver: () => undefined, lost: () => {} };
}

function connection(name: string): UpstreamConnection {
  return { name, closed: false } as unknown as UpstreamConnection;
}

type Register = RegistrationCall & { action: "register" };
type Deregister = RegistrationCall & { action: "deregister" };

function registerCall(
  procedure: number,
  body?: Uint8Array,
  program: number = Program.REMOTE,
): Register {
  const classified = classifyRegistrationCall(call(procedure, body, program));
  assert.equal(classified?.action, "register");
  return classified as Register;
}

/** A confirmed callback-style registration of `args` on `on`, with `callbackId`. */
function confirmed(index: Registrations, args: number[], on: UpstreamConnection, id: number) {
  const registration = index.begin(
    registerCall(DOMAIN_EVENT_CALLBACK_REGISTER_ANY, words(...args)),
    Program.REMOTE,
    DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
  );
  registration.connection = on;
  index.confirm(registration, id);
  return registration;
}

Deno.test("a callback registration is keyed by program, procedure and every argument", () => {
  const args = words(0, 7);
  assert.deepEqual(classifyRegistrationCall(call(DOMAIN_EVENT_CALLBACK_REGISTER_ANY, args)), {
    action: "register",
    key: `${Program.REMOTE}:${DOMAIN_EVENT_CALLBACK_REGISTER_ANY}:${hex(args)}`,
    legacyEventId: -1,
    deregister: DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY,
    args, // kept to register again after a daemon restart
  });
  const other = registerCall(DOMAIN_EVENT_CALLBACK_REGISTER_ANY, words(0, 8));
  assert.notEqual(other.key, registerCall(DOMAIN_EVENT_CALLBACK_REGISTER_ANY, args).key);
  assert.equal(
    registerCall(DOMAIN_EVENT_CALLBACK_REGISTER_ANY, words(0, 7)).key,
    registerCall(DOMAIN_EVENT_CALLBACK_REGISTER_ANY, args).key,
    "the same arguments: the same key",
  );
  assert.notEqual(
    registerCall(NETWORK_EVENT_REGISTER_ANY, args).key,
    registerCall(DOMAIN_EVENT_CALLBACK_REGISTER_ANY, args).key,
    "another procedure: another key",
  );
});

Deno.test("a QEMU monitor event registration is a callback registration of its program", () => {
  const registration = registerCall(QEMU_MONITOR_EVENT_REGISTER, words(1, 2), Program.QEMU);
  assert.equal(registration.deregister, QEMU_MONITOR_EVENT_DEREGISTER);
  assert.equal(
    registration.key,
    `${Program.QEMU}:${QEMU_MONITOR_EVENT_REGISTER}:${hex(words(1, 2))}`,
  );
  assert.deepEqual(
    classifyRegistrationCall(call(QEMU_MONITOR_EVENT_DEREGISTER, words(12), Program.QEMU)),
    { action: "deregister", callbackId: 12, legacyEventId: -1 },
  );
});

Deno.test("legacy registrations (105, 167) are keyed by their event id", () => {
  assert.deepEqual(classifyRegistrationCall(call(105)), {
    action: "register",
    key: "legacy:0",
    legacyEventId: 0,
    deregister: 106,
    args: new Uint8Array(0),
  });
  assert.deepEqual(classifyRegistrationCall(call(167, words(3))), {
    action: "register",
    key: "legacy:3",
    legacyEventId: 3,
    deregister: 168,
    args: words(3),
  });
  assert.equal(registerCall(167).legacyEventId, 0, "no argument reads as event 0");
});

Deno.test("deregistrations name a callback id or a legacy event id", () => {
  assert.deepEqual(classifyRegistrationCall(call(106)), {
    action: "deregister",
    callbackId: -1,
    legacyEventId: 0,
  });
  assert.deepEqual(classifyRegistrationCall(call(168, words(5))), {
    action: "deregister",
    callbackId: -1,
    legacyEventId: 5,
  });
  assert.deepEqual(
    classifyRegistrationCall(call(DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, words(42))),
    {
      action: "deregister",
      callbackId: 42,
      legacyEventId: -1,
    },
  );
  assert.deepEqual(classifyRegistrationCall(call(DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY)), {
    action: "deregister",
    callbackId: -1,
    legacyEventId: -1,
  });
});

Deno.test("other calls, and event procedures of other programs, are not registrations", () => {
  assert.equal(classifyRegistrationCall(call(PLAIN)), undefined);
  assert.equal(
    classifyRegistrationCall(call(DOMAIN_EVENT_CALLBACK_REGISTER_ANY, words(0), Program.LXC)),
    undefined,
  );
  assert.equal(classifyRegistrationCall(call(105, undefined, Program.QEMU)), undefined);
  assert.equal(classifyRegistrationCall(call(316, words(0), Program.QEMU)), undefined);
});

Deno.test("the deregistration argument: the callback id, the legacy event id, or none for 105", () => {
  const index = new Registrations();
  const callback = confirmed(index, [0, 1], connection("c1"), 77);
  assert.equal(deregisterArgument(callback), 77);
  const any = index.begin(registerCall(167, words(4)), Program.REMOTE, 167);
  assert.equal(deregisterArgument(any), 4);
  const plain = index.begin(registerCall(105), Program.REMOTE, 105);
  assert.equal(deregisterArgument(plain), undefined);
});

Deno.test("begin records a registration by key before the daemon confirms it", () => {
  const index = new Registrations();
  const c1 = connection("c1");
  const registration = index.begin(
    registerCall(DOMAIN_EVENT_CALLBACK_REGISTER_ANY, words(0, 1)),
    Program.REMOTE,
    DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
  );
  assert.equal(index.size, 1);
  assert.equal(index.byKey(registration.key), registration);
  assert.equal(registration.confirmed, false);
  assert.equal(registration.callbackId, -1);
  index.confirm(registration, 5);
  assert.equal(registration.confirmed, false, "no connection yet: nothing to confirm");
  registration.connection = c1;
  assert.equal(index.countOn(c1), 0, "unconfirmed registrations hold no connection");
  index.confirm(registration, 5);
  assert.equal(registration.confirmed, true);
  assert.equal(registration.callbackId, 5);
  assert.equal(index.byCallbackId(5), registration);
  assert.equal(
    index.named({ action: "deregister", callbackId: 5, legacyEventId: -1 }),
    registration,
  );
  assert.equal(index.countOn(c1), 1);
});

Deno.test("a confirmed legacy registration is found by its event id, not by a callback id", () => {
  const index = new Registrations();
  const registration = index.begin(registerCall(167, words(3)), Program.REMOTE, 167);
  registration.connection = connection("c1");
  index.confirm(registration, 99);
  assert.equal(registration.callbackId, -1);
  assert.equal(index.byLegacyEventId(3), registration);
  assert.equal(index.byCallbackId(99), undefined);
  const deregister = classifyRegistrationCall(call(168, words(3))) as Deregister;
  assert.equal(index.named(deregister), registration);
  assert.equal(index.named({ action: "deregister", callbackId: -1, legacyEventId: 4 }), undefined);
});

Deno.test("beginLeaving stops routing events to it but keeps its key until remove", async () => {
  const index = new Registrations();
  const c1 = connection("c1");
  const registration = confirmed(index, [0, 1], c1, 8);
  index.beginLeaving(registration);
  assert.equal(index.byCallbackId(8), undefined, "events no longer routed");
  assert.equal(index.countOn(c1), 0);
  assert.equal(index.byKey(registration.key), registration, "a new identical one must wait");
  assert.ok(registration.leaving);
  assert.equal(await settledWithin(registration.leaving, 10), "pending");
  index.remove(registration);
  assert.equal(await settledWithin(registration.leaving, 100), "settled");
  assert.equal(index.byKey(registration.key), undefined);
  assert.equal(index.size, 0);
});

Deno.test("removing a stale registration leaves a newer one with the same key alone", () => {
  const index = new Registrations();
  const c1 = connection("c1");
  const old = confirmed(index, [0, 1], c1, 8);
  index.beginLeaving(old);
  const renewed = confirmed(index, [0, 1], c1, 9);
  index.remove(old);
  assert.equal(index.byKey(renewed.key), renewed);
  assert.equal(index.byCallbackId(9), renewed);
  assert.equal(index.countOn(c1), 1);
});

Deno.test("join, part and partAll track which clients receive a registration's events", () => {
  const index = new Registrations();
  const c1 = connection("c1");
  const one = confirmed(index, [0, 1], c1, 1);
  const two = confirmed(index, [0, 2], c1, 2);
  const a = client("a");
  const b = client("b");
  index.join(one, a);
  index.join(two, a);
  index.join(one, b);
  assert.deepEqual([...one.clients], [a, b]);
  index.part(one, b);
  assert.deepEqual([...one.clients], [a]);
  assert.deepEqual(index.partAll(b), [], "b is in nothing now");
  assert.deepEqual(new Set(index.partAll(a)), new Set([one, two]));
  assert.equal(one.clients.size, 0);
  assert.equal(two.clients.size, 0);
  assert.deepEqual(index.partAll(a), [], "a second partAll finds nothing");
});

Deno.test("countOn counts confirmed registrations per connection", () => {
  const index = new Registrations();
  const c1 = connection("c1");
  const c2 = connection("c2");
  const first = confirmed(index, [0, 1], c1, 1);
  confirmed(index, [0, 2], c1, 2);
  confirmed(index, [0, 3], c2, 3);
  assert.equal(index.countOn(c1), 2);
  assert.equal(index.countOn(c2), 1);
  index.remove(first);
  assert.equal(index.countOn(c1), 1);
  assert.deepEqual(index.on(c2).map((r) => r.callbackId), [3]);
});

Deno.test("connectionLost forgets the registrations there and returns their clients", () => {
  const index = new Registrations();
  const c1 = connection("c1");
  const c2 = connection("c2");
  const lost = confirmed(index, [0, 1], c1, 1);
  const kept = confirmed(index, [0, 2], c2, 2);
  const a = client("a");
  const b = client("b");
  const c = client("c");
  index.join(lost, a);
  index.join(lost, b);
  index.join(kept, b);
  index.join(kept, c);
  assert.deepEqual(index.connectionLost(c1), new Set([a, b]));
  assert.equal(index.byCallbackId(1), undefined);
  assert.equal(index.byKey(lost.key), undefined);
  assert.equal(index.countOn(c1), 0);
  assert.equal(lost.clients.size, 0);
  assert.equal(index.byCallbackId(2), kept);
  assert.deepEqual([...kept.clients], [b, c]);
  assert.deepEqual(index.partAll(b), [kept], "b keeps only the registration that survived");
  assert.equal(index.size, 1);
});
