import assert from "node:assert/strict";
import { Logger } from "../../../src/log/logger.ts";
import { BufferBudget, CLIENT_ALLOWANCE_BYTES } from "../../../src/proxy/buffer_budget.ts";
import { ClientWrites, MAX_QUEUED_BYTES } from "../../../src/proxy/shared/client_writes.ts";
import { MessageType } from "../../../src/wire/constants.ts";
import { frame, FrameSource } from "../../_helpers/frames.ts";
import { socketPair } from "../../_helpers/socket_pair.ts";

async function setup(budget?: BufferBudget) {
  const pair = await socketPair();
  const lines: string[] = [];
  const reasons: string[] = [];
  const writes = new ClientWrites(pair.b, { close: (reason) => void reasons.push(reason) }, {
    logger: new Logger({ sink: (line) => lines.push(line) }),
    budget,
  });
  return { pair, lines, reasons, writes, source: new FrameSource(pair.a) };
}

Deno.test("queued replies and stream data written in place arrive in order", async () => {
  const t = await setup();
  const reply = frame({ type: MessageType.REPLY, serial: 1 });
  const data = frame({ type: MessageType.STREAM, body: new Uint8Array(1000) });
  t.writes.enqueue(reply);
  const written = t.writes.write(data);
  assert.deepEqual(await t.source.next(), reply);
  assert.deepEqual(await t.source.next(), data);
  await written;
  await t.writes.flushed();
  assert.deepEqual(t.reasons, []);
  t.pair.close();
});

Deno.test("a client whose queue is full is closed, with the numbers logged", async () => {
  const t = await setup();
  const event = frame({ type: MessageType.MESSAGE, body: new Uint8Array(1 << 20) });
  for (let i = 0; i < 12 && t.reasons.length === 0; i++) t.writes.enqueue(event);
  assert.equal(t.reasons.length, 1);
  assert.match(t.reasons[0], /^did not read its replies \(\d+ bytes waiting\)$/);
  assert.ok(t.writes.writer.queuedBytes <= MAX_QUEUED_BYTES);
  assert.ok(t.lines.some((line) => line.includes("does not read its replies")));
  t.pair.close();
});

Deno.test("past its allowance with the budget used up, a client is closed saying so", async () => {
  const budget = new BufferBudget({ maxBytes: 1, minFrameRate: 0 });
  budget.take(1);
  const t = await setup(budget);
  const event = frame({ type: MessageType.MESSAGE, body: new Uint8Array(CLIENT_ALLOWANCE_BYTES) });
  for (let i = 0; i < 4 && t.reasons.length === 0; i++) t.writes.enqueue(event);
  assert.equal(t.reasons.length, 1);
  assert.match(t.reasons[0], /max_buffered_bytes 1 used up/);
  t.pair.close();
});

Deno.test("a failed write closes the session and write() still resolves", async () => {
  const t = await setup();
  t.pair.a.close();
  const data = frame({ type: MessageType.STREAM, body: new Uint8Array(1 << 20) });
  for (let i = 0; i < 8 && t.reasons.length === 0; i++) await t.writes.write(data);
  assert.equal(t.reasons.length, 1);
  assert.match(t.reasons[0], /^client failed: /);
  t.pair.close();
});
