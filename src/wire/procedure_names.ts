/**
 * Lookups over the generated procedure tables (./procedures.ts): by number for logs and stream
 * routing, by name for configuration that lists procedures.
 *
 * @example Name a procedure and find it again
 * ```ts
 * import assert from "node:assert/strict";
 * import { Program } from "./constants.ts";
 * import { procedureName, resolveProcedureName } from "./procedure_names.ts";
 *
 * assert.equal(procedureName(Program.REMOTE, 12), "DOMAIN_DESTROY");
 * assert.deepEqual(resolveProcedureName("virDomainDestroy"), { program: Program.REMOTE, procedure: 12 });
 * ```
 *
 * @module
 */

import { Program } from "./constants.ts";
import {
  ADMIN_PROCEDURES,
  KEEPALIVE_PROCEDURES,
  LXC_PROCEDURES,
  type ProcedureInfo,
  type ProcedureTable,
  QEMU_PROCEDURES,
  REMOTE_PROCEDURES,
} from "./procedures.ts";

export type { ProcedureInfo, ProcedureTable };

/** A procedure's identity on the wire: the header's program and procedure fields. */
export interface ProcedureRef {
  /** The program number, one of `Program`. */
  program: number;
  /** The procedure number within the program. */
  procedure: number;
}

/**
 * Each program's table with the prefix of its enum names, in the order bare names resolve:
 * REMOTE first, so `CONNECT_OPEN` is the REMOTE call and not the ADMIN one.
 */
const PROGRAMS: readonly { program: number; prefix: string; table: ProcedureTable }[] = [
  { program: Program.REMOTE, prefix: "REMOTE_PROC_", table: REMOTE_PROCEDURES },
  { program: Program.QEMU, prefix: "QEMU_PROC_", table: QEMU_PROCEDURES },
  { program: Program.LXC, prefix: "LXC_PROC_", table: LXC_PROCEDURES },
  { program: Program.ADMIN, prefix: "ADMIN_PROC_", table: ADMIN_PROCEDURES },
  { program: Program.KEEPALIVE, prefix: "KEEPALIVE_PROC_", table: KEEPALIVE_PROCEDURES },
];

const TABLES = new Map<number, ProcedureTable>(PROGRAMS.map((p) => [p.program, p.table]));

/** Names to procedures, built on first use: prefixed names, bare names and API names. */
let nameIndex: Map<string, ProcedureRef> | undefined;

function buildNameIndex(): Map<string, ProcedureRef> {
  const index = new Map<string, ProcedureRef>();
  for (const { program, prefix, table } of PROGRAMS) {
    for (const [number, info] of Object.entries(table)) {
      const ref = { program, procedure: Number(number) };
      index.set(prefix + info.name, ref);
      // An earlier program keeps a bare name both define.
      if (!index.has(info.name)) index.set(info.name, ref);
      if (info.api) index.set(info.api.toUpperCase(), ref);
    }
  }
  return index;
}

/**
 * Finds what the .x files say about a procedure.
 *
 * @param program The program number from the header.
 * @param procedure The procedure number from the header.
 * @returns The procedure's entry, or `undefined` for an unknown program or procedure.
 *
 * @example Look up a stream-opening call
 * ```ts
 * import assert from "node:assert/strict";
 * import { Program } from "./constants.ts";
 * import { lookupProcedure } from "./procedure_names.ts";
 *
 * assert.equal(lookupProcedure(Program.REMOTE, 211)?.stream, "read");
 * ```
 */
export function lookupProcedure(program: number, procedure: number): ProcedureInfo | undefined {
  return TABLES.get(program)?.[procedure];
}

/**
 * Names a procedure for logs and errors.
 *
 * @param program The program number from the header.
 * @param procedure The procedure number from the header.
 * @returns The enum name without its prefix, such as `"DOMAIN_DESTROY"`, or `"procedure 12345"`
 * when the program or procedure is unknown.
 *
 * @example Name a known and an unknown procedure
 * ```ts
 * import assert from "node:assert/strict";
 * import { Program } from "./constants.ts";
 * import { procedureName } from "./procedure_names.ts";
 *
 * assert.equal(procedureName(Program.REMOTE, 1), "CONNECT_OPEN");
 * assert.equal(procedureName(Program.REMOTE, 12345), "procedure 12345");
 * ```
 */
export function procedureName(program: number, procedure: number): string {
  return lookupProcedure(program, procedure)?.name ?? `procedure ${procedure}`;
}

/**
 * Finds a procedure by any of its spellings: the bare enum name (`DOMAIN_DESTROY`), the prefixed
 * one (`REMOTE_PROC_DOMAIN_DESTROY`, `QEMU_PROC_…`, `LXC_PROC_…`, `ADMIN_PROC_…`,
 * `KEEPALIVE_PROC_…`) or the public API (`virDomainDestroy`, `virDomainQemuMonitorCommand`).
 * Case and surrounding blanks do not matter. A bare name defined by several programs means the
 * first of REMOTE, QEMU, LXC, ADMIN, KEEPALIVE; spell the prefix to pick another.
 *
 * @param text The name to look up.
 * @returns The program and procedure numbers, or `undefined` when no procedure has that name.
 *
 * @example Resolve a QEMU API name
 * ```ts
 * import assert from "node:assert/strict";
 * import { Program } from "./constants.ts";
 * import { resolveProcedureName } from "./procedure_names.ts";
 *
 * assert.deepEqual(resolveProcedureName("virDomainQemuMonitorCommand"), {
 *   program: Program.QEMU,
 *   procedure: 1,
 * });
 * ```
 */
export function resolveProcedureName(text: string): ProcedureRef | undefined {
  nameIndex ??= buildNameIndex();
  const ref = nameIndex.get(text.trim().toUpperCase());
  return ref && { ...ref };
}

/**
 * Tells whether a CALL opens a stream, after which data flows with the call's program,
 * procedure and serial (`@readstream`/`@writestream` in the .x files, plus the one hand-written
 * stream call of 9.0, DOMAIN_MIGRATE_PREPARE_TUNNEL3_PARAMS).
 *
 * @param program The program number from the header.
 * @param procedure The procedure number from the header.
 * @returns `true` for a stream-opening procedure.
 *
 * @example Spot an upload
 * ```ts
 * import assert from "node:assert/strict";
 * import { Program } from "./constants.ts";
 * import { isStreamProcedure } from "./procedure_names.ts";
 *
 * assert.equal(isStreamProcedure(Program.REMOTE, 208), true);
 * assert.equal(isStreamProcedure(Program.REMOTE, 12), false);
 * ```
 */
export function isStreamProcedure(program: number, procedure: number): boolean {
  return lookupProcedure(program, procedure)?.stream !== undefined;
}
