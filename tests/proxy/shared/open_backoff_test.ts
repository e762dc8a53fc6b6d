import assert from "node:assert/strict";
import { OpenBackoff } from "../../../src/proxy/shared/open_backoff.ts";
import { UpstreamError } from "../../../src/proxy/upstream_error.ts";

Deno.test("the wait starts at 250 ms, doubles, and stops at 30 s", () => {
  const backoff = new OpenBackoff(false);
  const waits = Array.from({ length: 10 }, () => backoff.failed(new UpstreamError("refused")));
  assert.deepEqual(waits, [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

Deno.test("surviving restarts, the wait stops at 2 s", () => {
  const backoff = new OpenBackoff(true);
  const waits = Array.from({ length: 6 }, () => backoff.failed(new UpstreamError("refused")));
  assert.deepEqual(waits, [250, 500, 1000, 2000, 2000, 2000]);
});

Deno.test("the last failure blocks until its wait is over; a success clears it", () => {
  const backoff = new OpenBackoff(false);
  assert.equal(backoff.blocking(Date.now()), undefined, "nothing failed yet");
  const error = new UpstreamError("Cannot dial: connection refused");
  backoff.failed(error);
  assert.equal(backoff.blocking(Date.now()), error);
  assert.equal(backoff.blocking(Date.now() + 251), undefined, "the wait is over");
  assert.equal(backoff.lastError, error, "still the last failure, for messages");
  backoff.succeeded();
  assert.equal(backoff.lastError, undefined);
  assert.equal(backoff.delayMs, 0);
  assert.equal(backoff.failed(error), 250, "after a success the wait starts over");
});
