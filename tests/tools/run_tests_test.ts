import assert from "node:assert/strict";
import { closingLines, parseSummary } from "../../tools/run_tests.ts";

Deno.test("the closing line carries deno test's counts", () => {
  const summary = parseSummary("ok | 42 passed (3 steps) | 0 failed (2s)\n");
  assert.deepEqual(closingLines(summary, 0, null), ["42 passed, 0 failed"]);
  const failed = parseSummary("FAILED | 40 passed | 2 failed (1 step) (5s)\n");
  assert.deepEqual(closingLines(failed, 1, null), ["40 passed, 2 failed"]);
});

Deno.test("a deno test that crashes after a clean summary counts as a failure", () => {
  const summary = parseSummary("ok | 960 passed (241 steps) | 0 failed (3m36s)\n");
  assert.deepEqual(closingLines(summary, 134, "SIGABRT"), [
    "deno test was killed by SIGABRT after its summary said every test passed",
    "960 passed, 1 failed",
  ]);
  assert.deepEqual(closingLines(summary, 3, null), [
    "deno test exited with code 3 after its summary said every test passed",
    "960 passed, 1 failed",
  ]);
});

Deno.test("no summary: 0 passed, and a failure unless deno test exited 0", () => {
  assert.deepEqual(closingLines(undefined, 1, null), [
    "deno test printed no summary (exit 1)",
    "0 passed, 1 failed",
  ]);
  assert.deepEqual(closingLines(undefined, 0, null), [
    "deno test printed no summary (exit 0)",
    "0 passed, 0 failed",
  ]);
});
