import assert from "node:assert/strict";
import { ClientKeepalive } from "../../src/proxy/client_keepalive.ts";

Deno.test("a quiet client is pinged once per interval, then closed after count unanswered pings", () => {
  const keepalive = new ClientKeepalive({ intervalMs: 5000, count: 2 });
  const lastByte = 1000;
  assert.equal(keepalive.tick(5999, lastByte), undefined, "quiet less than an interval");
  assert.equal(keepalive.tick(6000, lastByte), "ping");
  assert.equal(keepalive.tick(10999, lastByte), undefined, "an interval after the ping");
  assert.equal(keepalive.tick(11000, lastByte), "ping");
  assert.match(
    keepalive.tick(16000, lastByte) ?? "",
    /^did not answer 2 keepalive pings over 10 s \(keepalive_count\)$/,
  );
});

Deno.test("any byte from the client answers the pings", () => {
  const keepalive = new ClientKeepalive({ intervalMs: 5000, count: 1 });
  assert.equal(keepalive.tick(6000, 1000), "ping");
  // The PONG (or any frame) arrived at 6100: the count starts again.
  assert.equal(keepalive.tick(11000, 6100), undefined);
  assert.equal(keepalive.tick(11100, 6100), "ping");
});

Deno.test("count 0 never pings", () => {
  const keepalive = new ClientKeepalive({ intervalMs: 1000, count: 0 });
  assert.equal(keepalive.tick(1_000_000, 0), undefined);
});
