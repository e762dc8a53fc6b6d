import assert from "node:assert/strict";
import { AUDIT_DEFAULTS, readAudit } from "../../src/config/audit_section.ts";
import { problems, table } from "../_helpers/config_section.ts";

Deno.test("[audit] defaults: off, block, no seals, the shipped policy only", () => {
  assert.deepEqual(AUDIT_DEFAULTS, {
    enabled: false,
    path: "/var/log/virtmux/audit.jsonl",
    rotateBytes: 67108864,
    keep: 10,
    sealIntervalMs: 5000,
    backpressure: "block",
    maxBufferedBytes: 4194304,
    syncIntervalMs: 100,
    mode: 0o600,
    maxRecordBytes: 131072,
    redactFields: [],
    rules: [],
  });
});

Deno.test("[audit] reads every key and its rules in order", () => {
  const { checker, section } = table(
    "audit",
    `enabled = true
path = "/var/log/v/audit.jsonl"
rotate_bytes = 1048576
keep = 3
seal_interval = 2.5
key_state = "/var/lib/v/audit.state"
backpressure = "drop"
max_buffered_bytes = 65536
sync_interval = 0
mode = "0640"
max_record_bytes = 8192
redact_fields = ["xml"]

[[audit.rule]]
listener = "/run/v/ro.sock"
level = "none"

[[audit.rule]]
listener = ["/run/v/*.sock", "stdio"]
procedures = ["DOMAIN_*", "virNetworkCreate"]
class = "write"
level = "request"
`,
  );
  const audit = readAudit(checker, section);
  assert.deepEqual(problems(checker), []);
  assert.deepEqual(audit, {
    enabled: true,
    path: "/var/log/v/audit.jsonl",
    rotateBytes: 1048576,
    keep: 3,
    sealIntervalMs: 2500,
    keyState: "/var/lib/v/audit.state",
    backpressure: "drop",
    maxBufferedBytes: 65536,
    syncIntervalMs: 0,
    mode: 0o640,
    maxRecordBytes: 8192,
    redactFields: ["xml"],
    rules: [
      { listeners: ["/run/v/ro.sock"], level: "none" },
      {
        listeners: ["/run/v/*.sock", "stdio"],
        procedures: ["DOMAIN_*", "virNetworkCreate"],
        class: "write",
        level: "request",
      },
    ],
  });
});

Deno.test("[audit] reports bad keys and rules where they are", () => {
  const { checker, section } = table(
    "audit",
    `backpressure = "wait"
keep = 0
path = ""
max_record_bytes = 100

[[audit.rule]]
procedures = ["NO_SUCH_CALL"]
class = "admin"

[[audit.rule]]
listener = 5
level = "everything"
levle = "none"
`,
  );
  readAudit(checker, section);
  assert.deepEqual(problems(checker), [
    '2:1: "backpressure" must be one of "block", "drop", got "wait"',
    '3:1: "keep" must be between 1 and 10000, got 0',
    '4:1: "path" must not be empty',
    '5:1: "max_record_bytes" must be between 4096 and 67108864, got 100',
    '7:1: missing required key "level" in [[audit.rule]]',
    '8:15: "NO_SUCH_CALL" in "procedures" matches no procedure: use libvirt\'s names or globs, ' +
    'e.g. "DOMAIN_DESTROY", "DOMAIN_*", "QEMU_PROC_*" or "virDomainDestroy"',
    '9:1: "class" must be one of "read", "write", got "admin"',
    '12:1: "listener" must be a socket path or an array of them, got integer 5',
    '13:1: "level" must be one of "none", "metadata", "request", "request_response", ' +
    'got "everything"',
    '14:1: unknown key "levle" in [[audit.rule]]; did you mean "level"?',
  ]);
});
