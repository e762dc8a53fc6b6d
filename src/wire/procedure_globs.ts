/**
 * Procedure names and globs as the audit policy matches them: a pattern (`*` any run, `?` one
 * character, case ignored) matches a procedure when it matches its bare enum name
 * (`DOMAIN_DESTROY`), its prefixed name (`REMOTE_PROC_DOMAIN_DESTROY`) or its API name
 * (`virDomainDestroy`). Kept apart from the policy so that the config can check patterns
 * without loading the audit schema (src/audit/policy.ts matches with it).
 *
 * @module
 */

import { Program } from "./constants.ts";
import {
  ADMIN_PROCEDURES,
  KEEPALIVE_PROCEDURES,
  LXC_PROCEDURES,
  type ProcedureTable,
  QEMU_PROCEDURES,
  REMOTE_PROCEDURES,
} from "./procedures.ts";

/** Program names by number, for `PROGRAM_PROC_NAME` spellings. */
export const PROGRAM_PREFIXES = new Map<number, string>(
  Object.entries(Program).map(([name, number]) => [number, name]),
);

const TABLES: readonly ProcedureTable[] = [
  REMOTE_PROCEDURES,
  QEMU_PROCEDURES,
  LXC_PROCEDURES,
  ADMIN_PROCEDURES,
  KEEPALIVE_PROCEDURES,
];
const TABLE_PREFIXES = ["REMOTE", "QEMU", "LXC", "ADMIN", "KEEPALIVE"];

/**
 * A regular expression matching any of `globs` (`*` any run, `?` one character), whole and
 * ignoring case.
 */
export function globsToRegExp(globs: readonly string[]): RegExp {
  const alternatives = globs.map((glob) =>
    glob.trim().replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")
  );
  return new RegExp(`^(?:${alternatives.join("|")})$`, "i");
}

/** Whether `glob` (a procedure name or pattern) matches at least one procedure libvirt knows. */
export function procedurePatternKnown(glob: string): boolean {
  const pattern = globsToRegExp([glob]);
  return TABLES.some((table, index) =>
    Object.values(table).some((info) =>
      procedureSpellings(TABLE_PREFIXES[index], info.name, info.api).some((s) => pattern.test(s))
    )
  );
}

export function procedureSpellings(
  prefix: string,
  name: string,
  api: string | undefined,
): string[] {
  const spellings = [name, `${prefix}_PROC_${name}`];
  if (api !== undefined) spellings.push(api);
  return spellings;
}
