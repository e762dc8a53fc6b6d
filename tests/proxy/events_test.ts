import assert from "node:assert/strict";
import {
  deregisterFor,
  isCallbackDeregister,
  legacyEventId,
  LegacyEventProc,
} from "../../src/proxy/events.ts";
import { Program } from "../../src/wire/constants.ts";
import { procedureName } from "../../src/wire/procedure_names.ts";
import { REMOTE_PROCEDURES } from "../../src/wire/procedures.ts";

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
