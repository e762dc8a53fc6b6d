import assert from "node:assert/strict";
import { accountId } from "../../src/transport/accounts.ts";

Deno.test("accountId reads /etc/passwd and /etc/group, and takes numbers as they are", () => {
  assert.equal(accountId("passwd", "root"), 0);
  assert.equal(accountId("group", "root"), 0);
  assert.equal(accountId("passwd", "4242"), 4242);
  assert.equal(accountId("group", "4242"), 4242);
  assert.equal(accountId("passwd", "no-such-user-virtmux"), undefined);
  assert.equal(accountId("group", "no-such-group-virtmux"), undefined);
});
