import assert from "node:assert/strict";
import { BufferBudget } from "../../src/proxy/buffer_budget.ts";

Deno.test("take grants at once while the budget has room, then queues in arrival order", async () => {
  const budget = new BufferBudget({ maxBytes: 100, minFrameRate: 0 });
  assert.equal(budget.take(60), undefined);
  const order: string[] = [];
  const a = budget.take(50)!;
  const b = budget.take(10)!; // fits, but waits behind a: arrival order
  assert.ok(a instanceof Promise && b instanceof Promise);
  void a.then(() => order.push("a"));
  void b.then(() => order.push("b"));
  assert.equal(budget.waiting, 2);
  budget.release(60);
  await Promise.all([a, b]);
  assert.deepEqual(order, ["a", "b"]);
  assert.equal(budget.used, 60);
});

Deno.test("withdraw leaves the line and lets the next waiter in", async () => {
  const budget = new BufferBudget({ maxBytes: 100, minFrameRate: 0 });
  budget.take(90);
  const big = budget.take(100)!;
  const small = budget.take(10)!;
  assert.equal(budget.withdraw(big), true);
  await small;
  assert.equal(budget.used, 100);
  assert.equal(budget.withdraw(small), false); // granted already: the caller releases
});

Deno.test("tryTake never waits and force may overdraw", () => {
  const budget = new BufferBudget({ maxBytes: 100, minFrameRate: 0 });
  assert.equal(budget.tryTake(80), true);
  assert.equal(budget.tryTake(30), false);
  budget.force(30);
  assert.equal(budget.used, 110);
  assert.ok(budget.take(1) instanceof Promise);
});

Deno.test("configure applies a new size and grants waiters that now fit", async () => {
  const budget = new BufferBudget({ maxBytes: 10, minFrameRate: 0 });
  const waiting = budget.take(20)!;
  budget.configure({ maxBytes: 30, minFrameRate: 5 });
  await waiting;
  assert.equal(budget.minFrameRate, 5);
  assert.equal(budget.used, 20);
});

Deno.test("turn lets one large-frame reader go per turn of the event loop, in order", async () => {
  const budget = new BufferBudget({ maxBytes: 100, minFrameRate: 0 });
  const order: number[] = [];
  const turns = [1, 2, 3].map((n) => budget.turn().then(() => order.push(n)));
  await Promise.resolve();
  assert.deepEqual(order, []);
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.deepEqual(order, [1]);
  await Promise.all(turns);
  assert.deepEqual(order, [1, 2, 3]);
});
