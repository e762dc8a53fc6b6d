import assert from "node:assert/strict";
import { describeCause, withDeadline } from "../../src/transport/_dial_common.ts";
import { DialError } from "../../src/transport/channel.ts";

Deno.test("withDeadline passes a result or an error through when in time", async () => {
  assert.equal(await withDeadline("Cannot connect", 1000, () => Promise.resolve(7)), 7);
  await assert.rejects(
    withDeadline("Cannot connect", 1000, () => Promise.reject(new Error("refused"))),
    { message: "refused" },
  );
});

Deno.test("withDeadline says what timed out, and cleans up what arrives too late", async () => {
  let deliver: (value: string) => void = () => {};
  const late = new Promise<string>((resolve) => deliver = resolve);
  const cleaned: string[] = [];
  await assert.rejects(
    withDeadline(`Cannot connect to upstream "hv1"`, 20, () => late, (v) => cleaned.push(v)),
    (error: unknown) => {
      assert.ok(error instanceof DialError);
      assert.equal(error.message, `Cannot connect to upstream "hv1": timed out after 20 ms`);
      return true;
    },
  );
  assert.deepEqual(cleaned, []);
  deliver("socket");
  await late;
  await Promise.resolve();
  assert.deepEqual(cleaned, ["socket"]);
});

Deno.test("describeCause gives an error's message or a value's string form", () => {
  assert.equal(
    describeCause(new Deno.errors.ConnectionRefused("Connection refused")),
    "Connection refused",
  );
  assert.equal(describeCause("plain"), "plain");
});
