/**
 * `deno run -A tools/gen_schema.ts LIBVIRT_SRC_DIR [--out DIR] [--libvirt-version X.Y.Z]`: reads
 * the six .x files of libvirt's RPC protocol with tools/xdr_parser.ts and writes the whole schema
 * as data modules, one per file, to src/audit/schema_<name>.ts (see src/audit/schema_types.ts for
 * the encoding). The audit decoder (src/audit/decoder.ts) is driven by them.
 *
 * Per program, each procedure's args, ret and event-message types are found the way libvirt's
 * Wireshark dissector generator (tools/wireshark/util/genxdrstub.pl) finds them: the procedure
 * enum name lowercased without `<PROG>_PROC_`, as `<prog>_<name>_args`, `_ret` and `_msg`; a name
 * that is not defined means an empty body.
 *
 * Access class, from the `@acl: object:permission[:flag]` lines before each procedure (libvirt's
 * src/access/viraccessperm.h names the permissions): a procedure is `read` when every permission
 * it lists, conditional ones included, only observes: `getattr`, `read`, `read_secure`,
 * `search_*`, `detect_storage_pools`, `screenshot`, `block_read`, `mem_read`, `data_read`.
 * Any other permission (`write`, `save`, `start`, `open_graphics`, ...) makes it `write`, so a call
 * that may change state under some flag counts as a write. `@acl: none` (events, auth, close) is
 * `read`. The admin and keepalive programs carry no `@acl` lines: an admin procedure is `write`
 * when its name has a `SET_` or `UPDATE_` verb or is `CLIENT_CLOSE`, else `read`; keepalive is
 * `read`.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { XdrDefinition, XdrFile } from "./xdr_ast.ts";
import { parseXdr } from "./xdr_parser.ts";
import type {
  AccessClass,
  ProcedureSchema,
  ProgramSchema,
  SchemaFile,
  TypeExpr,
} from "../src/audit/schema_types.ts";
import { renderSchemaModule } from "./gen_schema_render.ts";
import {
  checkReferences,
  Constants,
  declarationType,
  enumType,
  PRIMITIVES,
  structType,
  unionType,
} from "./gen_schema_types.ts";

export { EXTERNAL_CONSTANTS } from "./gen_schema_types.ts";

/** One .x file of the schema and the module it becomes. */
export interface SchemaSource {
  /** Path relative to the libvirt source tree. */
  file: string;
  /** Module suffix: src/audit/schema_<module>.ts. */
  module: string;
  /** The program key (`REMOTE` for REMOTE_PROGRAM), when the file defines a program. */
  program?: string;
  /** The type of the program's error replies. */
  error?: string;
}

/** The six files, in the order their definitions may refer to each other. */
export const SCHEMA_SOURCES: readonly SchemaSource[] = [
  { file: "src/rpc/virnetprotocol.x", module: "virnet" },
  { file: "src/rpc/virkeepaliveprotocol.x", module: "keepalive", program: "KEEPALIVE" },
  { file: "src/remote/remote_protocol.x", module: "remote", program: "REMOTE" },
  { file: "src/remote/qemu_protocol.x", module: "qemu", program: "QEMU" },
  { file: "src/remote/lxc_protocol.x", module: "lxc", program: "LXC" },
  { file: "src/admin/admin_protocol.x", module: "admin", program: "ADMIN" },
];

/** The error body per program: remote_error for the remote family, libvirt's own otherwise. */
const ERROR_TYPES: Readonly<Record<string, string>> = {
  REMOTE: "remote_error",
  QEMU: "remote_error",
  LXC: "remote_error",
  ADMIN: "virNetMessageError",
  KEEPALIVE: "virNetMessageError",
};

/** Permissions (src/access/viraccessperm.h) that only observe; `search_*` too. */
const READ_PERMISSIONS = new Set([
  "getattr",
  "read",
  "read_secure",
  "detect_storage_pools",
  "screenshot",
  "block_read",
  "mem_read",
  "data_read",
]);

/** Admin procedures that change the daemon: see the module doc. */
const ADMIN_WRITE = /(^|_)(SET|UPDATE)_|^CLIENT_CLOSE$/;

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEFAULT_OUT = join(REPO_ROOT, "src/audit");

/** Reads `@name: value` lines of a procedure's comment. */
function annotations(comment: string | undefined, key: string): string[] {
  const found: string[] = [];
  for (const match of (comment ?? "").matchAll(/^@([a-z_]+):\s*(.*)$/gm)) {
    if (match[1] === key) found.push(match[2].trim());
  }
  return found;
}

/** The access class of one procedure: see the module doc. */
export function accessClass(program: string, name: string, acls: string[]): AccessClass {
  if (program === "ADMIN") return ADMIN_WRITE.test(name) ? "write" : "read";
  for (const acl of acls) {
    if (acl === "none") continue;
    const permission = acl.split(":")[1] ?? "";
    if (!READ_PERMISSIONS.has(permission) && !permission.startsWith("search_")) return "write";
  }
  return "read";
}

/**
 * Stream-opening procedures without a stream annotation (their dispatch is hand-written; see
 * tools/gen_protocol.ts, which keeps the same list for src/wire/procedures.ts).
 */
const UNANNOTATED_STREAMS: Readonly<Record<string, "read" | "write">> = {
  "REMOTE:DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS": "write",
};

/** Everything the generator found, for its report and tests. */
export interface SchemaResult {
  /** The schema per source, in {@linkcode SCHEMA_SOURCES} order. */
  files: SchemaFile[];
  /** `_args`/`_ret`/`_msg` types that no procedure uses. */
  unusedBodyTypes: string[];
}

function findDefinition(file: XdrFile, kind: XdrDefinition["kind"], name: string) {
  return file.definitions.find((definition) =>
    definition.kind === kind && "name" in definition && definition.name === name
  );
}

function readProgram(
  source: SchemaSource,
  parsed: XdrFile,
  constants: Constants,
  types: ReadonlyMap<string, TypeExpr>,
  used: Set<string>,
): ProgramSchema {
  const key = source.program!;
  const prefix = key.toLowerCase();
  const value = (name: string) => {
    const found = findDefinition(parsed, "const", name);
    if (!found || found.kind !== "const") throw new Error(`Cannot find ${name} in ${source.file}`);
    return constants.resolve(found.value, source.file);
  };
  const procedureEnum = findDefinition(parsed, "enum", `${prefix}_procedure`);
  if (!procedureEnum || procedureEnum.kind !== "enum") {
    throw new Error(`Cannot find enum ${prefix}_procedure in ${source.file}`);
  }
  const procedures: Record<number, ProcedureSchema> = {};
  for (const member of procedureEnum.members) {
    const number = constants.resolve(member.value, source.file);
    const name = member.name.slice(`${key}_PROC_`.length);
    if (!member.name.startsWith(`${key}_PROC_`) || number in procedures) {
      throw new Error(`Cannot read procedure ${member.name} of ${source.file}`);
    }
    const body = (suffix: string) => {
      const typeName = `${prefix}_${name.toLowerCase()}_${suffix}`;
      if (!types.has(typeName)) return null;
      used.add(typeName);
      return typeName;
    };
    const access = accessClass(key, name, annotations(member.comment, "acl"));
    const procedure: [string, string | null, string | null, string | null, AccessClass] = [
      name,
      body("args"),
      body("ret"),
      body("msg"),
      access,
    ];
    const stream = annotations(member.comment, "readstream").length
      ? "read"
      : annotations(member.comment, "writestream").length
      ? "write"
      : UNANNOTATED_STREAMS[`${key}:${name}`];
    procedures[number] = stream ? [...procedure, stream] : procedure;
  }
  return {
    name: key,
    number: value(`${key}_PROGRAM`),
    version: value(`${key}_PROTOCOL_VERSION`),
    error: ERROR_TYPES[key],
    procedures,
  };
}

/**
 * Reads the six .x files under `sourceDir` into the schema.
 *
 * @param sourceDir The top of the libvirt source tree.
 * @returns The schema per file and the body types no procedure claimed.
 * @throws {Error} When a file is missing, a name cannot be resolved or a name is defined twice.
 */
export async function buildSchema(sourceDir: string): Promise<SchemaResult> {
  const constants = new Constants();
  const parsed: XdrFile[] = [];
  for (const source of SCHEMA_SOURCES) {
    const path = join(sourceDir, source.file);
    const file = parseXdr(await Deno.readTextFile(path), { fileName: path });
    parsed.push(file);
    for (const definition of file.definitions) {
      if (definition.kind === "const") {
        constants.define(definition.name, definition.value, source.file);
      }
      if (definition.kind === "enum") {
        for (const member of definition.members) {
          constants.define(member.name, member.value, source.file);
        }
      }
    }
  }
  const allTypes = new Map<string, TypeExpr>();
  const perFile: { constants: Record<string, number>; types: Record<string, TypeExpr> }[] = [];
  for (const [index, source] of SCHEMA_SOURCES.entries()) {
    const fileConstants: Record<string, number> = {};
    const types: Record<string, TypeExpr> = {};
    const procedureEnum = source.program ? `${source.program.toLowerCase()}_procedure` : undefined;
    for (const definition of parsed[index].definitions) {
      if (definition.kind === "passthrough") continue;
      const where = `${source.file}: ${definition.name}`;
      if (definition.kind === "const") {
        fileConstants[definition.name] = constants.resolve(definition.value, where);
        continue;
      }
      if (definition.name === procedureEnum) continue;
      let type: TypeExpr;
      if (definition.kind === "enum") type = enumType(definition.members, constants, where);
      else if (definition.kind === "struct") {
        type = structType(definition.members, constants, where);
      } else if (definition.kind === "union") type = unionType(definition.body, constants, where);
      else type = declarationType(definition.declaration, constants, where);
      if (allTypes.has(definition.name) || definition.name in PRIMITIVES) {
        throw new Error(`Cannot define type "${definition.name}" twice (${where})`);
      }
      allTypes.set(definition.name, type);
      types[definition.name] = type;
    }
    perFile.push({ constants: fileConstants, types });
  }
  checkReferences(allTypes);
  const used = new Set<string>();
  const files = SCHEMA_SOURCES.map((source, index): SchemaFile => ({
    file: source.file,
    ...perFile[index],
    ...(source.program
      ? { program: readProgram(source, parsed[index], constants, allTypes, used) }
      : {}),
  }));
  const unusedBodyTypes = [...allTypes.keys()].filter((name) =>
    /_(args|ret|msg)$/.test(name) && !used.has(name)
  );
  return { files, unusedBodyTypes };
}

async function findLibvirtVersion(sourceDir: string): Promise<string> {
  const fromDir = /libvirt-(\d+\.\d+\.\d+)\/*$/.exec(sourceDir);
  if (fromDir) return fromDir[1];
  try {
    const meson = await Deno.readTextFile(join(sourceDir, "meson.build"));
    const found = /^\s*version:\s*'(\d+\.\d+\.\d+)'/m.exec(meson);
    if (found) return found[1];
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  throw new Error(
    `Cannot tell the libvirt version of "${sourceDir}": pass --libvirt-version X.Y.Z`,
  );
}

async function main(args: string[]): Promise<number> {
  let sourceDir: string | undefined;
  let out = DEFAULT_OUT;
  let libvirtVersion: string | undefined;
  let usageError = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--out") out = args[++i];
    else if (args[i] === "--libvirt-version") libvirtVersion = args[++i];
    else if (!args[i].startsWith("-") && sourceDir === undefined) sourceDir = args[i];
    else usageError = true;
  }
  if (usageError || sourceDir === undefined || !out) {
    console.error(
      "Usage: deno run -A tools/gen_schema.ts <libvirt source dir> [--out DIR] " +
        "[--libvirt-version X.Y.Z]",
    );
    return 2;
  }
  libvirtVersion ??= await findLibvirtVersion(sourceDir);
  const { files, unusedBodyTypes } = await buildSchema(sourceDir);
  const lines: string[] = [];
  for (const [index, source] of SCHEMA_SOURCES.entries()) {
    const path = join(out, `schema_${source.module}.ts`);
    const text = renderSchemaModule(files[index], source.module, libvirtVersion);
    await Deno.writeTextFile(path, text);
    const program = files[index].program;
    const procedures = program ? Object.values(program.procedures) : [];
    lines.push(
      `${path}: ${text.length} bytes, ${Object.keys(files[index].types).length} types, ` +
        `${Object.keys(files[index].constants).length} constants` +
        (program
          ? `, ${program.name}: ${procedures.length} procedures, ` +
            `${procedures.filter((p) => p[4] === "write").length} write, ` +
            `${procedures.filter((p) => p[5]).length} streams`
          : ""),
    );
  }
  if (unusedBodyTypes.length) {
    lines.push(`body types no procedure uses: ${unusedBodyTypes.join(", ")}`);
  }
  console.log(lines.join("\n"));
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
