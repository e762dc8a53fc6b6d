import assert from "node:assert/strict";
import { FrameWriter } from "../../src/proxy/frame_writer.ts";
import { BufferBudget, CLIENT_ALLOWANCE_BYTES } from "../../src/proxy/buffer_budget.ts";
import type { Channel } from "../../src/transport/channel.ts";
import { settledWithin, waitUntil } from "../_helpers/wait.ts";

/**
 * A channel whose writes complete only when the test says so (empty ones at once), that records
 * each write as the bytes it was given, and can be told to fail.
 */
class ManualChannel implements Channel {
  /** Every write call, as a copy of the bytes passed. */
  readonly writes: number[][] = [];
  /** The next write (and every one after) fails with this. */
  failWith: Error | undefined;
  #pending: (() => void)[] = [];

  read(): Promise<number | null> {
    return Promise.resolve(null);
  }

  write(data: Uint8Array): Promise<number> {
    // flushed() marks its place with an empty in-place write: no bytes, so it completes at once.
    if (data.length === 0 && this.failWith === undefined) return Promise.resolve(0);
    this.writes.push([...data]);
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return new Promise((resolve) => this.#pending.push(() => resolve(data.length)));
  }

  /** Writes not yet completed. */
  get inFlight(): number {
    return this.#pending.length;
  }

  /** Completes the oldest write in flight. */
  complete(): void {
    const next = this.#pending.shift();
    assert.ok(next, "a write is in flight");
    next();
  }

  closeWrite(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {}
}

function bytes(...values: number[]): Uint8Array {
  return new Uint8Array(values);
}

function writer(channel: Channel, maxQueuedBytes = 1 << 20) {
  const errors: unknown[] = [];
  const w = new FrameWriter(channel, { maxQueuedBytes, onError: (error) => errors.push(error) });
  return { w, errors };
}

Deno.test("a queued frame is copied: the caller may reuse its buffer at once", async () => {
  const channel = new ManualChannel();
  const { w } = writer(channel);
  const frame = bytes(1, 2, 3);
  assert.equal(w.enqueue(frame), true);
  frame.fill(9);
  assert.deepEqual(channel.writes, [[1, 2, 3]]);
  channel.complete();
  await w.flushed();
});

Deno.test("frames queued while one write is in flight go out together in one write, in order", async () => {
  const channel = new ManualChannel();
  const { w } = writer(channel);
  w.enqueue(bytes(1));
  assert.equal(channel.inFlight, 1);
  w.enqueue(bytes(2, 2));
  w.enqueue(bytes(3, 3, 3));
  assert.equal(w.queuedBytes, 6);
  assert.deepEqual(channel.writes, [[1]], "nothing more until the first write completes");
  channel.complete();
  await waitUntil(() => channel.writes.length === 2, "the second write");
  assert.deepEqual(channel.writes, [[1], [2, 2, 3, 3, 3]]);
  channel.complete();
  await w.flushed();
  assert.equal(w.queuedBytes, 0);
});

Deno.test("an in-place write waits for the frames queued before it and keeps its place", async () => {
  const channel = new ManualChannel();
  const { w } = writer(channel);
  w.enqueue(bytes(1));
  w.enqueue(bytes(2));
  let written = false;
  const inPlace = w.write(bytes(7, 7)).then(() => written = true);
  w.enqueue(bytes(3));
  channel.complete(); // [1]
  await waitUntil(() => channel.writes.length === 2, "the second write");
  assert.deepEqual(channel.writes[1], [2], "the queued frame before it, alone");
  assert.equal(written, false);
  channel.complete(); // [2]
  await waitUntil(() => channel.writes.length === 3, "the in-place write");
  assert.deepEqual(channel.writes[2], [7, 7]);
  assert.equal(written, false, "not resolved before its bytes are written");
  channel.complete(); // [7, 7]
  await inPlace;
  assert.equal(written, true);
  await waitUntil(() => channel.writes.length === 4, "the frame queued after it");
  assert.deepEqual(channel.writes[3], [3]);
  channel.complete();
  await w.flushed();
});

Deno.test("an in-place write is not copied: its bytes are written as they are then", async () => {
  const channel = new ManualChannel();
  const { w } = writer(channel);
  w.enqueue(bytes(1));
  const frame = bytes(5, 5);
  const done = w.write(frame);
  frame[1] = 6; // the caller still owns it until `done` resolves; the writer reads it late
  channel.complete();
  await waitUntil(() => channel.writes.length === 2, "the in-place write");
  assert.deepEqual(channel.writes[1], [5, 6]);
  channel.complete();
  await done;
});

Deno.test("send() writes in place when idle and queues a copy when a write is in flight", async () => {
  const channel = new ManualChannel();
  const { w } = writer(channel);
  const first = bytes(1, 1);
  const inPlace = w.send(first);
  assert.ok(inPlace instanceof Promise, "idle: written in place, the caller waits");
  assert.deepEqual(channel.writes, [[1, 1]]);
  const second = bytes(2);
  assert.equal(w.send(second), undefined, "busy: queued");
  second[0] = 9; // a copy was queued, so this does not reach the wire
  assert.equal(w.queuedBytes, 1);
  channel.complete();
  await inPlace;
  await waitUntil(() => channel.writes.length === 2, "the queued copy");
  assert.deepEqual(channel.writes[1], [2]);
  channel.complete();
  await w.flushed();
});

Deno.test("enqueue refuses a frame that would take the queue past its bound: a slow reader", () => {
  const channel = new ManualChannel(); // its writes never complete: the peer does not read
  const { w, errors } = writer(channel, 10);
  assert.equal(w.enqueue(new Uint8Array(4)), true); // in flight at once, still counted
  assert.equal(w.enqueue(new Uint8Array(6)), true);
  assert.equal(w.queuedBytes, 10, "exactly at the bound of 10");
  assert.equal(w.enqueue(new Uint8Array(1)), false, "one byte over the bound");
  assert.equal(w.queuedBytes, 10, "nothing queued by the refused call");
  assert.deepEqual(errors, []);
  assert.equal(channel.writes.length, 1, "the one write still in flight");
});

Deno.test("a single frame larger than the bound is accepted when the queue is empty", async () => {
  const channel = new ManualChannel();
  const { w } = writer(channel, 10);
  assert.equal(w.enqueue(new Uint8Array(100)), true);
  assert.equal(w.queuedBytes, 100);
  assert.equal(w.enqueue(new Uint8Array(1)), false, "but nothing may join it");
  channel.complete();
  await waitUntil(() => w.queuedBytes === 0, "the large frame written");
  assert.equal(w.enqueue(new Uint8Array(1)), true, "room again once written");
  channel.complete();
  await w.flushed();
});

Deno.test("flushed() resolves only after everything queued before it is written", async () => {
  const channel = new ManualChannel();
  const { w } = writer(channel);
  assert.equal(await settledWithin(w.flushed(), 20), "settled", "nothing queued: at once");
  w.enqueue(bytes(1));
  w.enqueue(bytes(2));
  const flushed = w.flushed();
  assert.equal(await settledWithin(flushed, 20), "pending");
  channel.complete();
  await waitUntil(() => channel.inFlight === 1 && channel.writes.length === 2, "the second write");
  assert.equal(await settledWithin(flushed, 20), "pending", "one write still in flight");
  channel.complete();
  assert.equal(await settledWithin(flushed, 500), "settled");
});

Deno.test("a failed write calls onError once, fails in-place writers, and drops what follows", async () => {
  const channel = new ManualChannel();
  const { w, errors } = writer(channel);
  const broken = new Error("Broken pipe");
  w.enqueue(bytes(1));
  const inPlace = w.write(bytes(2));
  w.enqueue(bytes(3));
  channel.failWith = broken;
  channel.complete(); // [1] succeeds; the next write fails
  await assert.rejects(inPlace, broken);
  assert.deepEqual(errors, [broken]);
  assert.equal(w.queuedBytes, 0);
  // After the failure nothing more is written, nothing fails, and onError is not called again.
  const writesBefore = channel.writes.length;
  assert.equal(w.enqueue(bytes(4)), true);
  await w.write(bytes(5));
  assert.equal(w.send(bytes(6)), undefined);
  await w.flushed();
  assert.equal(channel.writes.length, writesBefore);
  assert.deepEqual(errors, [broken]);
});

Deno.test("flushed() resolves, never rejects, when the channel write fails", async () => {
  const channel = new ManualChannel();
  const { w, errors } = writer(channel);
  w.enqueue(bytes(1));
  const flushed = w.flushed();
  channel.failWith = new Error("Connection reset by peer");
  channel.complete(); // [1] written; the empty flush marker's write then fails
  await flushed; // resolves
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /Connection reset by peer/);
});

Deno.test("a write failing at once (a closed channel) is reported to onError once", async () => {
  const channel = new ManualChannel();
  channel.failWith = new Error("Bad resource ID");
  const { w, errors } = writer(channel);
  w.enqueue(bytes(1));
  w.enqueue(bytes(2));
  await w.flushed();
  assert.equal(errors.length, 1);
});

Deno.test("short writes are completed: every byte reaches the channel in order", async () => {
  const chunks: number[][] = [];
  const channel: Channel = {
    read: () => Promise.resolve(null),
    write: (data) => {
      const n = Math.min(3, data.length);
      chunks.push([...data.subarray(0, n)]);
      return Promise.resolve(n);
    },
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
  const { w } = writer(channel);
  w.enqueue(bytes(1, 2, 3, 4));
  w.enqueue(bytes(5, 6));
  await w.write(bytes(7, 8, 9, 10));
  await w.flushed();
  assert.deepEqual(chunks.flat(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

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
