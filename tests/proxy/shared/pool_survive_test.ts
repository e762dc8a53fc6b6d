/**
 * A shared pool with `survive_restart`: the daemon behind it goes away and comes back, and the
 * pool's clients stay, with their event callbacks and the IDs they were given.
 */

import assert from "node:assert/strict";
import { MessageStatus, MessageType } from "../../../src/wire/constants.ts";
import { decodeErrorReply } from "../../../src/wire/error_reply.ts";
import { readHeader, readU32 } from "../../../src/wire/header.ts";
import { FakeProc } from "../../_helpers/fake_daemon.ts";
import { call, delay, PLAIN, setup, TestClient, waitUntil } from "../../_helpers/pool_harness.ts";

const SURVIVE = { pool: { restartWaitMs: 3000, poolMax: 1 } };

Deno.test("surviving a restart: calls in flight get an error, the clients stay", async () => {
  const t = await setup(SURVIVE);
  await t.pool.ready();
  const a = new TestClient("a");
  t.pool.attach(a);
  t.daemon.hold();
  await t.pool.submit(a, call(7, [1]));
  await waitUntil(() => t.daemon.heldCount === 1, "the call upstream");
  t.daemon.restart();
  await a.waitFrames(1);
  const reply = a.frames[0];
  assert.equal(readHeader(reply).serial, 7);
  assert.equal(readHeader(reply).status, MessageStatus.ERROR);
  assert.match(decodeErrorReply(reply).message ?? "", /Upstream "fake"/);
  await waitUntil(() => t.pool.size === 1, "the pool to reconnect");
  assert.deepEqual(a.lostReasons, []);
  await t.finish();
});

Deno.test("surviving a restart: a call made while the daemon is away waits for it", async () => {
  const t = await setup(SURVIVE);
  await t.pool.ready();
  const a = new TestClient("a");
  t.pool.attach(a);
  t.daemon.options.down = true;
  t.daemon.kill();
  await waitUntil(() => t.pool.size === 0, "the pool to see the daemon go");
  const submitted = t.pool.submit(a, call(8, [2]));
  await delay(600); // the pool retries meanwhile and is refused
  assert.equal(a.frames.length, 0);
  t.daemon.options.down = false;
  await submitted;
  await a.waitFrames(1, 5000);
  assert.equal(readHeader(a.frames[0]).status, MessageStatus.OK);
  assert.deepEqual(a.lostReasons, []);
  await t.finish();
});

Deno.test("surviving a restart: past restart_wait the waiting call gets an error naming the upstream", async () => {
  const t = await setup({ pool: { restartWaitMs: 500, poolMax: 1 } });
  await t.pool.ready();
  const a = new TestClient("a");
  t.pool.attach(a);
  t.daemon.options.down = true;
  t.daemon.kill();
  await waitUntil(() => t.pool.size === 0, "the pool to see the daemon go");
  const started = Date.now();
  await assert.rejects(
    async () => await t.pool.submit(a, call(9, [3])),
    /Upstream "fake" .*did not come back within 0\.5 s \(restart_wait\)/,
  );
  assert.ok(Date.now() - started >= 450, "it waited restart_wait");
  t.daemon.options.down = false;
  await t.finish();
});

Deno.test("surviving a restart: callbacks are registered again and keep the IDs clients know", async () => {
  const t = await setup(SURVIVE);
  await t.pool.ready();
  const a = new TestClient("a");
  const b = new TestClient("b");
  t.pool.attach(a);
  t.pool.attach(b);
  await t.pool.submit(a, call(1, [0, 0xa], FakeProc.CALLBACK_REGISTER_ANY));
  await t.pool.submit(b, call(1, [0, 0xb], FakeProc.CALLBACK_REGISTER_ANY));
  await a.waitFrames(1);
  await b.waitFrames(1);
  const idA = readU32(a.frames[0], 28);
  const idB = readU32(b.frames[0], 28);

  t.daemon.restart(idB); // the new daemon hands out b's old ID first: to a's registration
  await waitUntil(() => t.daemon.activeCallbacks.length === 2, "both registered again", 5000);
  assert.deepEqual(a.lostReasons, []);
  assert.deepEqual(b.lostReasons, []);

  for (const daemonId of t.daemon.activeCallbacks) assert.ok(await t.daemon.emitEvent(daemonId));
  await a.waitFrames(2);
  await b.waitFrames(2);
  const event = (client: TestClient) => client.frames[1];
  assert.equal(readHeader(event(a)).type, MessageType.MESSAGE);
  assert.equal(readU32(event(a), 28), idA, "a's event carries the ID a was given");
  assert.equal(readU32(event(b), 28), idB, "b's event carries the ID b was given");

  // Deregistering by the old ID undoes the daemon's new registration.
  await t.pool.submit(a, call(2, [idA], FakeProc.CALLBACK_DEREGISTER_ANY));
  await a.waitFrames(3);
  assert.equal(readHeader(a.frames[2]).status, MessageStatus.OK);
  await waitUntil(() => t.daemon.activeCallbacks.length === 1, "a's callback gone upstream");
  await t.finish();
});

Deno.test("surviving a restart: a stream open at the restart ends with a STREAM error", async () => {
  const t = await setup({ ...SURVIVE, daemon: { streamChunks: 1 } });
  await t.pool.ready();
  const a = new TestClient("a");
  t.pool.attach(a);
  await t.pool.submit(a, call(4, [0xa], FakeProc.SCREENSHOT));
  await a.waitFrames(3); // reply, one chunk, EOF: the stream waits for a's finish
  t.daemon.restart();
  await a.waitFrames(4);
  const end = readHeader(a.frames[3]);
  assert.equal(end.type, MessageType.STREAM);
  assert.equal(end.status, MessageStatus.ERROR);
  assert.equal(end.serial, 4);
  assert.deepEqual(a.lostReasons, []);
  await t.finish();
});

Deno.test("a daemon that comes back as another host closes every client", async () => {
  const t = await setup({ ...SURVIVE, daemon: { hostname: "hv1" } });
  await t.pool.ready();
  const a = new TestClient("a");
  t.pool.attach(a);
  t.daemon.options.hostname = "hv2";
  t.daemon.restart();
  await waitUntil(() => a.lostReasons.length > 0, "a to be lost", 5000);
  assert.match(a.lostReasons[0], /came back as another host \("hv2", was "hv1"\)/);
  await t.finish();
});

Deno.test("without survive_restart a restart still loses every client", async () => {
  const t = await setup({ pool: { poolMax: 1 } });
  await t.pool.ready();
  const a = new TestClient("a");
  t.pool.attach(a);
  t.daemon.restart();
  await waitUntil(() => a.lostReasons.length > 0, "a to be lost");
  assert.equal(t.daemon.connections.at(-1)?.calls.some((c) => c.procedure === PLAIN), false);
  await t.finish();
});
