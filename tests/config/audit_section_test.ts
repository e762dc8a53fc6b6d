import assert from "node:assert/strict";
import { AUDIT_DEFAULTS, readAudit } from "../../src/config/audit_section.ts";
import { problems, table } from "../_helpers/config_section.ts";

Deno.test("[audit] accepts enabled = false and a path", () => {
  const { checker, section } = table("audit", 'enabled = false\npath = "/tmp/a.jsonl"');
  assert.deepEqual(readAudit(checker, section), { enabled: false, path: "/tmp/a.jsonl" });
  assert.deepEqual(AUDIT_DEFAULTS, { enabled: false, path: "/var/log/virtmux/audit.jsonl" });
});

Deno.test("[audit] refuses enabled = true: audit logging is not built yet", () => {
  const { checker, section } = table("audit", "enabled = true");
  readAudit(checker, section);
  assert.deepEqual(problems(checker), ["2:1: audit logging is not built yet"]);
});
