import assert from "node:assert/strict";
import { Logger } from "../../src/log/logger.ts";
import { BufferBudget, CLIENT_ALLOWANCE_BYTES } from "../../src/proxy/buffer_budget.ts";
import { ClientClock } from "../../src/proxy/client_clock.ts";
import { ClientReads } from "../../src/proxy/client_reads.ts";
import { PACED_READ_BYTES } from "../../src/proxy/large_frames.ts";
import { FrameWriter } from "../../src/proxy/frame_writer.ts";
import type { SessionObserver } from "../../src/proxy/observer.ts";
import { writeAll } from "../../src/transport/channel.ts";
import { ErrorCode, MessageType, PRE_OPEN_MAX_FRAME_BYTES } from "../../src/wire/constants.ts";
import { decodeErrorReply } from "../../src/wire/error_reply.ts";
import { concat, frame, FrameSource } from "../_helpers/frames.ts";
import { socketPair } from "../_helpers/socket_pair.ts";

async function setup(options: { budget?: BufferBudget; observer?: SessionObserver } = {}) {
  const pair = await socketPair();
  const lines: string[] = [];
  const clock = new ClientClock(0);
  const reads = new ClientReads(pair.b, clock, {
    logger: new Logger({ sink: (line) => lines.push(line), level: "debug" }),
    maxFrameBytes: 1 << 20,
    maxInflight: 8,
    budget: options.budget,
    observer: options.observer,
  });
  const writer = new FrameWriter(pair.b, { maxQueuedBytes: Infinity, onError: () => {} });
  return { pair, lines, clock, reads, writer, client: pair.a };
}

/** Reads until `reads` has handed out `count` frames; returns copies of them. */
type Setup = Awaited<ReturnType<typeof setup>>;

/**
 * One read as the sessions make it: the turn, the client's read into the space, the commit.
 * Resolves to the space read into, null at the client's end, undefined when `closed()` turned
 * true while waiting for the turn.
 */
async function readOnce(t: Setup, closed = () => false): Promise<Uint8Array | null | undefined> {
  const turn = t.reads.turn();
  if (turn !== undefined) {
    await turn;
    if (closed()) return undefined;
  }
  const space = t.reads.space(false);
  return t.reads.commit(await t.pair.b.read(space)) ? space : null;
}

async function readFrames(t: Setup, count: number) {
  const { reads, writer } = t;
  const frames: Uint8Array[] = [];
  while (frames.length < count) {
    assert.ok(await readOnce(t));
    const invalid = await reads.frames((f) => void frames.push(f.slice()), {
      writer,
      release: () => {},
    });
    assert.equal(invalid, undefined);
    reads.settle();
  }
  return frames;
}

Deno.test("frames go to the observer, then to the handler, in order; reads are noted", async () => {
  const seen: string[] = [];
  const observer = {
    fromClient: (f: Uint8Array) => void seen.push(`observer ${f.length}`),
    toClient: () => undefined,
    closed: () => {},
  } as unknown as SessionObserver;
  const t = await setup({ observer });
  const a = frame({ procedure: 1 });
  const b = frame({ procedure: 2, body: new Uint8Array(8) });
  await t.client.write(concat(a, b));
  const frames: Uint8Array[] = [];
  while (frames.length < 2) {
    assert.ok(await readOnce(t));
    await t.reads.frames((f) => {
      seen.push(`handler ${f.length}`);
      frames.push(f.slice());
    }, { writer: t.writer, release: () => {} });
  }
  assert.deepEqual(frames, [a, b]);
  assert.deepEqual(seen, ["observer 28", "handler 28", "observer 36", "handler 36"]);
  assert.ok(t.clock.lastByteAt > 0);
  t.reads.dispose();
  t.pair.close();
});

Deno.test("a frame over the pre-open limit is refused until opened() lifts it", async () => {
  const t = await setup();
  const big = frame({
    type: MessageType.CALL,
    serial: 4,
    body: new Uint8Array(PRE_OPEN_MAX_FRAME_BYTES),
  });
  // Accepted once opened.
  t.reads.opened();
  assert.equal(t.reads.maxFrameBytes, 1 << 20);
  const writing = writeAll(t.client, big);
  assert.deepEqual(await readFrames(t, 1), [big]);
  await writing;
  t.reads.dispose();
  t.pair.close();

  // Refused before: answered with the header's serial, the reason names CONNECT_OPEN.
  const u = await setup();
  assert.equal(u.reads.maxFrameBytes, PRE_OPEN_MAX_FRAME_BYTES);
  void writeAll(u.client, big).catch(() => {});
  // The client reads its answer, then hangs up: the proxy stops lingering.
  const answered = new FrameSource(u.client).next().finally(() => u.client.close());
  let released = false;
  let reason: string | undefined;
  while (reason === undefined) {
    assert.ok(await readOnce(u));
    reason = await u.reads.frames(() => assert.fail("no frame is handed out"), {
      writer: u.writer,
      release: () => released = true,
    });
  }
  assert.match(reason, /^invalid frame: .*before CONNECT_OPEN has succeeded/);
  assert.ok(released);
  const reply = await answered;
  assert.ok(reply);
  assert.equal(decodeErrorReply(reply).code, ErrorCode.RPC);
  u.reads.dispose();
  u.pair.close();
});

Deno.test("a large frame holds its length of budget until finishLarge", async () => {
  const budget = new BufferBudget({ maxBytes: 1 << 20, minFrameRate: 0 });
  const t = await setup({ budget });
  t.reads.opened();
  const big = frame({ type: MessageType.STREAM, body: new Uint8Array(CLIENT_ALLOWANCE_BYTES * 2) });
  const writing = writeAll(t.client, big);
  let held = 0;
  let arrived = false;
  while (!arrived) {
    assert.ok(await readOnce(t));
    held = Math.max(held, budget.used);
    await t.reads.frames(() => {}, { writer: t.writer, release: () => {} });
    arrived = t.reads.largeArrived;
  }
  await writing;
  assert.equal(held, big.length);
  assert.equal(budget.used, big.length);
  t.reads.finishLarge();
  assert.equal(budget.used, 0);
  assert.equal(t.reads.largeArrived, false);
  t.reads.dispose();
  t.pair.close();
});

/** Reads until the large frame at hand has arrived; returns the length of each read's space. */
async function readUntilArrived(t: Setup): Promise<number[]> {
  const slices: number[] = [];
  while (!t.reads.largeArrived) {
    const space = await readOnce(t);
    assert.ok(space instanceof Uint8Array);
    slices.push(space.length);
    await t.reads.frames(() => {}, { writer: t.writer, release: () => {} });
  }
  return slices;
}

Deno.test("while others wait for budget, a large frame reads at most PACED_READ_BYTES a turn", async () => {
  const budget = new BufferBudget({ maxBytes: 1 << 20, minFrameRate: 0 });
  const t = await setup({ budget });
  t.reads.opened();
  const body = new Uint8Array(PACED_READ_BYTES * 6);
  const big = frame({ type: MessageType.STREAM, body });
  const writing = writeAll(t.client, big);
  // Read until the frame holds its budget; then another client waits in line for all of it.
  while (budget.used === 0) {
    assert.ok(await readOnce(t));
    await t.reads.frames(() => {}, { writer: t.writer, release: () => {} });
  }
  const other = budget.take(1 << 20);
  assert.ok(other instanceof Promise, "the other client waits");
  const slices = await readUntilArrived(t);
  await writing;
  assert.ok(slices.length >= 2, `read in turns (${slices.join(", ")})`);
  assert.ok(slices.every((n) => n <= PACED_READ_BYTES), `slices ${slices.join(", ")}`);
  t.reads.finishLarge();
  await other; // granted once the frame gave its bytes back
  t.reads.dispose();
  t.pair.close();
});

Deno.test("a lone large frame is not paced: reads are not cut to PACED_READ_BYTES", async () => {
  const budget = new BufferBudget({ maxBytes: 1 << 20, minFrameRate: 0 });
  const t = await setup({ budget });
  t.reads.opened();
  const big = frame({ type: MessageType.STREAM, body: new Uint8Array(PACED_READ_BYTES * 6) });
  const writing = writeAll(t.client, big);
  const slices = await readUntilArrived(t);
  await writing;
  assert.ok(slices.some((n) => n > PACED_READ_BYTES), `slices ${slices.join(", ")}`);
  t.reads.dispose();
  t.pair.close();
});

Deno.test("a read waits, unread, for budget; close() wakes it and read resolves undefined", async () => {
  const budget = new BufferBudget({ maxBytes: CLIENT_ALLOWANCE_BYTES * 2, minFrameRate: 0 });
  budget.take(CLIENT_ALLOWANCE_BYTES * 2); // used up by someone else
  const t = await setup({ budget });
  t.reads.opened();
  const big = frame({ type: MessageType.STREAM, body: new Uint8Array(CLIENT_ALLOWANCE_BYTES * 2) });
  void writeAll(t.client, big).catch(() => {});
  let closed = false;
  let result: Uint8Array | null | undefined = new Uint8Array(0);
  while (result !== undefined) {
    const reading = readOnce(t, () => closed);
    if (budget.waiting > 0) {
      closed = true;
      t.reads.close();
    }
    result = await reading;
    if (result instanceof Uint8Array) {
      await t.reads.frames(() => {}, { writer: t.writer, release: () => {} });
    }
  }
  assert.equal(budget.waiting, 0);
  assert.equal(budget.used, CLIENT_ALLOWANCE_BYTES * 2); // only the other holder's bytes
  t.reads.dispose();
  t.pair.close();
});

Deno.test("the client's end in the middle of a frame resolves null and is logged", async () => {
  const t = await setup();
  await t.client.write(frame({ body: new Uint8Array(16) }).subarray(0, 30));
  await t.client.closeWrite();
  let result: Uint8Array | null | undefined;
  while ((result = await readOnce(t)) instanceof Uint8Array) {
    await t.reads.frames(() => {}, { writer: t.writer, release: () => {} });
    t.reads.settle();
    assert.equal(t.clock.partial, true);
  }
  assert.equal(result, null);
  assert.equal(t.reads.buffered, 30);
  assert.ok(t.lines.some((line) => line.includes("in the middle of a frame")));
  t.reads.dispose();
  t.pair.close();
});

Deno.test("a large frame that arrives slower than min_frame_rate expires", async () => {
  const budget = new BufferBudget({ maxBytes: 1 << 20, minFrameRate: 1000 });
  const t = await setup({ budget });
  t.reads.opened();
  const big = frame({ type: MessageType.STREAM, body: new Uint8Array(CLIENT_ALLOWANCE_BYTES * 2) });
  await writeAll(t.client, big.subarray(0, 1000));
  while (budget.used === 0) {
    assert.ok(await readOnce(t));
    await t.reads.frames(() => {}, { writer: t.writer, release: () => {} });
  }
  assert.equal(t.reads.expired(Date.now()), undefined);
  const late = Date.now() + 1000 + big.length + 1000; // grace plus its length at 1000 bytes/s
  assert.match(t.reads.expired(late) ?? "", /min_frame_rate 1000 bytes\/s/);
  t.reads.close();
  assert.equal(budget.used, 0);
  t.reads.dispose();
  t.pair.close();
});
