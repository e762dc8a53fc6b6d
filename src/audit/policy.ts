/**
 * The audit policy, after Kubernetes' audit policy: ordered rules, the first that matches a call
 * (or event) decides its level. A rule matches on the listener (socket path or `stdio`, `*`
 * globs), the procedure (names and globs such as `DOMAIN_*`, compared with the bare enum name,
 * the prefixed one `REMOTE_PROC_…` and the API name `virDomainDestroy`, ignoring case) and the
 * procedure's class from libvirt's `@acl` annotations (`read` or `write`); a key left out matches
 * everything. After the configured rules come the shipped defaults
 * ({@linkcode DEFAULT_AUDIT_RULES}): state-changing calls at `request_response`, reads at
 * `metadata`. End the configured rules with a catch-all to replace the defaults.
 *
 * Decided from the header alone, once per (listener, program, procedure), then cached.
 *
 * @example The shipped default
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuditLevel, AuditPolicy } from "./policy.ts";
 *
 * const policy = new AuditPolicy([]);
 * assert.equal(policy.level("/run/a.sock", 0x20008086, 12), AuditLevel.REQUEST_RESPONSE);
 * assert.equal(policy.level("/run/a.sock", 0x20008086, 3), AuditLevel.METADATA);
 * ```
 *
 * @module
 */

import { programIndex } from "../wire/constants.ts";
import { lookupProcedure } from "../wire/procedure_names.ts";
import { globsToRegExp, procedureSpellings, PROGRAM_PREFIXES } from "../wire/procedure_globs.ts";
import { describeProcedure } from "./schema.ts";

/** How much of a call a record carries; higher levels include the lower ones. */
export const AuditLevel = {
  /** No record. */
  NONE: 0,
  /** Who, what procedure, which object, status, latency, sizes; the error of a failed call. */
  METADATA: 1,
  /** Metadata plus the call's decoded arguments (an event's body). */
  REQUEST: 2,
  /** Request plus the reply's decoded return value. */
  REQUEST_RESPONSE: 3,
} as const;

/** One of {@linkcode AuditLevel}. */
export type AuditLevelValue = typeof AuditLevel[keyof typeof AuditLevel];

/** The level names as the config writes them. */
export const AUDIT_LEVEL_NAMES = ["none", "metadata", "request", "request_response"] as const;

/** A level as the config writes it. */
export type AuditLevelName = typeof AUDIT_LEVEL_NAMES[number];

/** One rule as configured (`[[audit.rule]]`). */
export interface AuditRule {
  /** Listener socket paths or `stdio`, with `*` globs; absent: every listener. */
  listeners?: readonly string[];
  /** Procedure names or globs; absent: every procedure. */
  procedures?: readonly string[];
  /** `read` or `write`; absent: both. */
  class?: "read" | "write";
  /** The level of what matches. */
  level: AuditLevelName;
}

/** The shipped default: every state-changing call in full, reads as metadata. */
export const DEFAULT_AUDIT_RULES: readonly AuditRule[] = [
  { class: "write", level: "request_response" },
  { class: "read", level: "metadata" },
];

interface CompiledRule {
  listeners: RegExp | undefined;
  procedures: RegExp | undefined;
  class: "read" | "write" | undefined;
  level: AuditLevelValue;
}

/** A compiled policy; see the module doc. */
export class AuditPolicy {
  readonly #rules: CompiledRule[];
  /** Per listener: the rules that can match it, and levels by (program, procedure). */
  readonly #byListener = new Map<
    string,
    { rules: CompiledRule[]; levels: Map<number, AuditLevelValue> }
  >();

  /** Compiles `rules`, followed by {@linkcode DEFAULT_AUDIT_RULES}. */
  constructor(rules: readonly AuditRule[]) {
    this.#rules = [...rules, ...DEFAULT_AUDIT_RULES].map((rule) => ({
      listeners: rule.listeners?.length ? globsToRegExp(rule.listeners) : undefined,
      procedures: rule.procedures?.length ? globsToRegExp(rule.procedures) : undefined,
      class: rule.class,
      level: AuditLevel[rule.level.toUpperCase() as Uppercase<AuditLevelName>],
    }));
  }

  /**
   * The level of a call or event of `procedure` in `program` through `listener`. Unknown
   * procedures have no class and no name: only rules without `class` and `procedures` match them.
   */
  level(listener: string, program: number, procedure: number): AuditLevelValue {
    let entry = this.#byListener.get(listener);
    if (entry === undefined) {
      entry = {
        rules: this.#rules.filter((r) => r.listeners === undefined || r.listeners.test(listener)),
        levels: new Map(),
      };
      this.#byListener.set(listener, entry);
    }
    const key = (programIndex(program) + 1) * 0x100000000 + (procedure >>> 0);
    let level = entry.levels.get(key);
    if (level === undefined) {
      level = decide(entry.rules, program, procedure);
      entry.levels.set(key, level);
    }
    return level;
  }
}

function decide(rules: CompiledRule[], program: number, procedure: number): AuditLevelValue {
  const described = describeProcedure(program, procedure);
  const info = lookupProcedure(program, procedure);
  const prefix = PROGRAM_PREFIXES.get(program);
  const spellings = info && prefix ? procedureSpellings(prefix, info.name, info.api) : [];
  for (const rule of rules) {
    if (rule.class !== undefined && rule.class !== described?.access) continue;
    if (rule.procedures !== undefined && !spellings.some((s) => rule.procedures!.test(s))) {
      continue;
    }
    return rule.level;
  }
  return AuditLevel.NONE;
}
