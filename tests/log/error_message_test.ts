import assert from "node:assert/strict";
import { errorMessage } from "../../src/log/error_message.ts";

Deno.test("an Error gives its message, whatever its class", () => {
  assert.equal(errorMessage(new Error("Connection refused")), "Connection refused");
  assert.equal(errorMessage(new TypeError("bad type")), "bad type");
  assert.equal(errorMessage(new Deno.errors.NotFound("no such file")), "no such file");
  assert.equal(errorMessage(new Error("")), "");
});

Deno.test("anything else gives its string form", () => {
  assert.equal(errorMessage("plain"), "plain");
  assert.equal(errorMessage(42), "42");
  assert.equal(errorMessage(undefined), "undefined");
  assert.equal(errorMessage(null), "null");
  assert.equal(errorMessage({ toString: () => "custom" }), "custom");
  assert.equal(errorMessage({ message: "not an Error" }), "[object Object]");
});
