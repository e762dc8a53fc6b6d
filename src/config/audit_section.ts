/**
 * `[audit]`: its keys, types and defaults, declared once, and its reader. Audit logging is not
 * built yet: only `enabled = false` is accepted.
 *
 * @module
 */

import { boolean, type Checker, type Section } from "./_fields.ts";
import { defaultsOf, type Fields, readSection, stringValue } from "./_section.ts";

/** `[audit]`: the hash-chained audit log (not built yet: only `enabled = false` is accepted). */
export interface AuditConfig {
  /**
   * Whether calls are decoded and logged.
   *
   * @default {false}
   */
  enabled: boolean;
  /**
   * Where the log is written.
   *
   * @default {"/var/log/virtmux/audit.jsonl"}
   */
  path: string;
}

const AUDIT_FIELDS: Fields<AuditConfig> = {
  enabled: {
    key: "enabled",
    read: (checker, section, key) => {
      const enabled = boolean(checker, section, key);
      if (enabled) checker.report([...section.path, key], "audit logging is not built yet");
      return enabled;
    },
    default: false,
  },
  path: { key: "path", read: stringValue, default: "/var/log/virtmux/audit.jsonl" },
};

/** The defaults of `[audit]`. */
export const AUDIT_DEFAULTS: Readonly<AuditConfig> = defaultsOf(AUDIT_FIELDS) as AuditConfig;

/** Reads `[audit]`; its defaults when the table is absent. */
export function readAudit(checker: Checker, section: Section | undefined): AuditConfig {
  return readSection(checker, section, AUDIT_FIELDS, undefined);
}
