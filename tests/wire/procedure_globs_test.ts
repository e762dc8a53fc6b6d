import assert from "node:assert/strict";
import {
  globsToRegExp,
  procedurePatternKnown,
  procedureSpellings,
} from "../../src/wire/procedure_globs.ts";

Deno.test("globs match whole names, ignoring case, with * and ?", () => {
  const pattern = globsToRegExp(["DOMAIN_*", "net?ork_create"]);
  assert.ok(pattern.test("DOMAIN_DESTROY"));
  assert.ok(pattern.test("domain_get_xml_desc"));
  assert.ok(pattern.test("NETWORK_CREATE"));
  assert.ok(!pattern.test("NODE_GET_INFO"));
  assert.ok(!pattern.test("X_DOMAIN_DESTROY"));
  assert.ok(!globsToRegExp(["a.b"]).test("axb"), "dots are literal");
});

Deno.test("a procedure is spelled bare, prefixed and as its API", () => {
  assert.deepEqual(procedureSpellings("REMOTE", "DOMAIN_DESTROY", "virDomainDestroy"), [
    "DOMAIN_DESTROY",
    "REMOTE_PROC_DOMAIN_DESTROY",
    "virDomainDestroy",
  ]);
});

Deno.test("patterns are known when they match any procedure of any program", () => {
  for (const known of ["DOMAIN_*", "QEMU_PROC_*", "ADMIN_PROC_SERVER_*", "virDomainDestroy", "*"]) {
    assert.ok(procedurePatternKnown(known), known);
  }
  for (const unknown of ["DOMAN_*", "virNoSuchCall", "REMOTE_PROC_PING"]) {
    assert.ok(!procedurePatternKnown(unknown), unknown);
  }
});
