/**
 * The whole audit schema: the six generated modules of tools/gen_schema.ts joined into one type
 * namespace and one program table. Importing this module loads about 150 KB of data, so only the
 * audit code imports it (nothing under src/wire or src/proxy does).
 *
 * @example Look up a procedure
 * ```ts
 * import assert from "node:assert/strict";
 * import { procedureSchema } from "./schema.ts";
 *
 * const procedure = procedureSchema(0x20008086, 23); // REMOTE_PROC_DOMAIN_LOOKUP_BY_NAME
 * assert.equal(procedure?.[0], "DOMAIN_LOOKUP_BY_NAME");
 * assert.equal(procedure?.[1], "remote_domain_lookup_by_name_args");
 * assert.equal(procedure?.[4], "read");
 * ```
 *
 * @module
 */

import { SCHEMA_ADMIN } from "./schema_admin.ts";
import { SCHEMA_KEEPALIVE } from "./schema_keepalive.ts";
import { SCHEMA_LXC } from "./schema_lxc.ts";
import { SCHEMA_QEMU } from "./schema_qemu.ts";
import { SCHEMA_REMOTE } from "./schema_remote.ts";
import type {
  AccessClass,
  ProcedureSchema,
  ProgramSchema,
  SchemaFile,
  TypeExpr,
} from "./schema_types.ts";
import { SCHEMA_VIRNET } from "./schema_virnet.ts";

export type {
  AccessClass,
  ProcedureSchema,
  ProgramSchema,
  SchemaFile,
  TypeExpr,
} from "./schema_types.ts";

/** The generated schema of each .x file, in the generator's order. */
export const SCHEMA_FILES: readonly SchemaFile[] = [
  SCHEMA_VIRNET,
  SCHEMA_KEEPALIVE,
  SCHEMA_REMOTE,
  SCHEMA_QEMU,
  SCHEMA_LXC,
  SCHEMA_ADMIN,
];

function joinTypes(): ReadonlyMap<string, TypeExpr> {
  const types = new Map<string, TypeExpr>();
  for (const file of SCHEMA_FILES) {
    for (const [name, type] of Object.entries(file.types)) types.set(name, type);
  }
  return types;
}

/** Every named type of the six files. */
export const SCHEMA_TYPES: ReadonlyMap<string, TypeExpr> = joinTypes();

/** The RPC programs by number: REMOTE, QEMU, LXC, ADMIN and KEEPALIVE. */
export const SCHEMA_PROGRAMS: ReadonlyMap<number, ProgramSchema> = new Map(
  SCHEMA_FILES.flatMap((file) => file.program ? [[file.program.number, file.program]] : []),
);

/**
 * The schema of one procedure, or `undefined` when the program or procedure is unknown.
 *
 * @param program The program number of the header.
 * @param procedure The procedure number of the header.
 */
export function procedureSchema(program: number, procedure: number): ProcedureSchema | undefined {
  return SCHEMA_PROGRAMS.get(program)?.procedures[procedure];
}

/** What the audit policy needs to know of a procedure from the header alone. */
export interface AuditProcedure {
  /** The program's name, such as `REMOTE`. */
  program: string;
  /** The procedure's name without `<PROG>_PROC_`, such as `DOMAIN_DESTROY`. */
  procedure: string;
  /** `read` or `write`, from the procedure's `@acl` annotations (see tools/gen_schema.ts). */
  access: AccessClass;
  /** The stream the call opens, if any (`read`: data flows from the daemon). */
  stream?: "read" | "write";
}

/**
 * Names and classifies a procedure without decoding anything, for `metadata`-level records and
 * policy rules matched on names, globs and read/write class.
 *
 * @param program The program number of the header.
 * @param procedure The procedure number of the header.
 * @returns `undefined` when the program or procedure is unknown.
 *
 * @example Classify DOMAIN_DESTROY
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeProcedure } from "./schema.ts";
 *
 * assert.deepEqual(describeProcedure(0x20008086, 12), {
 *   program: "REMOTE",
 *   procedure: "DOMAIN_DESTROY",
 *   access: "write",
 * });
 * ```
 */
export function describeProcedure(program: number, procedure: number): AuditProcedure | undefined {
  const schema = SCHEMA_PROGRAMS.get(program);
  const found = schema?.procedures[procedure];
  if (!schema || !found) return undefined;
  const described: AuditProcedure = { program: schema.name, procedure: found[0], access: found[4] };
  if (found[5]) described.stream = found[5];
  return described;
}
