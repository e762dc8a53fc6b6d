/**
 * Generates src/wire/procedures.ts, the procedure tables of libvirt's RPC programs, and
 * src/wire/event_procedures.ts, their event registrations and messages (read by
 * tools/gen_events.ts), from the .x files and public .syms files of a libvirt source tree.
 *
 * Usage:
 *
 * ```sh
 * deno run -A tools/gen_protocol.ts <libvirt source dir> [--out FILE] [--events-out FILE]
 *   [--libvirt-version X.Y.Z]
 * ```
 *
 * `<libvirt source dir>` is the top of an unpacked libvirt release (the folder holding `src/`);
 * the header's version comes from `--libvirt-version`, the folder name or its meson.build. Both
 * outputs default to src/wire/ of this repository. README.md "Protocol tables" shows how to fetch
 * and unpack libvirt's source package; when remote_driver.c and libvirt-domain.h are unpacked
 * too, the hand-written parts of the tables are checked against them.
 *
 * For each program the generator reads `enum <prog>_procedure` and the block comment before each
 * member, taking `@readstream: N`, `@writestream: N` and `@priority: high` from it. A procedure's
 * public API is the .syms name that equals the procedure name once both are normalized: drop
 * `vir` and the program's own word (`Qemu`, `Lxc`, `Adm`) from the API, drop the `<PROG>_PROC_`
 * prefix from the procedure, uppercase both and remove underscores. Events, the auth steps and the
 * migration phases have no public API.
 *
 * @module
 */

import { join } from "node:path";
import { Program, PROGRAM_VERSION } from "../src/wire/constants.ts";
import {
  findDefinition,
  findLibvirtVersion,
  formatTypeScript,
  readOptionalText,
  REPO_ROOT,
} from "./_gen_common.ts";
import {
  checkLegacyIds,
  hasEvents,
  type ProgramEvents,
  readEvents,
  renderEvents,
} from "./gen_events.ts";
import type { XdrFile } from "./xdr_ast.ts";
import { parseXdr } from "./xdr_parser.ts";

/** Where one program's procedures and API names live in the libvirt tree. */
export interface ProgramSource {
  /** Key of the program in `Program` (src/wire/constants.ts); also the table's name prefix. */
  key: keyof typeof Program;
  /** The .x file, relative to the source dir. */
  file: string;
  /** The .syms files with the program's public API names, relative to the source dir. */
  syms: string[];
  /** The word libvirt puts into the program's API names after `vir`, such as `Qemu`. */
  apiWord?: string;
}

/** The programs virtmux knows, in table order. */
export const PROGRAM_SOURCES: readonly ProgramSource[] = [
  { key: "REMOTE", file: "src/remote/remote_protocol.x", syms: ["src/libvirt_public.syms"] },
  {
    key: "QEMU",
    file: "src/remote/qemu_protocol.x",
    syms: ["src/libvirt_qemu.syms"],
    apiWord: "Qemu",
  },
  {
    key: "LXC",
    file: "src/remote/lxc_protocol.x",
    syms: ["src/libvirt_lxc.syms"],
    apiWord: "Lxc",
  },
  {
    key: "ADMIN",
    file: "src/admin/admin_protocol.x",
    syms: ["src/admin/libvirt_admin_public.syms"],
    apiWord: "Adm",
  },
  { key: "KEEPALIVE", file: "src/rpc/virkeepaliveprotocol.x", syms: [] },
];

/** Every .x file the generator and the audit schema depend on, relative to the source dir. */
export const XDR_FILES: readonly string[] = [
  "src/remote/remote_protocol.x",
  "src/remote/qemu_protocol.x",
  "src/remote/lxc_protocol.x",
  "src/admin/admin_protocol.x",
  "src/rpc/virnetprotocol.x",
  "src/rpc/virkeepaliveprotocol.x",
];

/** One procedure as read from the .x file. */
export interface GeneratedProcedure {
  /** The procedure number. */
  number: number;
  /** The enum name without the `<PROG>_PROC_` prefix. */
  name: string;
  /** The matching public API, if any. */
  api?: string;
  /** The `@readstream`/`@writestream` direction. */
  stream?: "read" | "write";
  /** The stream annotation's argument index. */
  streamArg?: number;
  /** `high` for `@priority: high`. */
  priority?: "high";
}

/** One program's procedures plus what the API match found. */
export interface GeneratedProgram {
  /** The program's source description. */
  source: ProgramSource;
  /** Procedures by ascending number. */
  procedures: GeneratedProcedure[];
}

/** Result of {@linkcode generateProcedures}. */
export interface GenerateResult {
  /** The formatted text of src/wire/procedures.ts. */
  text: string;
  /** The formatted text of src/wire/event_procedures.ts. */
  eventsText: string;
  /** The programs, for reporting. */
  programs: GeneratedProgram[];
  /** The event facts of the programs that have events, for reporting. */
  events: ProgramEvents[];
}

/** Options for {@linkcode generateProcedures}. */
export interface GenerateOptions {
  /** The libvirt version for the header; found from the source dir when absent. */
  libvirtVersion?: string;
}

/**
 * Stream-opening procedures whose .x comment lacks a stream annotation, because their dispatch
 * code is written by hand (`@generate: none`). In 9.0 that is one procedure:
 * remoteDispatchDomainMigratePrepareTunnel3Params (src/remote/remote_daemon_dispatch.c) creates
 * the stream, and src/remote/remote_driver.c passes it to virNetClientStreamNew.
 */
const UNANNOTATED_STREAMS: Readonly<Record<string, Readonly<Record<string, "read" | "write">>>> = {
  REMOTE: { DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS: "write" },
};

const DEFAULT_OUT = join(REPO_ROOT, "src/wire/procedures.ts");
const DEFAULT_EVENTS_OUT = join(REPO_ROOT, "src/wire/event_procedures.ts");

/** Normalizes an API or procedure name for matching: uppercase, no underscores. */
function normalizeName(name: string): string {
  return name.replaceAll("_", "").toUpperCase();
}

/** Reads the public API names (`virFoo;` lines) of a .syms file. */
function readSyms(text: string): string[] {
  return [...text.matchAll(/^\s*(vir[A-Za-z0-9_]+);/gm)].map((match) => match[1]);
}

/** Maps each normalized API name of a program to the API name. */
function apiIndex(source: ProgramSource, apis: string[]): Map<string, string> {
  const index = new Map<string, string>();
  for (const api of apis) {
    let key = api.slice("vir".length);
    if (source.apiWord) key = key.replace(new RegExp(`${source.apiWord}(?=[A-Z])`), "");
    key = normalizeName(key);
    const other = index.get(key);
    if (other !== undefined && other !== api) {
      throw new Error(`Cannot match API names of ${source.key}: "${other}" and "${api}" collide`);
    }
    index.set(key, api);
  }
  return index;
}

/** Reads `@name: value` lines of a procedure's comment. */
function annotations(comment: string | undefined): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const match of (comment ?? "").matchAll(/^@([a-z_]+):\s*(.*)$/gm)) {
    found.set(match[1], [...(found.get(match[1]) ?? []), match[2].trim()]);
  }
  return found;
}

/** Reads one program's procedures from its parsed .x file. */
function readProgram(source: ProgramSource, file: XdrFile, apis: string[]): GeneratedProgram {
  const prefix = source.key.toLowerCase();
  const programConst = findDefinition(file, "const", `${source.key}_PROGRAM`, source.file);
  if (programConst.value !== Program[source.key]) {
    throw new Error(
      `Cannot use "${source.file}": ${source.key}_PROGRAM is ${programConst.value}, ` +
        `src/wire/constants.ts says ${Program[source.key]}`,
    );
  }
  const version = findDefinition(file, "const", `${source.key}_PROTOCOL_VERSION`, source.file);
  if (version.value !== PROGRAM_VERSION) {
    throw new Error(`Cannot use "${source.file}": protocol version is ${version.value}`);
  }
  const procedureEnum = findDefinition(file, "enum", `${prefix}_procedure`, source.file);
  const index = apiIndex(source, apis);
  const namePrefix = `${source.key}_PROC_`;
  const procedures: GeneratedProcedure[] = procedureEnum.members.map((member) => {
    if (!member.name.startsWith(namePrefix) || typeof member.value !== "number") {
      throw new Error(`Cannot read procedure "${member.name}" of "${source.file}"`);
    }
    const name = member.name.slice(namePrefix.length);
    const procedure: GeneratedProcedure = { number: member.value, name };
    const api = index.get(normalizeName(name));
    if (api) procedure.api = api;
    const notes = annotations(member.comment);
    for (const direction of ["read", "write"] as const) {
      const values = notes.get(`${direction}stream`);
      if (!values) continue;
      if (procedure.stream || values.length > 1) {
        throw new Error(`Cannot read procedure "${member.name}": more than one stream annotation`);
      }
      procedure.stream = direction;
      const argument = Number(values[0]);
      if (values[0] !== "" && Number.isInteger(argument)) procedure.streamArg = argument;
    }
    const unannotated = UNANNOTATED_STREAMS[source.key]?.[name];
    if (unannotated && procedure.stream) {
      throw new Error(`Cannot read procedure "${member.name}": drop it from UNANNOTATED_STREAMS`);
    }
    if (unannotated) procedure.stream = unannotated;
    if (notes.get("priority")?.includes("high")) procedure.priority = "high";
    return procedure;
  });
  procedures.sort((a, b) => a.number - b.number);
  for (let i = 1; i < procedures.length; i++) {
    if (procedures[i].number === procedures[i - 1].number) {
      throw new Error(`Cannot use "${source.file}": procedure ${procedures[i].number} is twice`);
    }
  }
  return { source, procedures };
}

function renderProcedure(procedure: GeneratedProcedure): string {
  const fields = [`name: ${JSON.stringify(procedure.name)}`];
  if (procedure.api) fields.push(`api: ${JSON.stringify(procedure.api)}`);
  if (procedure.stream) fields.push(`stream: "${procedure.stream}"`);
  if (procedure.streamArg !== undefined) fields.push(`streamArg: ${procedure.streamArg}`);
  if (procedure.priority) fields.push(`priority: "${procedure.priority}"`);
  return `  ${procedure.number}: { ${fields.join(", ")} },`;
}

function render(programs: GeneratedProgram[], libvirtVersion: string): string {
  const lines = [
    `// Generated by tools/gen_protocol.ts from libvirt ${libvirtVersion}'s .x files. Do not edit.`,
    "// Regenerate: deno run -A tools/gen_protocol.ts <libvirt source dir>",
    "",
    "/**",
    ` * Procedure tables of libvirt ${libvirtVersion}'s RPC programs, one per program, keyed by`,
    " * procedure number. Look procedures up through src/wire/procedure_names.ts.",
    " *",
    " * @module",
    " */",
    "",
    "/** What libvirt's .x files say about one procedure. */",
    "export interface ProcedureInfo {",
    '  /** The enum name without its `<PROG>_PROC_` prefix, such as `"DOMAIN_DESTROY"`. */',
    "  readonly name: string;",
    "  /** The public API that makes the call, such as `virDomainDestroy`; absent for events. */",
    "  readonly api?: string;",
    "  /** The stream the call opens, seen from the client: `read` carries data from the daemon. */",
    '  readonly stream?: "read" | "write";',
    "  /** Where the stream goes in the API's parameter list (`@readstream: N`). */",
    "  readonly streamArg?: number;",
    "  /** `high` when the daemon may serve the call on its high-priority workers. */",
    '  readonly priority?: "high";',
    "}",
    "",
    "/** A program's procedures by number. */",
    "export type ProcedureTable = Readonly<Record<number, ProcedureInfo>>;",
  ];
  for (const { source, procedures } of programs) {
    const enumName = `${source.key.toLowerCase()}_procedure`;
    lines.push(
      "",
      `/** The ${source.key} program's ${procedures.length} procedures (${source.file}, enum ${enumName}). */`,
      "// deno-fmt-ignore",
      `export const ${source.key}_PROCEDURES: ProcedureTable = {`,
      ...procedures.map(renderProcedure),
      "};",
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * When the tree has src/remote/remote_driver.c, checks that every stream the hand-written client
 * code opens is a stream procedure of the table, so that UNANNOTATED_STREAMS stays complete.
 */
async function checkHandWrittenStreams(sourceDir: string, remote: GeneratedProgram) {
  const driver = await readOptionalText(sourceDir, "src/remote/remote_driver.c");
  if (driver === undefined) return;
  const pattern = /virNetClientStreamNew\(\s*priv->remoteProgram,\s*REMOTE_PROC_(\w+)/g;
  for (const [, name] of driver.matchAll(pattern)) {
    if (!remote.procedures.some((procedure) => procedure.name === name && procedure.stream)) {
      throw new Error(
        `Cannot trust the stream table: remote_driver.c opens a stream for "${name}"; ` +
          "add it to UNANNOTATED_STREAMS",
      );
    }
  }
}

/**
 * Builds the text of src/wire/procedures.ts and src/wire/event_procedures.ts from a libvirt
 * source tree.
 *
 * @param sourceDir The top of the libvirt source tree (holding `src/`).
 * @param options The libvirt version, when the folder name does not tell it.
 * @returns The formatted module texts and the programs read.
 */
export async function generateProcedures(
  sourceDir: string,
  options: GenerateOptions = {},
): Promise<GenerateResult> {
  const libvirtVersion = options.libvirtVersion ?? await findLibvirtVersion(sourceDir);
  const parsed = new Map<string, XdrFile>();
  for (const file of XDR_FILES) {
    const path = join(sourceDir, file);
    parsed.set(file, parseXdr(await Deno.readTextFile(path), { fileName: path }));
  }
  const programs: GeneratedProgram[] = [];
  for (const source of PROGRAM_SOURCES) {
    const apis: string[] = [];
    for (const syms of source.syms) {
      apis.push(...readSyms(await Deno.readTextFile(join(sourceDir, syms))));
    }
    programs.push(readProgram(source, parsed.get(source.file)!, apis));
  }
  await checkHandWrittenStreams(sourceDir, programs[0]);
  const events = programs
    .map(({ source, procedures }) => readEvents(source.key, parsed.get(source.file)!, procedures))
    .filter(hasEvents);
  const header = await readOptionalText(sourceDir, "include/libvirt/libvirt-domain.h");
  if (header !== undefined) checkLegacyIds(header);
  const text = await formatTypeScript(render(programs, libvirtVersion));
  const eventsText = await formatTypeScript(renderEvents(events, libvirtVersion));
  return { text, eventsText, programs, events };
}

function report(programs: GeneratedProgram[], events: ProgramEvents[]): string {
  const lines: string[] = [];
  for (const { source, procedures } of programs) {
    const withApi = procedures.filter((procedure) => procedure.api).length;
    const streams = procedures.filter((procedure) => procedure.stream).length;
    const high = procedures.filter((procedure) => procedure.priority).length;
    lines.push(
      `${source.key}: ${procedures.length} procedures, ${withApi} with a public API, ` +
        `${streams} open streams, ${high} high priority`,
    );
    const unmatched = procedures.filter((procedure) => !procedure.api);
    if (unmatched.length && source.syms.length) {
      const events = unmatched.filter((procedure) => procedure.name.includes("EVENT_")).length;
      lines.push(
        `  no API (${events} of them events): ` +
          unmatched.filter((procedure) => !procedure.name.includes("EVENT_"))
            .map((procedure) => procedure.name).join(", "),
      );
    }
  }
  for (const program of events) {
    lines.push(
      `${program.key} events: ${program.callbackRegistrations.length} callback registrations, ` +
        `${program.callbackEvents.length} callback events, ` +
        `${program.legacyDomainEvents.length} legacy domain events, ` +
        `other: ${program.otherEvents.map((event) => event.name).join(", ") || "none"}`,
    );
  }
  return lines.join("\n");
}

async function main(args: string[]): Promise<number> {
  let sourceDir: string | undefined;
  let out = DEFAULT_OUT;
  let eventsOut = DEFAULT_EVENTS_OUT;
  let libvirtVersion: string | undefined;
  let usageError = false;
  const usage = "Usage: deno run -A tools/gen_protocol.ts <libvirt source dir> [--out FILE] " +
    "[--events-out FILE] [--libvirt-version X.Y.Z]";
  if (args.includes("--help") || args.includes("-h")) {
    console.log(usage);
    return 0;
  }
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--out") out = args[++i];
    else if (args[i] === "--events-out") eventsOut = args[++i];
    else if (args[i] === "--libvirt-version") libvirtVersion = args[++i];
    else if (!args[i].startsWith("-") && sourceDir === undefined) sourceDir = args[i];
    else usageError = true;
  }
  if (usageError || sourceDir === undefined || !out || !eventsOut) {
    console.error(usage);
    return 2;
  }
  const result = await generateProcedures(sourceDir, { libvirtVersion });
  await Deno.writeTextFile(out, result.text);
  await Deno.writeTextFile(eventsOut, result.eventsText);
  console.log(`Wrote ${out} and ${eventsOut}\n${report(result.programs, result.events)}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
