import assert from "node:assert/strict";
import { parseRequest } from "../../src/control/protocol.ts";

Deno.test("parseRequest reads the three commands", () => {
  assert.deepEqual(parseRequest('{"command":"status"}'), { command: "status" });
  assert.deepEqual(parseRequest('{"command":"clients","x":1}'), { command: "clients" });
  assert.deepEqual(parseRequest('{"command":"client-disconnect","id":4}'), {
    command: "client-disconnect",
    id: 4,
  });
});

Deno.test("parseRequest refuses what is not a request", () => {
  const table: [string, RegExp][] = [
    ["status", /not JSON/],
    ["[1]", /unknown command/],
    ["null", /expected an object/],
    ['{"command":"reboot"}', /unknown command "reboot"/],
    ['{"command":"client-disconnect"}', /needs a client id, got undefined/],
    ['{"command":"client-disconnect","id":0}', /needs a client id, got 0/],
    ['{"command":"client-disconnect","id":"3"}', /needs a client id, got "3"/],
  ];
  for (const [line, error] of table) assert.throws(() => parseRequest(line), error, line);
});
