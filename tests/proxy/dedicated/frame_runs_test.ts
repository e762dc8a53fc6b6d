import assert from "node:assert/strict";
import { FrameRuns, OVERLAP_BYTES } from "../../../src/proxy/dedicated/frame_runs.ts";

/** A buffer holding frames of `sizes` back to back, and views of each. */
function frames(...sizes: number[]): { buffer: Uint8Array; views: Uint8Array[] } {
  const buffer = new Uint8Array(sizes.reduce((n, size) => n + size, 0)).map((_, i) => i % 251);
  let at = 0;
  const views = sizes.map((size) => buffer.subarray(at, at += size));
  return { buffer, views };
}

Deno.test("back-to-back frames go out in one write, as one view of their buffer", async () => {
  const written: Uint8Array[] = [];
  const runs = new FrameRuns((bytes) => {
    written.push(bytes);
    return Promise.resolve();
  });
  const { buffer, views } = frames(28, 40, 100);
  runs.add(views[1]);
  runs.add(views[2]);
  await runs.flush();
  assert.equal(written.length, 1);
  assert.equal(written[0].buffer, buffer.buffer);
  assert.deepEqual(written[0], buffer.subarray(28));
  await runs.flush(); // nothing gathered: nothing written
  assert.equal(runs.flushOverlapped(), undefined);
  assert.equal(written.length, 1);
});

Deno.test("a short run's write is waited for; a long one is left in flight", async () => {
  let finish: () => void = () => {};
  const runs = new FrameRuns(() => new Promise<void>((resolve) => finish = resolve));
  const short = frames(100).views[0];
  runs.add(short);
  const written = runs.flushOverlapped();
  assert.ok(written instanceof Promise);
  assert.equal(runs.writing, false);
  finish();
  await written;

  runs.add(frames(OVERLAP_BYTES).views[0]);
  assert.equal(runs.flushOverlapped(), undefined);
  assert.equal(runs.writing, true);
  const inFlight = runs.takeWriting();
  assert.ok(inFlight instanceof Promise);
  assert.equal(runs.writing, false);
  assert.equal(runs.takeWriting(), undefined);
  finish();
  await inFlight;
});

Deno.test("a long run's failed write rejects when taken, not before", async () => {
  const runs = new FrameRuns(() => Promise.reject(new Error("broken pipe")));
  runs.add(frames(OVERLAP_BYTES * 2).views[0]);
  runs.flushOverlapped();
  await new Promise((resolve) => setTimeout(resolve, 0)); // no unhandled rejection meanwhile
  await assert.rejects(runs.takeWriting()!, /broken pipe/);
});
