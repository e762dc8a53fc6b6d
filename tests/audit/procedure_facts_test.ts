import assert from "node:assert/strict";
import { callKey, factsOf } from "../../src/audit/procedure_facts.ts";
import { Program } from "../../src/wire/constants.ts";

Deno.test("procedure facts: names, class, stream and where the object is", () => {
  assert.deepEqual(factsOf(Program.REMOTE, 12), {
    program: "REMOTE",
    procedure: "DOMAIN_DESTROY",
    class: "write",
    stream: false,
    argsObject: true,
    replyObject: false,
  });
  assert.equal(factsOf(Program.REMOTE, 211).stream, true); // DOMAIN_SCREENSHOT
  assert.equal(factsOf(Program.REMOTE, 23).replyObject, true); // DOMAIN_LOOKUP_BY_NAME
  assert.equal(factsOf(Program.REMOTE, 23).argsObject, false);
  assert.deepEqual(factsOf(Program.REMOTE, 99999), {
    program: "REMOTE",
    procedure: 99999,
    class: undefined,
    stream: false,
    argsObject: false,
    replyObject: false,
  });
  assert.equal(factsOf(7, 1).program, 7);
});

Deno.test("call keys tell programs apart with one number", () => {
  assert.notEqual(callKey(Program.REMOTE, 5), callKey(Program.QEMU, 5));
  assert.equal(callKey(Program.REMOTE, 0xffffffff), 0xffffffff);
  assert.equal(callKey(Program.ADMIN, 1), 3 * 2 ** 32 + 1);
});
