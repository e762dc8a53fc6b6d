/**
 * The event half of tools/gen_protocol.ts: reads from a program's parsed .x file which procedures
 * register and deregister event callbacks and what each event message's body begins with, and
 * renders src/wire/event_procedures.ts.
 *
 * The rules, all from the .x files' naming (the same names libvirt's src/rpc/gendispatch.pl reads):
 * - A procedure's structs are `<prog>_<name in lower case>_args`, `_ret` and `_msg`; a procedure
 *   with a `_msg` struct is an event message the daemon sends.
 * - A registration is a procedure named `..._EVENT_..._REGISTER[_ANY]`; its deregistration is the
 *   same name with `DEREGISTER`. It is a callback registration when its `_ret` is exactly
 *   `{ int callbackID; }` and the deregistration's `_args` is exactly that too; otherwise it is a
 *   legacy domain event registration (REMOTE only).
 * - An event message whose `_msg` begins with `int callbackID` is routed by it; one that begins
 *   with `remote_nonnull_domain dom` is a legacy domain event (REMOTE only), identified by its
 *   VIR_DOMAIN_EVENT_ID_*, which {@linkcode LEGACY_DOMAIN_EVENT_IDS} lists.
 *
 * @module
 */

import type { XdrDeclaration, XdrDefinition, XdrFile } from "./xdr_ast.ts";

/**
 * The legacy domain events in VIR_DOMAIN_EVENT_ID_* order (enum virDomainEventID in libvirt's
 * include/libvirt/libvirt-domain.h), which the .x files do not state: entry N is the event whose
 * message is `REMOTE_PROC_DOMAIN_EVENT_<entry>` and whose id is N. The generator checks that
 * every entry names a legacy message and every legacy message is listed, and checks the order
 * against libvirt-domain.h when the source tree holds it. Ids 16 and up (BLOCK_JOB_2, ...) exist
 * only as callback events, so the list ends at DEVICE_REMOVED.
 */
export const LEGACY_DOMAIN_EVENT_IDS: readonly string[] = [
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

/** A procedure as the event reader needs it. */
export interface NamedProcedure {
  /** The procedure number. */
  number: number;
  /** The enum name without the `<PROG>_PROC_` prefix. */
  name: string;
}

/** A registration and the deregistration that undoes it. */
export interface RegistrationPair {
  /** The registration procedure. */
  register: NamedProcedure;
  /** The deregistration procedure. */
  deregister: NamedProcedure;
}

/** What one program's .x file says about events. */
export interface ProgramEvents {
  /** The program's key in `Program` (src/wire/constants.ts), such as `REMOTE`. */
  key: string;
  /** Registrations that reply `{ int callbackID; }`, by ascending registration number. */
  callbackRegistrations: RegistrationPair[];
  /** Registrations without a callbackID (legacy domain events), by ascending number. */
  legacyRegistrations: RegistrationPair[];
  /** Event messages whose body begins with `int callbackID`, by ascending number. */
  callbackEvents: NamedProcedure[];
  /** Legacy domain event messages, indexed by VIR_DOMAIN_EVENT_ID_*. */
  legacyDomainEvents: NamedProcedure[];
  /** Event messages of neither kind (such as CONNECT_EVENT_CONNECTION_CLOSED). */
  otherEvents: NamedProcedure[];
}

/**
 * Whether a program has anything to put into the event tables.
 *
 * @param events The program's event facts.
 * @returns true when any list is non-empty.
 */
export function hasEvents(events: ProgramEvents): boolean {
  return events.callbackRegistrations.length + events.legacyRegistrations.length +
      events.callbackEvents.length + events.legacyDomainEvents.length +
      events.otherEvents.length > 0;
}

type Struct = Extract<XdrDefinition, { kind: "struct" }>;

/** Whether `members` is exactly `{ int callbackID; }`. */
function isCallbackIdOnly(members: XdrDeclaration[] | undefined): boolean {
  return members?.length === 1 && beginsWithCallbackId(members);
}

/** Whether `members` begins with `int callbackID`. */
function beginsWithCallbackId(members: XdrDeclaration[]): boolean {
  const first = members[0];
  return first?.kind === "field" && first.name === "callbackID" &&
    first.type.kind === "primitive" && first.type.name === "int" && first.shape.kind === "scalar";
}

/** Whether `members` begins with `remote_nonnull_domain dom`. */
function beginsWithDomain(members: XdrDeclaration[]): boolean {
  const first = members[0];
  return first?.kind === "field" && first.type.kind === "ref" &&
    first.type.name === "remote_nonnull_domain" && first.shape.kind === "scalar";
}

/**
 * Reads one program's event facts.
 *
 * @param key The program's key in `Program`, such as `REMOTE`.
 * @param file The program's parsed .x file.
 * @param procedures The program's procedures, as read from its procedure enum.
 * @returns The program's registrations and event messages.
 * @throws {Error} when the .x file breaks a rule the tables rely on.
 */
export function readEvents(
  key: string,
  file: XdrFile,
  procedures: readonly NamedProcedure[],
): ProgramEvents {
  const structs = new Map<string, Struct>();
  for (const definition of file.definitions) {
    if (definition.kind === "struct") structs.set(definition.name, definition);
  }
  const struct = (procedure: NamedProcedure, suffix: string) =>
    structs.get(`${key.toLowerCase()}_${procedure.name.toLowerCase()}_${suffix}`)?.members;
  const fail = (message: string): never => {
    throw new Error(`Cannot read the events of ${key}: ${message}`);
  };
  const byName = new Map(procedures.map((procedure) => [procedure.name, procedure]));
  const events: ProgramEvents = {
    key,
    callbackRegistrations: [],
    legacyRegistrations: [],
    callbackEvents: [],
    legacyDomainEvents: [],
    otherEvents: [],
  };
  const legacyByName = new Map<string, NamedProcedure>();
  for (const procedure of procedures) {
    const isRegistration = /_EVENT_(\w+_)?REGISTER(_ANY)?$/.test(procedure.name) &&
      !/DEREGISTER(_ANY)?$/.test(procedure.name);
    if (isCallbackIdOnly(struct(procedure, "ret")) && !isRegistration) {
      fail(`"${procedure.name}" replies { int callbackID; } but is not named a registration`);
    }
    if (isRegistration) {
      const deregisterName = procedure.name.replace(/REGISTER(_ANY)?$/, "DEREGISTER$1");
      const deregister = byName.get(deregisterName) ??
        fail(`"${procedure.name}" has no "${deregisterName}"`);
      const pair = { register: procedure, deregister };
      const replyHasId = isCallbackIdOnly(struct(procedure, "ret"));
      if (replyHasId !== isCallbackIdOnly(struct(deregister, "args"))) {
        fail(`"${procedure.name}" and "${deregisterName}" disagree on { int callbackID; }`);
      }
      if (replyHasId) events.callbackRegistrations.push(pair);
      else if (key === "REMOTE") events.legacyRegistrations.push(pair);
      else fail(`"${procedure.name}" registers without a callbackID outside REMOTE`);
    }
    const message = struct(procedure, "msg");
    if (message === undefined) continue;
    if (beginsWithCallbackId(message)) events.callbackEvents.push(procedure);
    else if (key === "REMOTE" && beginsWithDomain(message)) {
      legacyByName.set(procedure.name, procedure);
    } else events.otherEvents.push(procedure);
  }
  for (const name of key === "REMOTE" ? LEGACY_DOMAIN_EVENT_IDS : []) {
    const procedure = legacyByName.get(`DOMAIN_EVENT_${name}`) ??
      fail(`LEGACY_DOMAIN_EVENT_IDS names "${name}", which has no legacy DOMAIN_EVENT_ message`);
    legacyByName.delete(procedure.name);
    events.legacyDomainEvents.push(procedure);
  }
  if (legacyByName.size > 0) {
    fail(`add ${[...legacyByName.keys()].join(", ")} to LEGACY_DOMAIN_EVENT_IDS`);
  }
  return events;
}

/**
 * Checks {@linkcode LEGACY_DOMAIN_EVENT_IDS} against enum virDomainEventID of libvirt-domain.h.
 *
 * @param header The text of include/libvirt/libvirt-domain.h.
 * @throws {Error} when an entry's position differs from its VIR_DOMAIN_EVENT_ID_* value.
 */
export function checkLegacyIds(header: string): void {
  const ids = new Map<string, number>();
  for (const [, name, value] of header.matchAll(/^\s*VIR_DOMAIN_EVENT_ID_(\w+)\s*=\s*(\d+)/gm)) {
    ids.set(name, Number(value));
  }
  LEGACY_DOMAIN_EVENT_IDS.forEach((name, index) => {
    if (ids.get(name) !== index) {
      throw new Error(
        `Cannot trust LEGACY_DOMAIN_EVENT_IDS: "${name}" is at ${index}, ` +
          `libvirt-domain.h says VIR_DOMAIN_EVENT_ID_${name} = ${ids.get(name)}`,
      );
    }
  });
}

/**
 * Renders src/wire/event_procedures.ts (unformatted).
 *
 * @param programs The event facts of every program that has any.
 * @param libvirtVersion The libvirt version for the header.
 * @returns The module text.
 */
export function renderEvents(programs: readonly ProgramEvents[], libvirtVersion: string): string {
  const lines = [
    `// Generated by tools/gen_protocol.ts from libvirt ${libvirtVersion}'s .x files. Do not edit.`,
    "// Regenerate: deno run -A tools/gen_protocol.ts <libvirt source dir>",
    "",
    "/**",
    ` * Event procedures of libvirt ${libvirtVersion}'s RPC programs: which calls register and`,
    " * deregister event callbacks, and what an event message's body begins with. Use them through",
    " * src/wire/events.ts.",
    " *",
    " * @module",
    " */",
    "",
    'import { Program } from "./constants.ts";',
    "",
    "/**",
    " * Callback registrations by program: registration procedure → the deregistration that undoes",
    " * it. A registration replies `{ int callbackID; }` and its deregistration's args are that.",
    " */",
    "// deno-fmt-ignore",
    "export const CALLBACK_REGISTRATIONS: Readonly<Record<number, Readonly<Record<number, number>>>> = {",
  ];
  const withPrograms = (brackets: string, pick: (events: ProgramEvents) => string[]) => {
    for (const events of programs) {
      const body = pick(events);
      if (body.length) {
        lines.push(`  [Program.${events.key}]: ${brackets[0]}`, ...body, `  ${brackets[1]},`);
      }
    }
  };
  withPrograms(
    "{}",
    (events) =>
      events.callbackRegistrations.map(({ register, deregister }) =>
        `    ${register.number}: ${deregister.number}, // ${register.name} → ${deregister.name}`
      ),
  );
  lines.push(
    "};",
    "",
    "/** Event messages whose `_msg` struct begins with `int callbackID`, by program. */",
    "// deno-fmt-ignore",
    "export const CALLBACK_EVENTS: Readonly<Record<number, readonly number[]>> = {",
  );
  withPrograms(
    "[]",
    (events) => events.callbackEvents.map((event) => `    ${event.number}, // ${event.name}`),
  );
  const remote = programs.find((events) => events.key === "REMOTE");
  lines.push(
    "};",
    "",
    "/**",
    " * The REMOTE program's legacy domain event registrations and their deregistrations, which",
    " * carry no callbackID: a connection registers each VIR_DOMAIN_EVENT_ID_* at most once.",
    " */",
    "export const LEGACY_EVENT_REGISTRATIONS = {",
    ...(remote?.legacyRegistrations ?? []).flatMap(({ register, deregister }) => [
      `  ${register.name}: ${register.number},`,
      `  ${deregister.name}: ${deregister.number},`,
    ]),
    "} as const;",
    "",
    "/**",
    " * The REMOTE program's legacy domain event messages (their `_msg` struct begins with",
    " * `remote_nonnull_domain dom`), indexed by VIR_DOMAIN_EVENT_ID_*.",
    " */",
    "// deno-fmt-ignore",
    "export const LEGACY_DOMAIN_EVENTS: readonly number[] = [",
    ...(remote?.legacyDomainEvents ?? []).map((event, id) =>
      `  ${event.number}, // ${id}: ${event.name}`
    ),
    "];",
  );
  const others = programs.flatMap((events) =>
    events.otherEvents.map((event) => `${events.key} ${event.number} ${event.name}`)
  );
  if (others.length) {
    lines.push(
      "",
      `// Event messages of neither kind, which no table lists: ${others.join(", ")}.`,
    );
  }
  return lines.join("\n") + "\n";
}
