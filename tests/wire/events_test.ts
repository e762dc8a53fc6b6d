import assert from "node:assert/strict";
import {
  deregisterFor,
  isCallbackDeregister,
  isCallbackEvent,
  legacyEventId,
  LegacyEventProc,
} from "../../src/wire/events.ts";
import { Program } from "../../src/wire/constants.ts";
import { procedureName } from "../../src/wire/procedure_names.ts";
import {
  ADMIN_PROCEDURES,
  KEEPALIVE_PROCEDURES,
  LXC_PROCEDURES,
  type ProcedureTable,
  QEMU_PROCEDURES,
  REMOTE_PROCEDURES,
} from "../../src/wire/procedures.ts";

/**
 * The hand tables src/proxy/events.ts held before they were generated from the .x files; the
 * generated ones must give the same answers for every procedure of every program.
 */
const HAND_REGISTER: ReadonlyMap<number, ReadonlyMap<number, number>> = new Map([
  [
    Program.REMOTE,
    new Map([[313, 314], [316, 317], [368, 369], [374, 375], [380, 381]]),
  ],
  [Program.QEMU, new Map([[4, 5]])],
]);
const HAND_LEGACY_EVENTS = [
  107,
  169,
  170,
  171,
  172,
  173,
  195,
  224,
  241,
  248,
  268,
  269,
  270,
  276,
  292,
  311,
];
const HAND_LEGACY_PROC = { REGISTER: 105, DEREGISTER: 106, REGISTER_ANY: 167, DEREGISTER_ANY: 168 };

const TABLES: ReadonlyArray<[number, ProcedureTable]> = [
  [Program.REMOTE, REMOTE_PROCEDURES],
  [Program.QEMU, QEMU_PROCEDURES],
  [Program.LXC, LXC_PROCEDURES],
  [Program.ADMIN, ADMIN_PROCEDURES],
  [Program.KEEPALIVE, KEEPALIVE_PROCEDURES],
];

Deno.test("the generated tables answer as the former hand tables for every procedure", () => {
  assert.deepEqual({ ...LegacyEventProc }, HAND_LEGACY_PROC);
  let checked = 0;
  for (const [program, table] of TABLES) {
    // One past the highest number too, and an unknown program below.
    const numbers = [
      ...Object.keys(table).map(Number),
      Math.max(...Object.keys(table).map(Number)) + 1,
    ];
    for (const procedure of numbers) {
      const register = HAND_REGISTER.get(program);
      const where = `${programNameOf(program)} ${procedure}`;
      assert.equal(deregisterFor(program, procedure), register?.get(procedure), where);
      assert.equal(
        isCallbackDeregister(program, procedure),
        [...(register?.values() ?? [])].includes(procedure),
        where,
      );
      assert.equal(
        legacyEventId(program, procedure),
        program === Program.REMOTE ? HAND_LEGACY_EVENTS.indexOf(procedure) : -1,
        where,
      );
      checked++;
    }
  }
  assert.ok(checked > 470, `checked only ${checked}`);
  assert.equal(deregisterFor(0x1234, 313), undefined);
  assert.equal(isCallbackDeregister(0x1234, 314), false);
  assert.equal(legacyEventId(0x1234, 107), -1);
});

function programNameOf(program: number): string {
  return Object.entries(Program).find(([, value]) => value === program)?.[0] ?? String(program);
}

Deno.test("every callback registration pairs with the deregistration of the same name", () => {
  const remote = Object.entries(REMOTE_PROCEDURES).filter(([, info]) =>
    /_EVENT_.*REGISTER_ANY$/.test(info.name) && !info.name.includes("DEREGISTER") &&
    info.name !== "CONNECT_DOMAIN_EVENT_REGISTER_ANY" // legacy, no callbackID
  );
  assert.ok(remote.length >= 5);
  for (const [number, info] of remote) {
    const deregister = deregisterFor(Program.REMOTE, Number(number));
    assert.ok(deregister !== undefined, `${info.name} is not known as a registration`);
    assert.equal(
      procedureName(Program.REMOTE, deregister),
      info.name.replace("REGISTER", "DEREGISTER"),
    );
    assert.ok(isCallbackDeregister(Program.REMOTE, deregister));
  }
  assert.equal(
    procedureName(Program.QEMU, deregisterFor(Program.QEMU, 4)!),
    "CONNECT_DOMAIN_MONITOR_EVENT_DEREGISTER",
  );
});

Deno.test("legacy event ids follow VIR_DOMAIN_EVENT_ID_* and name legacy domain events", () => {
  const names = [
    "LIFECYCLE",
    "REBOOT",
    "RTC_CHANGE",
    "WATCHDOG",
    "IO_ERROR",
    "GRAPHICS",
    "IO_ERROR_REASON",
    "CONTROL_ERROR",
    "BLOCK_JOB",
    "DISK_CHANGE",
    "TRAY_CHANGE",
    "PMWAKEUP",
    "PMSUSPEND",
    "BALLOON_CHANGE",
    "PMSUSPEND_DISK",
    "DEVICE_REMOVED",
  ];
  for (const [number, info] of Object.entries(REMOTE_PROCEDURES)) {
    const id = legacyEventId(Program.REMOTE, Number(number));
    if (id < 0) continue;
    assert.equal(info.name, `DOMAIN_EVENT_${names[id]}`);
  }
  const legacy = Object.values(REMOTE_PROCEDURES).filter((info) =>
    /^DOMAIN_EVENT_/.test(info.name) && !info.name.startsWith("DOMAIN_EVENT_CALLBACK_") &&
    names.includes(info.name.slice("DOMAIN_EVENT_".length))
  );
  assert.equal(legacy.length, names.length);
  assert.equal(
    procedureName(Program.REMOTE, LegacyEventProc.REGISTER),
    "CONNECT_DOMAIN_EVENT_REGISTER",
  );
  assert.equal(
    procedureName(Program.REMOTE, LegacyEventProc.DEREGISTER_ANY),
    "CONNECT_DOMAIN_EVENT_DEREGISTER_ANY",
  );
});

Deno.test("callback-style events are never taken for legacy ones", () => {
  for (const [number, info] of Object.entries(REMOTE_PROCEDURES)) {
    if (info.name.startsWith("DOMAIN_EVENT_CALLBACK_")) {
      assert.equal(legacyEventId(Program.REMOTE, Number(number)), -1, info.name);
    }
  }
  assert.equal(legacyEventId(Program.QEMU, 6), -1);
});

Deno.test("callback events are the event messages that begin with a callbackID", () => {
  const callbackEvents = Object.entries(REMOTE_PROCEDURES).filter(([number]) =>
    isCallbackEvent(Program.REMOTE, Number(number))
  ).map(([, info]) => info.name);
  for (const name of callbackEvents) {
    assert.match(name, /^(DOMAIN|NETWORK|STORAGE_POOL|NODE_DEVICE|SECRET)_EVENT_/, name);
  }
  // Every DOMAIN_EVENT_CALLBACK_* message, and the domain events born callback-style.
  const callbackStyle = Object.values(REMOTE_PROCEDURES).filter((info) =>
    info.name.startsWith("DOMAIN_EVENT_CALLBACK_")
  );
  assert.equal(callbackStyle.length, 23);
  for (const info of callbackStyle) assert.ok(callbackEvents.includes(info.name), info.name);
  for (
    const name of [
      "DOMAIN_EVENT_BLOCK_JOB_2",
      "DOMAIN_EVENT_BLOCK_THRESHOLD",
      "DOMAIN_EVENT_MEMORY_FAILURE",
      "DOMAIN_EVENT_MEMORY_DEVICE_SIZE_CHANGE",
      "NETWORK_EVENT_LIFECYCLE",
      "STORAGE_POOL_EVENT_REFRESH",
      "NODE_DEVICE_EVENT_UPDATE",
      "SECRET_EVENT_VALUE_CHANGED",
    ]
  ) {
    assert.ok(callbackEvents.includes(name), name);
  }
  assert.equal(callbackEvents.length, 34);
  assert.ok(isCallbackEvent(Program.QEMU, 6), "QEMU DOMAIN_MONITOR_EVENT");
});

Deno.test("legacy events, registrations and the connection-closed event carry no callbackID", () => {
  for (const procedure of [...HAND_LEGACY_EVENTS, ...Object.values(HAND_LEGACY_PROC)]) {
    assert.equal(isCallbackEvent(Program.REMOTE, procedure), false, `${procedure}`);
  }
  // remote_connect_event_connection_closed_msg is { int reason; }.
  assert.equal(procedureName(Program.REMOTE, 362), "CONNECT_EVENT_CONNECTION_CLOSED");
  assert.equal(isCallbackEvent(Program.REMOTE, 362), false);
  assert.equal(legacyEventId(Program.REMOTE, 362), -1);
  assert.equal(isCallbackEvent(Program.REMOTE, 316), false, "a registration is no event");
  assert.equal(isCallbackEvent(Program.LXC, 6), false);
});
