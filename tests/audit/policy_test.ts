import assert from "node:assert/strict";
import { AuditLevel, AuditPolicy, DEFAULT_AUDIT_RULES } from "../../src/audit/policy.ts";
import { Program } from "../../src/wire/constants.ts";

const REMOTE = Program.REMOTE;
const DESTROY = 12; // DOMAIN_DESTROY, write
const GET_TYPE = 3; // CONNECT_GET_TYPE, read
const LOOKUP = 23; // DOMAIN_LOOKUP_BY_NAME, read
const LIFECYCLE_EVENT = 318; // DOMAIN_EVENT_CALLBACK_LIFECYCLE, read
const MONITOR = 1; // QEMU DOMAIN_MONITOR_COMMAND, write

Deno.test("the shipped default records writes in full and reads as metadata", () => {
  assert.deepEqual(DEFAULT_AUDIT_RULES, [
    { class: "write", level: "request_response" },
    { class: "read", level: "metadata" },
  ]);
  const policy = new AuditPolicy([]);
  assert.equal(policy.level("/a.sock", REMOTE, DESTROY), AuditLevel.REQUEST_RESPONSE);
  assert.equal(policy.level("/a.sock", REMOTE, GET_TYPE), AuditLevel.METADATA);
  assert.equal(policy.level("/a.sock", REMOTE, LIFECYCLE_EVENT), AuditLevel.METADATA);
  assert.equal(policy.level("/a.sock", Program.QEMU, MONITOR), AuditLevel.REQUEST_RESPONSE);
});

Deno.test("an unknown procedure matches only rules without class and procedures", () => {
  assert.equal(new AuditPolicy([]).level("/a", REMOTE, 99999), AuditLevel.NONE);
  const all = new AuditPolicy([{ level: "request" }]);
  assert.equal(all.level("/a", REMOTE, 99999), AuditLevel.REQUEST);
});

Deno.test("the first matching rule wins, by listener, procedure glob, API name and class", () => {
  const policy = new AuditPolicy([
    { listeners: ["/run/ro/*"], level: "none" },
    { procedures: ["domain_lookup_*"], level: "request_response" },
    { procedures: ["virConnectGetType"], level: "request" },
    { procedures: ["QEMU_PROC_*"], level: "metadata" },
    { listeners: ["stdio"], class: "read", level: "none" },
  ]);
  assert.equal(policy.level("/run/ro/a.sock", REMOTE, DESTROY), AuditLevel.NONE);
  assert.equal(policy.level("/run/rw.sock", REMOTE, LOOKUP), AuditLevel.REQUEST_RESPONSE);
  assert.equal(policy.level("/run/rw.sock", REMOTE, GET_TYPE), AuditLevel.REQUEST);
  assert.equal(policy.level("/run/rw.sock", Program.QEMU, MONITOR), AuditLevel.METADATA);
  assert.equal(policy.level("stdio", REMOTE, LIFECYCLE_EVENT), AuditLevel.NONE);
  // Falls through to the shipped default.
  assert.equal(policy.level("stdio", REMOTE, DESTROY), AuditLevel.REQUEST_RESPONSE);
  // Cached answers stay the same.
  assert.equal(policy.level("/run/rw.sock", REMOTE, LOOKUP), AuditLevel.REQUEST_RESPONSE);
});

Deno.test("a catch-all rule replaces the shipped default", () => {
  const policy = new AuditPolicy([{ class: "write", level: "metadata" }, { level: "none" }]);
  assert.equal(policy.level("/a", REMOTE, DESTROY), AuditLevel.METADATA);
  assert.equal(policy.level("/a", REMOTE, GET_TYPE), AuditLevel.NONE);
});
