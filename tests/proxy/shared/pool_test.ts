import assert from "node:assert/strict";
import type { Pool, PoolClient } from "../../../src/proxy/shared/pool.ts";
import { UpstreamError } from "../../../src/proxy/upstream_error.ts";
import { DialError } from "../../../src/transport/channel.ts";
import { ErrorCode, MessageStatus, MessageType, Program } from "../../../src/wire/constants.ts";
import { decodeErrorReply } from "../../../src/wire/error_reply.ts";
import { readHeader, readU32 } from "../../../src/wire/header.ts";
import { FakeDaemon, FakeProc, mulberry32 } from "../../_helpers/fake_daemon.ts";
import { frame, words } from "../../_helpers/frames.ts";
import {
  call,
  delay,
  LABEL,
  OPEN_BODY,
  PLAIN,
  setup,
  TestClient,
  waitUntil,
} from "../../_helpers/pool_harness.ts";

function bodyOf(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(28);
}

Deno.test("the handshake runs once per connection with the pool's open name", async () => {
  const t = await setup();
  await t.pool.ready();
  await t.pool.ready();
  assert.equal(t.daemon.connections.length, 1);
  const upstream = t.daemon.connections[0];
  assert.deepEqual(upstream.calls.map((c) => c.procedure), [
    FakeProc.AUTH_LIST,
    FakeProc.SUPPORTS_FEATURE,
    FakeProc.CONNECT_OPEN,
  ]);
  assert.deepEqual(upstream.openBody, OPEN_BODY(0));
  const client = new TestClient("a");
  t.pool.attach(client);
  await t.pool.submit(client, call(0, [1]));
  await client.waitFrames(1);
  assert.equal(t.daemon.connections.length, 1);
  assert.equal(t.daemon.opens, 1);
  assert.deepEqual(upstream.calls.map((c) => c.procedure).slice(3), [PLAIN]);
  await t.finish();
});

Deno.test("a reserved pool is in use and not unused until its client attaches or gives up", async () => {
  const t = await setup();
  try {
    assert.equal(t.pool.inUse, false);
    assert.equal(t.pool.unused, true);
    t.pool.reserve();
    assert.equal(t.pool.inUse, true);
    assert.equal(t.pool.unused, false);
    await t.pool.ready();
    t.pool.unreserve();
    assert.equal(t.pool.inUse, false, "an open connection alone does not make it in use");
    assert.equal(t.pool.unused, false, "but the pool is not unused while it holds one");
  } finally {
    await t.finish();
  }
});

Deno.test("a read-only pool opens with VIR_CONNECT_RO", async () => {
  const t = await setup({ pool: { openFlags: 1 } });
  await t.pool.ready();
  assert.deepEqual(t.daemon.connections[0].openBody, OPEN_BODY(1));
  await t.finish();
});

Deno.test("ready() fails with the daemon's own error when CONNECT_OPEN is refused", async () => {
  const refusal = { code: 45, domain: 13, message: "authentication failed: access denied" };
  const t = await setup({ daemon: { openError: refusal } });
  await assert.rejects(t.pool.ready(), (error) => {
    assert.ok(error instanceof UpstreamError);
    assert.equal(error.message, refusal.message);
    assert.equal(error.code, refusal.code);
    assert.equal(error.domain, refusal.domain);
    return true;
  });
  await t.daemon.connections[0].done;
  assert.equal(t.pool.size, 0);
  // A call during the backoff gets the same error, without another dial.
  const client = new TestClient("a");
  t.pool.attach(client);
  await assert.rejects(async () => await t.pool.submit(client, call(3, [1])), {
    message: refusal.message,
  });
  assert.equal(t.daemon.connections.length, 1);
  await t.finish();
});

Deno.test("a SASL-only daemon is refused by a pool not given an upstream to log in as", async () => {
  const t = await setup({ daemon: { authTypes: [1] } });
  await assert.rejects(t.pool.ready(), (error) => {
    assert.ok(error instanceof UpstreamError);
    assert.equal(error.code, ErrorCode.NO_SUPPORT);
    assert.match(error.message, /SASL/);
    return true;
  });
  await t.finish();
});

Deno.test("a daemon that never answers the handshake fails after connectTimeoutMs", async () => {
  const t = await setup({ daemon: { silent: true }, pool: { connectTimeoutMs: 150 } });
  const started = Date.now();
  await assert.rejects(t.pool.ready(), (error) => {
    assert.ok(error instanceof UpstreamError);
    assert.equal(error.code, ErrorCode.OPERATION_TIMEOUT);
    assert.equal(error.message, `Upstream ${LABEL} did not finish the handshake within 150 ms`);
    return true;
  });
  assert.ok(Date.now() - started >= 140);
  await t.daemon.connections[0].done;
  await t.finish();
});

Deno.test("a dial failure fails ready(); during the backoff ready() fails at once alike", async () => {
  let dials = 0;
  let refuse = true;
  const daemon = await FakeDaemon.start();
  const t = await setup({
    pool: {
      dial: () => {
        dials++;
        if (refuse) {
          return Promise.reject(new DialError(`Cannot connect to upstream ${LABEL}: refused`));
        }
        return daemon.dial();
      },
    },
  });
  let first: unknown;
  await assert.rejects(t.pool.ready(), (error) => {
    first = error;
    assert.ok(error instanceof UpstreamError);
    assert.equal(error.message, `Cannot connect to upstream ${LABEL}: refused`);
    assert.equal(error.code, ErrorCode.RPC);
    return true;
  });
  const started = performance.now();
  await assert.rejects(t.pool.ready(), (error) => {
    assert.equal(error, first, "the same error");
    return true;
  });
  assert.ok(performance.now() - started < 50, "failed at once");
  assert.equal(dials, 1, "no dial during the backoff");
  refuse = false;
  await delay(300); // the first backoff is 250 ms
  await t.pool.ready();
  assert.equal(dials, 2);
  assert.equal(daemon.opens, 1);
  t.pool.close("test over");
  await waitUntil(() => t.pool.size === 0, "the pool to close");
  await daemon.stop();
  await t.finish();
});

Deno.test("two clients using the same serials get their own replies, serials restored", async () => {
  const t = await setup({ daemon: { delayMs: [0, 15], seed: 7 } });
  await t.pool.ready();
  const a = new TestClient("a");
  const b = new TestClient("b");
  t.pool.attach(a);
  t.pool.attach(b);
  const sent: Uint8Array[] = [];
  for (const serial of [5, 6, 7]) {
    for (const [client, token] of [[a, 0xa], [b, 0xb]] as const) {
      const original = call(serial, [token, serial]);
      sent.push(original);
      await t.pool.submit(client, original.slice());
    }
  }
  await a.waitFrames(3);
  await b.waitFrames(3);
  for (const [client, token] of [[a, 0xa], [b, 0xb]] as const) {
    const got = client.frames.map((f) => [readHeader(f).serial, ...bodyWords(f)]);
    got.sort((x, y) => x[0] - y[0]);
    assert.deepEqual(got, [5, 6, 7].map((s) => [s, token, s]), `client ${client.id}`);
    for (const reply of client.frames) {
      assert.equal(readHeader(reply).type, MessageType.REPLY);
      assert.equal(readHeader(reply).status, MessageStatus.OK);
    }
  }
  const forwarded = t.daemon.userCalls;
  assert.equal(forwarded.length, 6);
  for (const upstream of t.daemon.connections) {
    const serials = upstream.calls.map((c) => c.serial);
    assert.equal(new Set(serials).size, serials.length, "upstream serials are unique");
  }
  for (const upstream of forwarded) {
    const original = sent.find((s) => equalBytes(bodyOf(s), bodyOf(upstream.frame)));
    assert.ok(original);
    assert.equal(upstream.frame.length, original.length);
    for (let i = 0; i < original.length; i++) {
      if (i >= 20 && i < 24) continue;
      assert.equal(upstream.frame[i], original[i], `byte ${i} changed`);
    }
  }
  await t.finish();
});

function bodyWords(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = 28; at + 4 <= bytes.length; at += 4) out.push(readU32(bytes, at));
  return out;
}

function equalBytes(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

Deno.test("flow control: at most 2 calls per connection, 2 connections, the rest in order", async () => {
  const t = await setup({ pool: { poolMax: 2, maxInflightPerConnection: 2 } });
  await t.pool.ready();
  t.daemon.hold();
  const clients = Array.from({ length: 8 }, (_, i) => new TestClient(`c${i}`));
  const submitted = clients.map((client, i) => {
    t.pool.attach(client);
    return t.pool.submit(client, call(1, [i]));
  });
  await waitUntil(() => t.daemon.userCalls.length === 4, "4 calls upstream");
  await delay(100);
  assert.equal(t.daemon.userCalls.length, 4, "calls beyond 2 × 2 wait");
  assert.equal(t.daemon.connections.length, 2);
  for (const upstream of t.daemon.connections) assert.equal(upstream.userCalls.length, 2);
  for (let n = 5; n <= 8; n++) {
    assert.ok(t.daemon.releaseOne());
    await waitUntil(() => t.daemon.userCalls.length === n, `${n} calls upstream`);
    await delay(20);
    assert.equal(t.daemon.userCalls.length, n, "one released slot lets one call through");
  }
  t.daemon.release();
  await Promise.all(submitted);
  await Promise.all(clients.map((c) => c.waitFrames(1)));
  const order = t.daemon.userCalls.map((c) => readU32(c.frame, 28));
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7], "served in arrival order");
  for (const [i, client] of clients.entries()) {
    assert.deepEqual(bodyWords(client.frames[0]), [i]);
    assert.equal(readHeader(client.frames[0]).serial, 1);
  }
  assert.equal(t.daemon.connections.length, 2);
  for (const upstream of t.daemon.connections) assert.ok(upstream.maxOutstanding <= 2);
  await t.finish();
});

Deno.test("flow control: a burst before any connection is open still grows the pool", async () => {
  // No ready() first: every call arrives while the first connection is being opened.
  const t = await setup({ pool: { poolMax: 2, maxInflightPerConnection: 2 } });
  t.daemon.hold();
  const clients = Array.from({ length: 4 }, (_, i) => new TestClient(`c${i}`));
  const submitted = clients.map((client, i) => {
    t.pool.attach(client);
    return t.pool.submit(client, call(1, [i]));
  });
  try {
    await waitUntil(
      () => t.daemon.userCalls.length === 4,
      "4 calls upstream on 2 connections",
      1000,
    );
    assert.equal(t.daemon.connections.length, 2);
  } finally {
    t.daemon.release();
    await Promise.all(submitted);
    await Promise.all(clients.map((c) => c.waitFrames(1)));
    await t.finish();
  }
});

/** Registers a callback for `client`; returns its callbackID. */
async function register(
  pool: Pool,
  client: TestClient,
  serial: number,
  token: number,
): Promise<number> {
  const before = client.frames.length;
  await pool.submit(client, call(serial, [0, token], FakeProc.CALLBACK_REGISTER_ANY));
  await client.waitFrames(before + 1);
  const reply = client.frames[before];
  assert.equal(readHeader(reply).serial, serial);
  assert.equal(readHeader(reply).status, MessageStatus.OK);
  return readU32(reply, 28);
}

Deno.test("events go to the registering client only; a detach deregisters upstream", async () => {
  const t = await setup();
  await t.pool.ready();
  const a = new TestClient("a");
  const b = new TestClient("b");
  t.pool.attach(a);
  t.pool.attach(b);
  const idA = await register(t.pool, a, 1, 0xa);
  const idB = await register(t.pool, b, 1, 0xb);
  assert.notEqual(idA, idB);
  assert.equal(t.pool.registrationCount, 2);
  await t.daemon.emitEvent(idA, words(1));
  await t.daemon.emitEvent(idB, words(2));
  await t.daemon.emitEvent(idA, words(3));
  await a.waitFrames(3);
  await b.waitFrames(2);
  const events = (c: TestClient) =>
    c.frames.filter((f) => readHeader(f).type === MessageType.MESSAGE).map((f) => {
      assert.equal(readHeader(f).serial, 1);
      assert.equal(readHeader(f).procedure, FakeProc.EVENT_CALLBACK_LIFECYCLE);
      return bodyWords(f);
    });
  assert.deepEqual(events(a), [[idA, 0, 0xa, 1], [idA, 0, 0xa, 3]]);
  assert.deepEqual(events(b), [[idB, 0, 0xb, 2]]);

  t.pool.detach(a);
  const upstream = t.daemon.connections[0];
  await waitUntil(() => upstream.deregistered.includes(idA), "the daemon to see 317");
  const deregister = upstream.userCalls.find((c) =>
    c.procedure === FakeProc.CALLBACK_DEREGISTER_ANY
  );
  assert.ok(deregister);
  assert.deepEqual(bodyWords(deregister.frame), [idA]);
  await waitUntil(() => t.pool.registrationCount === 1, "the deregistration answered");
  // An event for a's id racing the deregistration is dropped; b's still arrives.
  const framesOfA = a.frames.length;
  await t.daemon.emitEvent(idA, words(4));
  await t.daemon.emitEvent(idB, words(5));
  await b.waitFrames(3);
  assert.deepEqual(events(b).at(-1), [idB, 0, 0xb, 5]);
  assert.equal(a.frames.length, framesOfA);
  assert.deepEqual(t.daemon.activeCallbacks, [idB]);
  await t.finish();
});

Deno.test("a client deregisters its own callback; another's is refused as unknown", async () => {
  const t = await setup();
  await t.pool.ready();
  const a = new TestClient("a");
  const b = new TestClient("b");
  t.pool.attach(a);
  t.pool.attach(b);
  const idA = await register(t.pool, a, 2, 0xa);
  await t.pool.submit(b, call(9, [idA], FakeProc.CALLBACK_DEREGISTER_ANY));
  await b.waitFrames(1);
  assert.equal(readHeader(b.frames[0]).status, MessageStatus.ERROR);
  assert.equal(readHeader(b.frames[0]).serial, 9);
  assert.equal(decodeErrorReply(b.frames[0]).code, 8); // VIR_ERR_INVALID_ARG
  assert.deepEqual(t.daemon.activeCallbacks, [idA]);
  await t.pool.submit(a, call(3, [idA], FakeProc.CALLBACK_DEREGISTER_ANY));
  await a.waitFrames(2);
  assert.equal(readHeader(a.frames[1]).status, MessageStatus.OK);
  assert.equal(readHeader(a.frames[1]).serial, 3);
  assert.deepEqual(t.daemon.activeCallbacks, []);
  assert.equal(t.pool.registrationCount, 0);
  await t.finish();
});

Deno.test("a registration answered after its client left is deregistered upstream", async () => {
  const t = await setup();
  await t.pool.ready();
  const a = new TestClient("a");
  t.pool.attach(a);
  t.daemon.hold();
  await t.pool.submit(a, call(1, [0, 0xa], FakeProc.CALLBACK_REGISTER_ANY));
  await waitUntil(() => t.daemon.heldCount === 1, "the registration upstream");
  t.pool.detach(a);
  t.daemon.release();
  await waitUntil(() => t.daemon.activeCallbacks.length === 0 && t.daemon.opens === 1, "317");
  await waitUntil(() => t.daemon.connections[0].deregistered.length === 1, "317");
  assert.equal(a.frames.length, 0);
  await waitUntil(() => t.pool.registrationCount === 0, "the deregistration answered");
  await t.finish();
});

Deno.test("identical registrations share one upstream callback until the last user leaves", async () => {
  const t = await setup();
  await t.pool.ready();
  const [a, b, c] = ["a", "b", "c"].map((id) => new TestClient(id));
  for (const client of [a, b, c]) t.pool.attach(client);
  t.daemon.hold();
  // b asks while a's registration is still on its way: both get the daemon's answer.
  await t.pool.submit(a, call(1, [0, 0x5], FakeProc.CALLBACK_REGISTER_ANY));
  await t.pool.submit(b, call(2, [0, 0x5], FakeProc.CALLBACK_REGISTER_ANY));
  await waitUntil(() => t.daemon.heldCount === 1, "one registration upstream");
  t.daemon.release();
  await a.waitFrames(1);
  await b.waitFrames(1);
  assert.equal(readHeader(a.frames[0]).serial, 1);
  assert.equal(readHeader(b.frames[0]).serial, 2);
  const id = readU32(a.frames[0], 28);
  assert.equal(readU32(b.frames[0], 28), id);
  // c asks once it is confirmed: answered by the pool.
  assert.equal(await register(t.pool, c, 3, 0x5), id);
  const registers = t.daemon.userCalls.filter((x) =>
    x.procedure === FakeProc.CALLBACK_REGISTER_ANY
  );
  assert.equal(registers.length, 1);
  assert.equal(t.pool.registrationCount, 1);

  await t.daemon.emitEvent(id, words(7));
  for (const client of [a, b, c]) {
    await client.waitFrames(2);
    assert.deepEqual(bodyWords(client.frames[1]), [id, 0, 0x5, 7]);
  }
  // b deregisters (answered locally), a leaves: still registered for c.
  await t.pool.submit(b, call(4, [id], FakeProc.CALLBACK_DEREGISTER_ANY));
  await b.waitFrames(3);
  assert.equal(readHeader(b.frames[2]).status, MessageStatus.OK);
  t.pool.detach(a);
  await t.daemon.emitEvent(id, words(8));
  await c.waitFrames(3);
  await delay(20);
  assert.equal(a.frames.length, 2);
  assert.equal(b.frames.length, 3);
  assert.deepEqual(t.daemon.activeCallbacks, [id]);
  // The last user leaving deregisters upstream.
  t.pool.detach(c);
  await waitUntil(() => t.daemon.activeCallbacks.length === 0, "317 upstream");
  await waitUntil(() => t.pool.registrationCount === 0, "the deregistration answered");
  await t.finish();
});

/** Makes `client` finish each stream (STREAM OK) once the daemon's EOF arrives. */
function finishStreamsOnEof(pool: Pool, client: TestClient): void {
  client.onFrame = (f) => {
    const h = readHeader(f);
    if (
      h.type === MessageType.STREAM && h.status === MessageStatus.CONTINUE && f.length === 28
    ) {
      queueMicrotask(() =>
        pool.streamFromClient(
          client,
          frame({ procedure: h.procedure, type: MessageType.STREAM, serial: h.serial }),
        )
      );
    }
  };
}

Deno.test("a stream reaches its client with the client's serial, finish handshake included", async () => {
  const t = await setup({ daemon: { streamChunks: 3 } });
  await t.pool.ready();
  const a = new TestClient("a");
  const b = new TestClient("b");
  for (const client of [a, b]) {
    t.pool.attach(client);
    finishStreamsOnEof(t.pool, client);
  }
  await t.pool.submit(a, call(4, [0xa], FakeProc.SCREENSHOT));
  await t.pool.submit(b, call(4, [0xb], FakeProc.SCREENSHOT));
  await a.waitFrames(6);
  await b.waitFrames(6);
  for (const [client, token] of [[a, 0xa], [b, 0xb]] as const) {
    const seen = client.frames.map((f) => {
      const h = readHeader(f);
      assert.equal(h.serial, 4);
      assert.equal(h.procedure, FakeProc.SCREENSHOT);
      return [h.type, h.status, ...bodyWords(f)];
    });
    const { REPLY, STREAM } = MessageType;
    const { OK, CONTINUE } = MessageStatus;
    assert.deepEqual(seen, [
      [REPLY, OK, token],
      [STREAM, CONTINUE, token, 0],
      [STREAM, CONTINUE, token, 1],
      [STREAM, CONTINUE, token, 2],
      [STREAM, CONTINUE],
      [STREAM, OK],
    ], `client ${client.id}`);
  }
  const finishes = t.daemon.connections.flatMap((c) => c.streamFinishes);
  assert.equal(finishes.length, 2);
  await delay(20);
  assert.equal(a.frames.length, 6);
  assert.equal(b.frames.length, 6);
  await t.finish();
});

Deno.test("a client leaving in the middle of a stream aborts it upstream", async () => {
  const t = await setup({ daemon: { streamChunks: 1 } });
  await t.pool.ready();
  const a = new TestClient("a");
  t.pool.attach(a);
  await t.pool.submit(a, call(4, [0xa], FakeProc.SCREENSHOT));
  await a.waitFrames(3); // reply, one chunk, EOF; a never sends STREAM OK
  const upstream = t.daemon.connections[0];
  const serial = upstream.userCalls[0].serial;
  t.pool.detach(a);
  try {
    // An abort is a STREAM ERROR; a STREAM OK would be a normal finish the client never sent.
    await waitUntil(
      () => upstream.streamAborts.includes(serial),
      "the daemon to see the stream aborted (STREAM ERROR)",
      500,
    );
    assert.equal(upstream.streamFinishes.includes(serial), false);
  } finally {
    await t.finish();
  }
});

Deno.test("losing the last connection answers every call with an error, then every client is lost", async () => {
  const t = await setup({ pool: { poolMax: 1 } });
  await t.pool.ready();
  const caller = new TestClient("caller");
  const listener = new TestClient("listener");
  const streamer = new TestClient("streamer");
  const bystander = new TestClient("bystander");
  for (const client of [caller, listener, streamer, bystander]) t.pool.attach(client);
  await register(t.pool, listener, 1, 0x1);
  await t.pool.submit(streamer, call(2, [0x2], FakeProc.SCREENSHOT));
  await streamer.waitFrames(4); // reply, 2 chunks, EOF: the stream waits for the finish
  t.daemon.hold();
  await t.pool.submit(caller, call(9, [0x3]));
  await t.pool.submit(caller, call(10, [0x4], 14));
  await waitUntil(() => t.daemon.heldCount === 2, "the calls upstream");

  t.daemon.kill();
  await caller.waitFrames(2);
  const replies = caller.frames.map((f) => readHeader(f));
  assert.deepEqual(replies.map((h) => [h.serial, h.procedure]).sort((x, y) => x[0] - y[0]), [
    [9, PLAIN],
    [10, 14],
  ]);
  for (const [i, h] of replies.entries()) {
    assert.equal(h.type, MessageType.REPLY);
    assert.equal(h.status, MessageStatus.ERROR);
    assert.equal(h.program, Program.REMOTE);
    const error = decodeErrorReply(caller.frames[i]);
    assert.equal(error.code, ErrorCode.RPC);
    assert.equal(error.message, `Upstream ${LABEL} closed the connection`);
  }
  const clients = [caller, listener, streamer, bystander];
  await waitUntil(() => clients.every((c) => c.lostReasons.length > 0), "lost() everywhere");
  assert.equal(caller.framesAtLoss, 2, "error replies come before lost()");
  for (const client of clients) {
    assert.deepEqual(client.lostReasons, [`Upstream ${LABEL} closed the connection`]);
  }
  assert.equal(t.pool.registrationCount, 0);
  assert.equal(t.pool.size, 0);

  // New calls open a new connection.
  t.daemon.release();
  const late = new TestClient("late");
  t.pool.attach(late);
  await t.pool.submit(late, call(1, [0x5]));
  await late.waitFrames(1);
  assert.equal(readHeader(late.frames[0]).status, MessageStatus.OK);
  assert.deepEqual(bodyWords(late.frames[0]), [0x5]);
  assert.equal(t.daemon.connections.length, 2);
  assert.equal(t.pool.connectionsOpened, 2);
  await t.finish();
});

Deno.test("a connection dying loses only the clients with calls, callbacks or streams on it", async () => {
  const t = await setup({ pool: { poolMax: 2, maxInflightPerConnection: 1 } });
  await t.pool.ready();
  const [caller, listener, streamer, other] = ["caller", "listener", "streamer", "other"].map(
    (id) => new TestClient(id),
  );
  for (const client of [caller, listener, streamer, other]) t.pool.attach(client);
  await t.pool.submit(streamer, call(2, [0x2], FakeProc.SCREENSHOT));
  await streamer.waitFrames(4);
  await register(t.pool, listener, 1, 0x1);
  assert.equal(t.daemon.connections.length, 1);
  t.daemon.hold();
  await t.pool.submit(caller, call(9, [0x3])); // fills the first connection
  const second = t.pool.submit(other, call(9, [0x4])); // opens the second
  await waitUntil(() => t.daemon.heldCount === 2, "both calls upstream");
  await second;
  const [first, spare] = t.daemon.connections;
  assert.equal(spare.userCalls.length, 1);

  first.close();
  await caller.waitFrames(1);
  assert.equal(readHeader(caller.frames[0]).status, MessageStatus.ERROR);
  assert.equal(readHeader(caller.frames[0]).serial, 9);
  await waitUntil(
    () => [caller, listener, streamer].every((c) => c.lostReasons.length > 0),
    "lost() on the dependent clients",
  );
  assert.deepEqual(other.lostReasons, []);
  t.daemon.release();
  await other.waitFrames(1);
  assert.equal(readHeader(other.frames[0]).status, MessageStatus.OK);
  assert.deepEqual(bodyWords(other.frames[0]), [0x4]);
  assert.deepEqual(other.lostReasons, []);
  await t.finish();
});

Deno.test("a connection with nothing on it closes after idleMs; one with a callback stays", async () => {
  const t = await setup({ pool: { idleMs: 200 } });
  await t.pool.ready();
  const a = new TestClient("a");
  t.pool.attach(a);
  await t.pool.submit(a, call(1, [1]));
  await a.waitFrames(1);
  const replied = Date.now();
  await t.daemon.connections[0].done;
  const idle = Date.now() - replied;
  assert.ok(idle >= 190 && idle < 1000, `closed after ${idle} ms`);
  await waitUntil(() => t.pool.size === 0, "the pool to forget it");
  assert.deepEqual(a.lostReasons, []);

  await t.pool.submit(a, call(2, [2]));
  await a.waitFrames(2);
  assert.equal(t.daemon.connections.length, 2);
  await register(t.pool, a, 3, 0xa);
  await delay(500);
  assert.equal(t.daemon.connections[1].closed, false, "a callback keeps it open");
  await t.finish();
});

Deno.test("keepalive: the pool answers pings, and drops a daemon that stops answering", async () => {
  const t = await setup({
    daemon: { answerPings: false },
    pool: { keepaliveIntervalMs: 50, keepaliveCount: 2 },
  });
  await t.pool.ready();
  await t.daemon.ping();
  await waitUntil(() => t.daemon.connections[0].pongs === 1, "a PONG");
  const a = new TestClient("a");
  t.pool.attach(a);
  t.daemon.hold();
  await t.pool.submit(a, call(7, [1]));
  await a.waitFrames(1, 2000);
  assert.ok(t.daemon.connections[0].pings >= 2);
  assert.equal(readHeader(a.frames[0]).serial, 7);
  assert.match(decodeErrorReply(a.frames[0]).message ?? "", /stopped answering keepalives/);
  await t.daemon.connections[0].done;
  await t.finish();
});

// --- Property test -------------------------------------------------------------------------

const MAGIC = 0x5eed;
/** The middle word of a registration body every client may use: one shared upstream callback. */
const SHARED = 0xffff;

interface Outstanding {
  op: number;
  kind: "plain" | "register" | "deregister" | "stream";
  /** register: the body the daemon must have recorded for the callbackID in the reply. */
  expect?: Uint8Array;
  /** deregister: the callbackID. */
  callbackId?: number;
  /** register of a shared key: which one. */
  shared?: number;
}

interface OpenStream {
  op: number;
  replied: boolean;
  chunks: number;
  eof: boolean;
}

/** A client that checks each frame it gets belongs to it, and drives a random script. */
class PropertyClient implements PoolClient {
  readonly id: string;
  readonly index: number;
  readonly outstanding = new Map<number, Outstanding>();
  readonly streams = new Map<number, OpenStream>();
  /** callbackID → the shared key it was registered with, or -1. */
  readonly callbacks = new Map<number, number>();
  readonly deregistering = new Set<number>();
  /** Shared keys held or being registered. */
  readonly sharedKeys = new Set<number>();
  detached = false;
  calls = 0;
  replies = 0;
  events = 0;
  streamsDone = 0;
  #changed: (() => void) | undefined;
  readonly #pool: Pool;
  readonly #daemon: FakeDaemon;
  readonly #fail: (message: string) => void;
  readonly #random: () => number;
  readonly #deliverRandom: () => number;

  constructor(
    index: number,
    seed: number,
    pool: Pool,
    daemon: FakeDaemon,
    fail: (message: string) => void,
  ) {
    this.index = index;
    this.id = `p${index}`;
    this.#pool = pool;
    this.#daemon = daemon;
    this.#fail = (message) => fail(`client ${index}: ${message}`);
    this.#random = mulberry32(seed * 7919 + index);
    this.#deliverRandom = mulberry32(seed * 104729 + index);
  }

  deliver(bytes: Uint8Array): Promise<void> {
    const copy = bytes.slice();
    this.#check(copy);
    if (this.#deliverRandom() < 0.1) {
      // Hold the frame a while: the pool promised it stays valid until this resolves.
      return delay(1).then(() => {
        if (!equalBytes(bytes, copy)) this.#fail("a frame changed before deliver() resolved");
      });
    }
    return Promise.resolve();
  }

  lost(reason: string): void {
    // Closing the pool at the end tells the clients that still hold callbacks: that is expected.
    if (reason.endsWith("test over")) return;
    this.#fail(`lost: ${reason}`);
  }

  #check(f: Uint8Array): void {
    const h = readHeader(f);
    const me = this.index;
    const describe = `type ${h.type} status ${h.status} serial ${h.serial} body [${bodyWords(f)}]`;
    if (this.detached) return this.#fail(`a frame after detach: ${describe}`);
    if (h.type === MessageType.REPLY) {
      const pending = this.outstanding.get(h.serial);
      if (pending === undefined) return this.#fail(`a reply for no call of mine: ${describe}`);
      this.outstanding.delete(h.serial);
      this.replies++;
      if (h.status !== MessageStatus.OK) return this.#fail(`an error reply: ${describe}`);
      switch (pending.kind) {
        case "plain":
        case "stream":
          if (!equalBytes(bodyOf(f), words(MAGIC, me, pending.op))) {
            return this.#fail(`someone else's reply (op ${pending.op}): ${describe}`);
          }
          if (pending.kind === "stream") {
            const stream = this.streams.get(h.serial);
            if (stream === undefined) return this.#fail(`no stream for ${describe}`);
            stream.replied = true;
          }
          break;
        case "register": {
          const id = readU32(f, 28);
          const registered = this.#daemon.registrationBody(id);
          if (registered === undefined || !equalBytes(registered, pending.expect!)) {
            return this.#fail(`someone else's callback ${id}: ${describe}`);
          }
          this.callbacks.set(id, pending.shared ?? -1);
          break;
        }
        case "deregister": {
          const id = pending.callbackId!;
          this.sharedKeys.delete(this.callbacks.get(id) ?? -1);
          this.callbacks.delete(id);
          this.deregistering.delete(id);
          break;
        }
      }
    } else if (h.type === MessageType.STREAM) {
      const stream = this.streams.get(h.serial);
      if (stream === undefined) return this.#fail(`stream data for no stream of mine: ${describe}`);
      if (!stream.replied) return this.#fail(`stream data before the reply: ${describe}`);
      if (h.status === MessageStatus.CONTINUE && f.length > 28) {
        if (!equalBytes(bodyOf(f), words(MAGIC, me, stream.op, stream.chunks++))) {
          return this.#fail(`someone else's stream data: ${describe}`);
        }
      } else if (h.status === MessageStatus.CONTINUE) {
        if (stream.eof) return this.#fail(`a second EOF: ${describe}`);
        stream.eof = true;
        const finish = frame({
          procedure: h.procedure,
          type: MessageType.STREAM,
          serial: h.serial,
        });
        queueMicrotask(() => {
          if (!this.detached) this.#pool.streamFromClient(this, finish);
        });
      } else if (h.status === MessageStatus.OK && stream.eof) {
        this.streams.delete(h.serial);
        this.streamsDone++;
      } else {
        return this.#fail(`an unexpected stream frame: ${describe}`);
      }
    } else if (h.type === MessageType.MESSAGE) {
      const id = readU32(f, 28);
      if (h.serial !== 1 || !this.callbacks.has(id)) {
        return this.#fail(`an event for no callback of mine: ${describe}`);
      }
      const owner = bodyWords(f)[2];
      if (owner !== me && owner !== SHARED) return this.#fail(`someone else's event: ${describe}`);
      this.events++;
    } else {
      return this.#fail(`an unexpected frame: ${describe}`);
    }
    this.#changed?.();
  }

  #nextChange(): Promise<void> {
    return new Promise((resolve) => this.#changed = resolve);
  }

  /** A client serial neither outstanding nor naming an open stream: collisions across clients. */
  #freeSerial(): number | undefined {
    const start = Math.floor(this.#random() * 8);
    for (let i = 0; i < 8; i++) {
      const serial = (start + i) % 8;
      if (!this.outstanding.has(serial) && !this.streams.has(serial)) return serial;
    }
    return undefined;
  }

  /** The next call of the script. */
  #nextCall(op: number, serial: number): [Outstanding, Uint8Array] {
    const r = this.#random();
    const me = this.index;
    const free = [...this.callbacks.keys()].filter((id) => !this.deregistering.has(id));
    if (r < 0.08 && this.callbacks.size + this.deregistering.size < 3) {
      const shared = this.#random() < 0.5 ? Math.floor(this.#random() * 3) : undefined;
      if (shared === undefined || !this.sharedKeys.has(shared)) {
        if (shared !== undefined) this.sharedKeys.add(shared);
        const body = shared === undefined ? words(0, me, op) : words(0, SHARED, shared);
        const call = frame({ procedure: FakeProc.CALLBACK_REGISTER_ANY, serial, body });
        return [{ op, kind: "register", expect: body, shared }, call];
      }
    } else if (r < 0.14 && free.length > 0) {
      const callbackId = free[Math.floor(this.#random() * free.length)];
      this.deregistering.add(callbackId);
      const call = frame({
        procedure: FakeProc.CALLBACK_DEREGISTER_ANY,
        serial,
        body: words(callbackId),
      });
      return [{ op, kind: "deregister", callbackId }, call];
    } else if (r < 0.18 && this.streams.size === 0) {
      this.streams.set(serial, { op, replied: false, chunks: 0, eof: false });
      const call = frame({ procedure: FakeProc.SCREENSHOT, serial, body: words(MAGIC, me, op) });
      return [{ op, kind: "stream" }, call];
    }
    const procedure = [PLAIN, 16, 14, 122][Math.floor(this.#random() * 4)];
    return [{ op, kind: "plain" }, frame({ procedure, serial, body: words(MAGIC, me, op) })];
  }

  /** Runs `operations` calls; with `leaveAfter`, detaches after that many without waiting. */
  async run(operations: number, leaveAfter?: number): Promise<void> {
    for (let op = 0; op < operations; op++) {
      if (op === leaveAfter) {
        this.detached = true;
        this.#pool.detach(this);
        return;
      }
      while (this.outstanding.size >= 4) await this.#nextChange();
      let serial = this.#freeSerial();
      while (serial === undefined) {
        await this.#nextChange();
        serial = this.#freeSerial();
      }
      const [outstanding, bytes] = this.#nextCall(op, serial);
      this.outstanding.set(serial, outstanding);
      this.calls++;
      await this.#pool.submit(this, bytes);
      if (this.#random() < 0.2) await delay(Math.floor(this.#random() * 3));
    }
    while (this.outstanding.size > 0 || this.streams.size > 0) await this.#nextChange();
  }
}

interface PropertyResult {
  /** Frames delivered to the wrong client, missing or extra replies, stuck clients. */
  routing: string[];
  /** More calls outstanding on a connection than allowed, more connections than allowed. */
  limits: string[];
  calls: number;
  events: number;
  streams: number;
}

/**
 * `clientCount` clients run `operations` random calls each over one pool; every fifth leaves
 * halfway, without waiting for its calls, and a fresh client runs the rest of its script.
 */
async function runProperty(
  seed: number,
  clientCount: number,
  operations: number,
): Promise<PropertyResult> {
  const routing: string[] = [];
  const limits: string[] = [];
  const fail = (message: string) => {
    if (routing.length < 20) routing.push(`seed ${seed}: ${message}`);
  };
  const maxInflight = 5;
  const poolMax = 3;
  const t = await setup({
    daemon: { seed, delayMs: [0, 4], streamChunks: 2 },
    pool: { poolMax, maxInflightPerConnection: maxInflight },
  });
  try {
    await t.pool.ready();
    const clients: PropertyClient[] = [];
    const make = (index: number) => {
      const client = new PropertyClient(index, seed, t.pool, t.daemon, fail);
      t.pool.attach(client);
      clients.push(client);
      return client;
    };
    let running = true;
    const events = (async () => {
      const random = mulberry32(seed ^ 0xe7e7);
      let n = 0;
      while (running) {
        const ids = t.daemon.activeCallbacks;
        if (ids.length > 0) {
          await t.daemon.emitEvent(ids[Math.floor(random() * ids.length)], words(n++));
        }
        await delay(random() < 0.5 ? 0 : 1);
      }
      return n;
    })();
    const half = Math.floor(operations / 2);
    const scripts = Array.from({ length: clientCount }, async (_, i) => {
      if (i % 5 !== 0) return make(i).run(operations);
      await make(i).run(operations, half);
      await make(1000 + i).run(operations - half);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the clients did not finish within 15 s")), 15_000);
    });
    try {
      await Promise.race([Promise.all(scripts), timeout]);
    } catch (error) {
      const stuck = clients.filter((c) =>
        !c.detached && (c.outstanding.size > 0 || c.streams.size > 0)
      ).map((c) => `${c.id}: calls ${[...c.outstanding.keys()]} streams ${[...c.streams.keys()]}`);
      fail(`${error instanceof Error ? error.message : error}; stuck: ${stuck.join("; ")}`);
    } finally {
      clearTimeout(timer);
      running = false;
    }
    await events;

    for (const client of clients) {
      if (!client.detached && client.replies !== client.calls) {
        fail(`client ${client.index}: ${client.calls} calls but ${client.replies} replies`);
      }
    }
    const upstream = t.daemon.connections;
    if (upstream.length > poolMax) {
      limits.push(`seed ${seed}: ${upstream.length} connections > poolMax ${poolMax}`);
    }
    for (const connection of upstream) {
      if (connection.maxOutstanding > maxInflight) {
        const calls = connection.atMaxOutstanding.map((c) => `${c.procedure}#${c.serial}`);
        limits.push(
          `seed ${seed}: connection ${connection.id} had ${connection.maxOutstanding} calls ` +
            `outstanding: ${calls.join(" ")}`,
        );
      }
      if (connection.duplicateSerials.length > 0) {
        fail(`connection ${connection.id} reused serials ${connection.duplicateSerials}`);
      }
    }
    // Detaching every client deregisters every callback upstream, shared ones included.
    for (const client of clients) {
      client.detached = true;
      t.pool.detach(client);
    }
    await waitUntil(() => t.daemon.activeCallbacks.length === 0, "every callback deregistered")
      .catch((error) => fail(`${error.message}: ${t.daemon.activeCallbacks} left`));
    await waitUntil(() => t.pool.registrationCount === 0, "the deregistrations answered")
      .catch(() => fail(`${t.pool.registrationCount} registrations left in the pool`));
    const total = (key: "calls" | "events" | "streamsDone") =>
      clients.reduce((n, c) => n + c[key], 0);
    return {
      routing,
      limits,
      calls: total("calls"),
      events: total("events"),
      streams: total("streamsDone"),
    };
  } finally {
    await t.finish();
  }
}

Deno.test("property: random interleavings of calls, replies, streams and events", async (t) => {
  const fromEnv = Deno.env.get("VIRTMUX_POOL_SEED");
  const seeds = fromEnv ? [Number(fromEnv)] : [1, 2, 3, 0xc0ffee];
  const results: PropertyResult[] = [];
  for (const seed of seeds) {
    const result = await runProperty(seed, 20, 200);
    results.push(result);
    assert.ok(result.calls >= 20 * 200 * 0.9, `seed ${seed}: ${result.calls} calls`);
    assert.ok(result.events > 0, `seed ${seed}: some events were delivered`);
    assert.ok(result.streams > 0, `seed ${seed}: some streams were run`);
  }
  const rerun = `rerun one seed with VIRTMUX_POOL_SEED=<seed>`;
  await t.step("never deliver a frame to the wrong client; one reply per call", () => {
    const routing = results.flatMap((r) => r.routing);
    assert.deepEqual(routing, [], `${rerun}:\n${routing.join("\n")}`);
  });
  await t.step("never exceed maxInflightPerConnection or poolMax", () => {
    const limits = results.flatMap((r) => r.limits);
    assert.deepEqual(limits, [], `${rerun}:\n${limits.join("\n")}`);
  });
});
