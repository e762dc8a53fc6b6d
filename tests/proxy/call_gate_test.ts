import assert from "node:assert/strict";
import { CallGate } from "../../src/proxy/call_gate.ts";
import { settledWithin } from "../_helpers/wait.ts";

Deno.test("under the limit the reader is not paused", () => {
  const gate = new CallGate(2);
  assert.equal(gate.belowLimit(), undefined);
  gate.add();
  assert.equal(gate.count, 1);
  assert.equal(gate.belowLimit(), undefined);
});

Deno.test("at the limit the reader waits until a reply brings the count under it", async () => {
  const gate = new CallGate(2);
  gate.add();
  gate.add();
  const paused = gate.belowLimit();
  assert.ok(paused instanceof Promise);
  assert.equal(await settledWithin(paused, 20), "pending");
  gate.done();
  assert.equal(gate.count, 1);
  assert.equal(await settledWithin(paused, 100), "settled");
  assert.equal(gate.belowLimit(), undefined);
});

Deno.test("over the limit one reply is not enough: the count must drop under it", async () => {
  const gate = new CallGate(1);
  gate.add();
  gate.add(); // a call the proxy let through anyway (e.g. read in the same chunk)
  const paused = gate.belowLimit()!;
  gate.done();
  assert.equal(await settledWithin(paused, 20), "pending", "still at the limit");
  gate.done();
  assert.equal(await settledWithin(paused, 100), "settled");
});

Deno.test("clear() forgets every call and wakes the reader", async () => {
  const gate = new CallGate(1);
  gate.add();
  const paused = gate.belowLimit()!;
  gate.clear();
  assert.equal(gate.count, 0);
  assert.equal(await settledWithin(paused, 100), "settled");
  assert.equal(gate.belowLimit(), undefined);
});

Deno.test("wake() releases a paused reader without changing the count", async () => {
  const gate = new CallGate(1);
  gate.add();
  const first = gate.belowLimit()!;
  const second = gate.belowLimit()!;
  gate.wake();
  assert.equal(await settledWithin(Promise.all([first, second]), 100), "settled");
  assert.equal(gate.count, 1);
  assert.ok(gate.belowLimit() instanceof Promise, "still at the limit");
  gate.clear();
});
