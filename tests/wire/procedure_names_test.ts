import assert from "node:assert/strict";
import { Program } from "../../src/wire/constants.ts";
import {
  isStreamProcedure,
  lookupProcedure,
  procedureName,
  resolveProcedureName,
} from "../../src/wire/procedure_names.ts";
import {
  ADMIN_PROCEDURES,
  KEEPALIVE_PROCEDURES,
  LXC_PROCEDURES,
  QEMU_PROCEDURES,
  REMOTE_PROCEDURES,
} from "../../src/wire/procedures.ts";

Deno.test("REMOTE has 443 procedures numbered 1 to 443 in libvirt 9.0", () => {
  const numbers = Object.keys(REMOTE_PROCEDURES).map(Number);
  assert.equal(numbers.length, 443);
  assert.deepEqual(numbers, Array.from({ length: 443 }, (_, i) => i + 1));
});

Deno.test("the other programs have their 9.0 procedure counts", () => {
  assert.equal(Object.keys(QEMU_PROCEDURES).length, 7);
  assert.equal(Object.keys(LXC_PROCEDURES).length, 1);
  assert.equal(Object.keys(ADMIN_PROCEDURES).length, 19);
  assert.equal(Object.keys(KEEPALIVE_PROCEDURES).length, 2);
});

Deno.test("lookupProcedure returns the entry of a known procedure", () => {
  assert.deepEqual(lookupProcedure(Program.REMOTE, 12), {
    name: "DOMAIN_DESTROY",
    api: "virDomainDestroy",
    priority: "high",
  });
  assert.deepEqual(lookupProcedure(Program.REMOTE, 1), {
    name: "CONNECT_OPEN",
    api: "virConnectOpen",
    priority: "high",
  });
  assert.equal(lookupProcedure(Program.KEEPALIVE, 1)?.name, "PING");
  assert.equal(lookupProcedure(Program.ADMIN, 1)?.api, "virAdmConnectOpen");
  assert.equal(lookupProcedure(Program.LXC, 1)?.api, "virDomainLxcOpenNamespace");
});

Deno.test("lookupProcedure returns undefined for unknown programs and procedures", () => {
  assert.equal(lookupProcedure(Program.REMOTE, 0), undefined);
  assert.equal(lookupProcedure(Program.REMOTE, 444), undefined);
  assert.equal(lookupProcedure(Program.REMOTE, -1), undefined);
  assert.equal(lookupProcedure(0x12345678, 1), undefined);
});

Deno.test("events and internal calls have no API name", () => {
  assert.equal(lookupProcedure(Program.REMOTE, 66)?.name, "AUTH_LIST");
  assert.equal(lookupProcedure(Program.REMOTE, 66)?.api, undefined);
  const lifecycle = resolveProcedureName("REMOTE_PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE")!;
  assert.equal(lookupProcedure(lifecycle.program, lifecycle.procedure)?.api, undefined);
});

Deno.test("procedureName names known procedures and numbers unknown ones", () => {
  assert.equal(procedureName(Program.REMOTE, 12), "DOMAIN_DESTROY");
  assert.equal(procedureName(Program.QEMU, 1), "DOMAIN_MONITOR_COMMAND");
  assert.equal(procedureName(Program.KEEPALIVE, 2), "PONG");
  assert.equal(procedureName(Program.REMOTE, 12345), "procedure 12345");
  assert.equal(procedureName(0x12345678, 7), "procedure 7");
});

const REMOTE = Program.REMOTE;
const QEMU = Program.QEMU;
/** Rows: why, the text looked up, what it resolves to. */
const RESOLVE_ROWS: [string, string, { program: number; procedure: number } | undefined][] = [
  ["bare name", "DOMAIN_DESTROY", { program: REMOTE, procedure: 12 }],
  ["prefixed name", "REMOTE_PROC_DOMAIN_DESTROY", { program: REMOTE, procedure: 12 }],
  ["API name", "virDomainDestroy", { program: REMOTE, procedure: 12 }],
  ["any case, blanks trimmed", "  domain_destroy  ", { program: REMOTE, procedure: 12 }],
  ["API name in capitals", "VIRDOMAINDESTROY", { program: REMOTE, procedure: 12 }],
  ["bare name both REMOTE and ADMIN define", "CONNECT_OPEN", { program: REMOTE, procedure: 1 }],
  ["REMOTE API", "virConnectOpen", { program: REMOTE, procedure: 1 }],
  ["QEMU prefixed name", "QEMU_PROC_DOMAIN_MONITOR_COMMAND", { program: QEMU, procedure: 1 }],
  ["QEMU-only bare name", "DOMAIN_MONITOR_COMMAND", { program: QEMU, procedure: 1 }],
  ["QEMU API", "virDomainQemuMonitorCommand", { program: QEMU, procedure: 1 }],
  ["another QEMU API", "virDomainQemuAgentCommand", { program: QEMU, procedure: 3 }],
  ["LXC prefixed name", "LXC_PROC_DOMAIN_OPEN_NAMESPACE", { program: Program.LXC, procedure: 1 }],
  ["LXC API", "virDomainLxcOpenNamespace", { program: Program.LXC, procedure: 1 }],
  ["prefix picks ADMIN", "ADMIN_PROC_CONNECT_OPEN", { program: Program.ADMIN, procedure: 1 }],
  ["ADMIN API", "virAdmConnectOpen", { program: Program.ADMIN, procedure: 1 }],
  ["KEEPALIVE name", "KEEPALIVE_PROC_PING", { program: Program.KEEPALIVE, procedure: 1 }],
  ["name under the wrong prefix", "REMOTE_PROC_DOMAIN_MONITOR_COMMAND", undefined],
  ["unknown name", "DOMAIN_DESTROYED", undefined],
  ["API that makes no call", "virDomainFree", undefined],
  ["empty text", "", undefined],
];

for (const [why, text, expected] of RESOLVE_ROWS) {
  Deno.test(`resolveProcedureName resolves ${JSON.stringify(text)} (${why})`, () => {
    assert.deepEqual(resolveProcedureName(text), expected);
  });
}

Deno.test("resolveProcedureName round-trips every procedure by its prefixed name and API", () => {
  const tables = [
    [Program.REMOTE, "REMOTE_PROC_", REMOTE_PROCEDURES],
    [Program.QEMU, "QEMU_PROC_", QEMU_PROCEDURES],
    [Program.LXC, "LXC_PROC_", LXC_PROCEDURES],
    [Program.ADMIN, "ADMIN_PROC_", ADMIN_PROCEDURES],
    [Program.KEEPALIVE, "KEEPALIVE_PROC_", KEEPALIVE_PROCEDURES],
  ] as const;
  for (const [program, prefix, table] of tables) {
    for (const [number, info] of Object.entries(table)) {
      const expected = { program, procedure: Number(number) };
      assert.deepEqual(resolveProcedureName(prefix + info.name), expected);
      if (info.api) assert.deepEqual(resolveProcedureName(info.api), expected, info.api);
    }
  }
});

Deno.test("stream-opening procedures carry their direction and argument index", () => {
  const byName = (name: string) => {
    const ref = resolveProcedureName(name)!;
    return { ref, info: lookupProcedure(ref.program, ref.procedure)! };
  };
  const screenshot = byName("DOMAIN_SCREENSHOT");
  assert.equal(screenshot.ref.procedure, 211);
  assert.equal(screenshot.info.stream, "read");
  assert.equal(screenshot.info.streamArg, 1);
  const upload = byName("STORAGE_VOL_UPLOAD");
  assert.equal(upload.info.stream, "write");
  assert.equal(upload.info.streamArg, 1);
  const console = byName("DOMAIN_OPEN_CONSOLE");
  assert.equal(console.info.stream, "read");
  assert.equal(console.info.streamArg, 2);
  // 9.0's .x file has no @writestream for this call: its dispatch is hand-written.
  const tunnel = byName("DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS");
  assert.equal(tunnel.ref.procedure, 304);
  assert.equal(tunnel.info.stream, "write");
  assert.equal(tunnel.info.streamArg, undefined);
});

Deno.test("isStreamProcedure is true for exactly the eight stream calls of 9.0", () => {
  const streams = Object.keys(REMOTE_PROCEDURES).map(Number)
    .filter((procedure) => isStreamProcedure(Program.REMOTE, procedure))
    .map((procedure) => procedureName(Program.REMOTE, procedure));
  assert.deepEqual(streams, [
    "DOMAIN_MIGRATE_PREPARE_TUNNEL",
    "DOMAIN_OPEN_CONSOLE",
    "STORAGE_VOL_UPLOAD",
    "STORAGE_VOL_DOWNLOAD",
    "DOMAIN_SCREENSHOT",
    "DOMAIN_MIGRATE_PREPARE_TUNNEL3",
    "DOMAIN_OPEN_CHANNEL",
    "DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS",
  ]);
  assert.equal(isStreamProcedure(Program.QEMU, 1), false);
  assert.equal(isStreamProcedure(Program.KEEPALIVE, 1), false);
  assert.equal(isStreamProcedure(0x12345678, 211), false);
});

Deno.test("priority is high only where the .x file says so", () => {
  assert.equal(lookupProcedure(Program.REMOTE, 12)?.priority, "high");
  assert.equal(lookupProcedure(Program.REMOTE, 8)?.priority, undefined);
  // qemu_protocol.x spells "@priority: low" on DOMAIN_MONITOR_COMMAND.
  assert.equal(lookupProcedure(Program.QEMU, 1)?.priority, undefined);
});
