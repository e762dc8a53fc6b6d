import assert from "node:assert/strict";
import { eventObject, replyNamesObject } from "../../src/audit/handles.ts";
import { Program } from "../../src/wire/constants.ts";

Deno.test("replies that name an object are known from the schema", () => {
  assert.equal(replyNamesObject(Program.REMOTE, 23), true); // DOMAIN_LOOKUP_BY_NAME
  assert.equal(replyNamesObject(Program.REMOTE, 3), false); // CONNECT_GET_TYPE
  assert.equal(replyNamesObject(Program.REMOTE, 12), false); // DOMAIN_DESTROY: no ret
  assert.equal(replyNamesObject(Program.REMOTE, 99999), false);
});

Deno.test("events name their object, nested in callback events", () => {
  const dom = { name: "vm", uuid: "u", id: 1 };
  assert.deepEqual(eventObject(Program.REMOTE, 107, { dom, event: 0, detail: 0 }), {
    kind: "domain",
    ...dom,
  }); // DOMAIN_EVENT_LIFECYCLE
  assert.deepEqual(
    eventObject(Program.REMOTE, 318, { callbackID: 1, msg: { dom, event: 0, detail: 0 } }),
    { kind: "domain", ...dom },
  ); // DOMAIN_EVENT_CALLBACK_LIFECYCLE
  assert.equal(eventObject(Program.REMOTE, 318, undefined), undefined);
  assert.equal(eventObject(Program.REMOTE, 99999, {}), undefined);
});
