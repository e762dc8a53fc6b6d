/**
 * `[audit]` and its `[[audit.rule]]` tables: their keys, types and defaults, declared once, and
 * their reader.
 *
 * @module
 */

import { procedurePatternKnown } from "../wire/procedure_globs.ts";
import { type Checker, describe, quote, type Section, stringArray, tableArray } from "./_fields.ts";
import {
  booleanValue,
  defaultsOf,
  type Fields,
  integerIn,
  oneOfValues,
  readSection,
  secondsUpTo,
  stringList,
  stringValue,
} from "./_section.ts";
import { MAX_SECONDS } from "./limits_section.ts";
import { readMode } from "./listen_section.ts";

/** The levels of a rule, least to most. */
export const AUDIT_LEVELS = ["none", "metadata", "request", "request_response"] as const;

/** One `[[audit.rule]]`: what it matches and the level it gives. */
export interface AuditRuleConfig {
  /** Listener socket paths (or `stdio`), `*` globs allowed; absent: every listener. */
  listeners?: string[];
  /** Procedure names or globs (`DOMAIN_*`); absent: every procedure. */
  procedures?: string[];
  /** `read` or `write` (libvirt's `@acl` annotations); absent: both. */
  class?: "read" | "write";
  /** `none`, `metadata`, `request` or `request_response`. */
  level: typeof AUDIT_LEVELS[number];
}

/** `[audit]`: the hash-chained audit log of every call, event and stream. */
export interface AuditConfig {
  /**
   * Whether calls are decoded and logged.
   *
   * @default {false}
   */
  enabled: boolean;
  /**
   * Where the log is written (rotated files beside it: `PATH.1` ...).
   *
   * @default {"/var/log/virtmux/audit.jsonl"}
   */
  path: string;
  /**
   * Rotate when the file reaches this many bytes.
   *
   * @default {67108864}
   */
  rotateBytes: number;
  /**
   * Rotated files kept.
   *
   * @default {10}
   */
  keep: number;
  /**
   * Seal the chain this often while records arrive, in ms (`seal_interval`, seconds).
   *
   * @default {5000}
   */
  sealIntervalMs: number;
  /** The key state file of `virtmux audit init-key --state`; absent: no seals. */
  keyState?: string;
  /**
   * `block`: forwarding waits for the log, nothing is lost; `drop`: records past the buffer are
   * counted and dropped.
   *
   * @default {"block"}
   */
  backpressure: "block" | "drop";
  /**
   * Bytes of records queued in memory before backpressure applies.
   *
   * @default {4194304}
   */
  maxBufferedBytes: number;
  /**
   * fdatasync this long after the first unsynced write, in ms (`sync_interval`, seconds; 0:
   * after every batch).
   *
   * @default {100}
   */
  syncIntervalMs: number;
  /**
   * Permission bits of the files created (`mode = "0600"`).
   *
   * @default {0o600}
   */
  mode: number;
  /**
   * Largest record in bytes of JSON; past it, long strings keep a prefix, their length and
   * SHA-256.
   *
   * @default {131072}
   */
  maxRecordBytes: number;
  /**
   * Field names redacted wherever they occur in decoded bodies.
   *
   * @default {[]}
   */
  redactFields: string[];
  /**
   * The policy's rules in order (`[[audit.rule]]`); the shipped defaults follow them.
   *
   * @default {[]}
   */
  rules: AuditRuleConfig[];
}

const RULE_FIELDS: Fields<AuditRuleConfig> = {
  listeners: { key: "listener", read: readListeners },
  procedures: { key: "procedures", read: readProcedurePatterns },
  class: { key: "class", read: oneOfValues(["read", "write"] as const) },
  level: { key: "level", read: readLevel, placeholder: "none" },
};

const AUDIT_FIELDS: Fields<AuditConfig> = {
  enabled: { key: "enabled", read: booleanValue, default: false },
  path: { key: "path", read: readPath, default: "/var/log/virtmux/audit.jsonl" },
  rotateBytes: {
    key: "rotate_bytes",
    read: integerIn(65536, Number.MAX_SAFE_INTEGER, "65536 and 2^53"),
    default: 64 * 1024 * 1024,
  },
  keep: { key: "keep", read: integerIn(1, 10000), default: 10 },
  sealIntervalMs: {
    key: "seal_interval",
    read: secondsUpTo(MAX_SECONDS, false),
    default: 5000,
  },
  keyState: { key: "key_state", read: readPath },
  backpressure: {
    key: "backpressure",
    read: oneOfValues(["block", "drop"] as const),
    default: "block",
  },
  maxBufferedBytes: {
    key: "max_buffered_bytes",
    read: integerIn(65536, 1 << 30, "65536 and 1073741824"),
    default: 4 * 1024 * 1024,
  },
  syncIntervalMs: { key: "sync_interval", read: secondsUpTo(60, true), default: 100 },
  mode: { key: "mode", read: readMode, default: 0o600 },
  maxRecordBytes: {
    key: "max_record_bytes",
    read: integerIn(4096, 64 * 1024 * 1024, "4096 and 67108864"),
    default: 131072,
  },
  redactFields: { key: "redact_fields", read: stringList, default: [] },
  rules: { key: "rule", read: readRules, default: [], header: "[[audit.rule]]" },
};

/** The defaults of `[audit]`. */
export const AUDIT_DEFAULTS: Readonly<AuditConfig> = defaultsOf(AUDIT_FIELDS) as AuditConfig;

/** Reads `[audit]`; its defaults when the table is absent. */
export function readAudit(checker: Checker, section: Section | undefined): AuditConfig {
  return readSection(checker, section, AUDIT_FIELDS, undefined);
}

/** A non-empty path. */
function readPath(checker: Checker, section: Section, key: string): string | undefined {
  const value = stringValue(checker, section, key, undefined);
  if (value === "") checker.report([...section.path, key], `${quote(key)} must not be empty`);
  return value === "" ? undefined : value;
}

/** Every `[[audit.rule]]`, in order. */
function readRules(checker: Checker, section: Section, key: string): AuditRuleConfig[] {
  return tableArray(checker, section, key).map((rule) =>
    readSection(checker, { ...rule, label: "[[audit.rule]]" }, RULE_FIELDS, undefined)
  );
}

/** `listener = "PATH"` or `listener = ["PATH", ...]`. */
function readListeners(checker: Checker, section: Section, key: string): string[] | undefined {
  const value = section.table[key];
  if (value === undefined) return undefined;
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return stringArray(checker, section, key);
  checker.report(
    [...section.path, key],
    `${quote(key)} must be a socket path or an array of them, got ${describe(value)}`,
  );
  return undefined;
}

/** Procedure names or globs, each of which must match a procedure libvirt 9.0 has. */
function readProcedurePatterns(
  checker: Checker,
  section: Section,
  key: string,
): string[] | undefined {
  const patterns = stringArray(checker, section, key);
  patterns?.forEach((pattern, index) => {
    if (!procedurePatternKnown(pattern)) {
      checker.report(
        [...section.path, key, index],
        `${quote(pattern)} in ${quote(key)} matches no procedure: use libvirt's names or globs, ` +
          `e.g. "DOMAIN_DESTROY", "DOMAIN_*", "QEMU_PROC_*" or "virDomainDestroy"`,
      );
    }
  });
  return patterns;
}

/** The required `level`. */
function readLevel(
  checker: Checker,
  section: Section,
  key: string,
): AuditRuleConfig["level"] | undefined {
  if (!Object.hasOwn(section.table, key)) {
    checker.report(section.path, `missing required key ${quote(key)} in [[audit.rule]]`);
    return undefined;
  }
  return oneOfValues(AUDIT_LEVELS)(checker, section, key, undefined);
}
