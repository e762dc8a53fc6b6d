import assert from "node:assert/strict";
import { InflightCalls } from "../../src/proxy/inflight.ts";
import { MessageType, Program, PROGRAM_VERSION } from "../../src/wire/constants.ts";
import { settledWithin } from "../_helpers/wait.ts";

Deno.test("takeAll gives back each call's program, procedure and serial as a header", () => {
  const calls = new InflightCalls(10);
  calls.add(Program.REMOTE, 157, 3);
  calls.add(Program.QEMU, 1, 4);
  calls.add(Program.ADMIN, 16, 5);
  calls.add(Program.LXC, 2, 0xffffffff);
  calls.add(Program.REMOTE, 0xffffff, 6); // the largest procedure that packs
  assert.equal(calls.size, 5);
  const headers = calls.takeAll();
  assert.deepEqual(
    headers.map((h) => [h.program, h.procedure, h.serial]),
    [
      [Program.REMOTE, 157, 3],
      [Program.QEMU, 1, 4],
      [Program.ADMIN, 16, 5],
      [Program.LXC, 2, 0xffffffff],
      [Program.REMOTE, 0xffffff, 6],
    ],
  );
  for (const header of headers) {
    assert.equal(header.version, PROGRAM_VERSION);
    assert.equal(header.type, MessageType.CALL);
  }
  assert.equal(calls.size, 0);
  assert.deepEqual(calls.takeAll(), [], "taken once");
});

Deno.test("a reply removes its call; an unknown serial changes nothing", () => {
  const calls = new InflightCalls(10);
  calls.add(Program.REMOTE, 157, 3);
  calls.add(Program.REMOTE, 158, 4);
  calls.delete(3);
  calls.delete(99);
  assert.equal(calls.size, 1);
  assert.deepEqual(calls.takeAll().map((h) => h.serial), [4]);
});

Deno.test("a second call with an outstanding serial replaces the first and counts once", async () => {
  const calls = new InflightCalls(2);
  calls.add(Program.REMOTE, 157, 3);
  calls.add(Program.REMOTE, 200, 3);
  assert.equal(calls.size, 1);
  assert.equal(calls.belowLimit(), undefined, "one call, under the limit of 2");
  assert.deepEqual(calls.takeAll().map((h) => [h.procedure, h.serial]), [[200, 3]]);
  // And the count went back to 0: two new calls reach the limit, no fewer.
  calls.add(Program.REMOTE, 1, 1);
  assert.equal(calls.belowLimit(), undefined);
  calls.add(Program.REMOTE, 1, 2);
  const paused = calls.belowLimit();
  assert.ok(paused instanceof Promise);
  calls.delete(1);
  assert.equal(await settledWithin(paused, 100), "settled");
});

Deno.test("at the limit the reader waits for a reply; under it, not at all", async () => {
  const calls = new InflightCalls(2);
  calls.add(Program.REMOTE, 157, 1);
  assert.equal(calls.belowLimit(), undefined);
  calls.add(Program.REMOTE, 157, 2);
  const paused = calls.belowLimit()!;
  assert.equal(await settledWithin(paused, 20), "pending");
  calls.delete(2);
  assert.equal(await settledWithin(paused, 100), "settled");
});

Deno.test("takeAll wakes a reader paused at the limit", async () => {
  const calls = new InflightCalls(1);
  calls.add(Program.REMOTE, 157, 1);
  const paused = calls.belowLimit()!;
  calls.takeAll();
  assert.equal(await settledWithin(paused, 100), "settled");
  assert.equal(calls.belowLimit(), undefined);
});
