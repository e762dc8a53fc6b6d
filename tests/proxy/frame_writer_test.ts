import assert from "node:assert/strict";
import { BufferBudget, CLIENT_ALLOWANCE_BYTES } from "../../src/proxy/buffer_budget.ts";
import { FrameWriter } from "../../src/proxy/frame_writer.ts";
import type { Channel } from "../../src/transport/channel.ts";

/** A channel whose writes wait until `release()`; it records what was written. */
function heldChannel() {
  const written: number[] = [];
  let open: () => void = () => {};
  let gate = new Promise<void>((resolve) => open = resolve);
  const channel: Channel = {
    read: () => new Promise(() => {}),
    write: async (data) => {
      await gate;
      written.push(data.length);
      return data.length;
    },
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
  return {
    channel,
    written,
    release() {
      open();
      gate = Promise.resolve();
    },
  };
}

Deno.test("queued bytes past the allowance are taken from the budget and given back", async () => {
  const budget = new BufferBudget({ maxBytes: 200_000, minFrameRate: 0 });
  const { channel, release } = heldChannel();
  const writer = new FrameWriter(channel, { maxQueuedBytes: 1 << 20, onError: () => {}, budget });
  assert.equal(writer.enqueue(new Uint8Array(50_000)), true); // within the allowance
  assert.equal(budget.used, 0);
  assert.equal(writer.enqueue(new Uint8Array(100_000)), true);
  assert.equal(budget.used, 150_000 - CLIENT_ALLOWANCE_BYTES);
  // Past the budget with the queue not empty: refused, nothing taken.
  assert.equal(writer.enqueue(new Uint8Array(200_000)), false);
  assert.equal(budget.used, 150_000 - CLIENT_ALLOWANCE_BYTES);
  release();
  await writer.flushed();
  assert.equal(writer.queuedBytes, 0);
  assert.equal(budget.used, 0);
});

Deno.test("a frame queued alone is taken even beyond the budget", async () => {
  const budget = new BufferBudget({ maxBytes: 100_000, minFrameRate: 0 });
  const { channel, release } = heldChannel();
  const writer = new FrameWriter(channel, { maxQueuedBytes: 1 << 20, onError: () => {}, budget });
  assert.equal(writer.enqueue(new Uint8Array(500_000)), true);
  assert.equal(budget.used, 500_000 - CLIENT_ALLOWANCE_BYTES);
  release();
  await writer.flushed();
  assert.equal(budget.used, 0);
});

Deno.test("send writes a frame larger than the allowance in place, never as a copy", async () => {
  const { channel, release, written } = heldChannel();
  const writer = new FrameWriter(channel, { maxQueuedBytes: Infinity, onError: () => {} });
  const first = writer.send(new Uint8Array(10));
  assert.ok(first instanceof Promise);
  assert.equal(writer.send(new Uint8Array(20)), undefined); // small: copied into the queue
  const big = writer.send(new Uint8Array(CLIENT_ALLOWANCE_BYTES + 1));
  assert.ok(big instanceof Promise);
  release();
  await big;
  assert.deepEqual(written, [10, 20, CLIENT_ALLOWANCE_BYTES + 1]);
});
