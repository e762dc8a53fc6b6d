import assert from "node:assert/strict";
import { Logger } from "../../../src/log/logger.ts";
import { Pool } from "../../../src/proxy/shared/pool.ts";
import { SharedSession } from "../../../src/proxy/shared/session.ts";
import {
  ErrorCode,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  Program,
} from "../../../src/wire/constants.ts";
import { writeAll } from "../../../src/transport/channel.ts";
import { decodeErrorReply } from "../../../src/wire/error_reply.ts";
import { readHeader, readU32 } from "../../../src/wire/header.ts";
import { FakeDaemon, type FakeDaemonOptions, FakeProc } from "../../_helpers/fake_daemon.ts";
import { concat, frame, FrameSource, words } from "../../_helpers/frames.ts";
import { socketPair } from "../../_helpers/socket_pair.ts";

const LABEL = '"fake" (test+unix:///default)';
const OPEN_NAME = "test:///default";
const OPEN_ARGS = (flags = 0) =>
  concat(words(1, OPEN_NAME.length), new TextEncoder().encode(OPEN_NAME + "\0"), words(flags));
/** CONNECT_GET_LIB_VERSION: a call the proxy forwards without looking at it. */
const PLAIN = 157;
const CONNECT_SET_IDENTITY = 419;
const REGISTER_CLOSE_CALLBACK = 360;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await delay(2);
  }
}

async function setup(options: { daemon?: FakeDaemonOptions; readonly?: boolean } = {}) {
  const daemon = await FakeDaemon.start(options.daemon);
  const logger = new Logger({ sink: () => {}, level: "debug" });
  const pool = new Pool({
    label: LABEL,
    openName: OPEN_NAME,
    openFlags: 0,
    poolMax: 2,
    maxInflightPerConnection: 5,
    maxFrameBytes: 1 << 20,
    idleMs: 60_000,
    keepaliveIntervalMs: 60_000,
    keepaliveCount: 5,
    connectTimeoutMs: 2000,
    dial: () => daemon.dial(),
    logger,
  });
  const opens: { name: string | null; flags: number }[] = [];
  const clients: { close(): void; running: Promise<void> }[] = [];
  let nextId = 1;

  /** A client connected to a new SharedSession. */
  async function connect() {
    const pair = await socketPair();
    const session = new SharedSession(pair.b, {
      id: nextId++,
      logger,
      maxFrameBytes: 1 << 20,
      maxInflight: 32,
      readonly: options.readonly ?? false,
      poolFor: (name, flags) => {
        opens.push({ name, flags });
        return pool;
      },
    });
    const running = session.run();
    const source = new FrameSource(pair.a);
    const client = {
      session,
      running,
      conn: pair.a,
      source,
      /** Sends a frame; resolves to the next frame from the proxy. */
      async call(bytes: Uint8Array): Promise<Uint8Array> {
        await pair.a.write(bytes);
        const reply = await source.next();
        assert.ok(reply, "the proxy closed the client");
        return reply;
      },
      async open(serial = 2): Promise<Uint8Array> {
        const reply = await client.call(
          frame({ procedure: FakeProc.CONNECT_OPEN, serial, body: OPEN_ARGS() }),
        );
        assert.equal(readHeader(reply).status, MessageStatus.OK, "CONNECT_OPEN succeeded");
        return reply;
      },
      close: () => pair.close(),
    };
    clients.push(client);
    return client;
  }

  return {
    daemon,
    pool,
    opens,
    connect,
    async finish() {
      for (const client of clients) client.close();
      await Promise.all(clients.map((c) => c.running));
      pool.close("test over");
      await waitUntil(() => pool.size === 0, "the pool to close");
      await daemon.stop();
    },
  };
}

function assertError(reply: Uint8Array, serial: number, code: number, message?: RegExp) {
  const header = readHeader(reply);
  assert.equal(header.type, MessageType.REPLY);
  assert.equal(header.status, MessageStatus.ERROR);
  assert.equal(header.serial, serial);
  const error = decodeErrorReply(reply);
  assert.equal(error.code, code);
  if (message) assert.match(error.message ?? "", message);
}

Deno.test("AUTH_LIST and the keepalive and FD-passing probes are answered locally", async () => {
  const t = await setup();
  const c = await t.connect();
  const auth = await c.call(frame({ procedure: FakeProc.AUTH_LIST, serial: 0 }));
  assert.deepEqual(
    auth,
    frame({ procedure: FakeProc.AUTH_LIST, type: MessageType.REPLY, body: words(1, 0) }),
  );
  const feature = (serial: number, which: number) =>
    c.call(frame({ procedure: FakeProc.SUPPORTS_FEATURE, serial, body: words(which) }));
  const keepalive = await feature(1, 10);
  assert.equal(readHeader(keepalive).serial, 1);
  assert.deepEqual([...keepalive.subarray(24)], [...words(MessageStatus.OK, 1)]);
  const fds = await feature(2, 8);
  assert.deepEqual([...fds.subarray(24)], [...words(MessageStatus.OK, 0)]);
  assert.equal(t.daemon.connections.length, 0, "nothing reached the daemon");

  // Once open, FD passing is still refused locally; other features go to the daemon.
  await c.open(3);
  assert.deepEqual([...(await feature(4, 8)).subarray(24)], [...words(MessageStatus.OK, 0)]);
  const callbacks = await feature(5, 14);
  assert.equal(readHeader(callbacks).serial, 5);
  assert.deepEqual([...callbacks.subarray(24)], [...words(MessageStatus.OK, 1)]);
  const features = t.daemon.connections[0].calls
    .filter((x) => x.procedure === FakeProc.SUPPORTS_FEATURE)
    .map((x) => readU32(x.frame, 28));
  assert.deepEqual(features, [10, 14], "the handshake's probe, then the client's 14");
  await t.finish();
});

Deno.test("CONNECT_OPEN is answered from the pool, whose handshake runs once", async () => {
  const t = await setup();
  const a = await t.connect();
  const b = await t.connect();
  const reply = await a.open(7);
  assert.deepEqual(reply, frame({ procedure: 1, type: MessageType.REPLY, serial: 7 }));
  await b.open(2);
  assert.equal(t.daemon.connections.length, 1);
  assert.equal(t.daemon.opens, 1);
  assert.deepEqual(t.opens, [{ name: OPEN_NAME, flags: 0 }, { name: OPEN_NAME, flags: 0 }]);
  assert.equal(t.pool.clientCount, 2);
  await t.finish();
});

Deno.test("a read-only listener asks for a read-only pool", async () => {
  const t = await setup({ readonly: true });
  const c = await t.connect();
  await c.open();
  assert.deepEqual(t.opens, [{ name: OPEN_NAME, flags: 1 }]);
  await t.finish();
});

Deno.test("a refused CONNECT_OPEN gives the client the daemon's own error", async () => {
  const refusal = { code: 45, domain: 13, message: "authentication failed: access denied" };
  const t = await setup({ daemon: { openError: refusal } });
  const c = await t.connect();
  const reply = await c.call(frame({ procedure: 1, serial: 2, body: OPEN_ARGS() }));
  assertError(reply, 2, refusal.code);
  assert.deepEqual(decodeErrorReply(reply), {
    code: refusal.code,
    domain: refusal.domain,
    message: refusal.message,
    level: 2,
  });
  // Not opened: calls are refused.
  assertError(await c.call(frame({ procedure: PLAIN, serial: 3 })), 3, ErrorCode.RPC);
  await t.finish();
});

Deno.test("a call before CONNECT_OPEN gets an error and reaches no daemon", async () => {
  const t = await setup();
  const c = await t.connect();
  const reply = await c.call(frame({ procedure: PLAIN, serial: 3 }));
  assertError(reply, 3, ErrorCode.RPC, /CONNECT_OPEN must come first/);
  assert.equal(readHeader(reply).procedure, PLAIN);
  assert.equal(t.daemon.connections.length, 0);
  await t.finish();
});

Deno.test("CONNECT_SET_IDENTITY is refused with VIR_ERR_OPERATION_DENIED", async () => {
  const t = await setup();
  const c = await t.connect();
  await c.open();
  const reply = await c.call(frame({ procedure: CONNECT_SET_IDENTITY, serial: 4, body: words(0) }));
  assertError(reply, 4, ErrorCode.OPERATION_DENIED, /identity/);
  assert.equal(t.daemon.userCalls.length, 0);
  await t.finish();
});

Deno.test("CALL_WITH_FDS is refused with VIR_ERR_NO_SUPPORT", async () => {
  const t = await setup();
  const c = await t.connect();
  await c.open();
  const reply = await c.call(
    frame({ type: MessageType.CALL_WITH_FDS, procedure: 10, serial: 5, body: words(1) }),
  );
  assertError(reply, 5, ErrorCode.NO_SUPPORT, /file descriptors/);
  assert.equal(readHeader(reply).procedure, 10);
  assert.equal(t.daemon.userCalls.length, 0);
  await t.finish();
});

Deno.test("a client's keepalive PING is answered with a PONG by the proxy", async () => {
  const t = await setup();
  const c = await t.connect();
  await c.open();
  const pong = await c.call(
    frame({ program: Program.KEEPALIVE, procedure: KeepaliveProc.PING, type: MessageType.MESSAGE }),
  );
  assert.deepEqual(
    pong,
    frame({ program: Program.KEEPALIVE, procedure: KeepaliveProc.PONG, type: MessageType.MESSAGE }),
  );
  assert.equal(t.daemon.connections[0].pings, 0, "not forwarded");
  await t.finish();
});

Deno.test("the close callback is answered locally", async () => {
  const t = await setup();
  const c = await t.connect();
  await c.open();
  const reply = await c.call(frame({ procedure: REGISTER_CLOSE_CALLBACK, serial: 6 }));
  assert.deepEqual(
    reply,
    frame({ procedure: REGISTER_CLOSE_CALLBACK, type: MessageType.REPLY, serial: 6 }),
  );
  assert.equal(t.daemon.userCalls.length, 0);
  await t.finish();
});

Deno.test("calls with the same serial from two clients get their own replies", async () => {
  const t = await setup({ daemon: { delayMs: [0, 10] } });
  const a = await t.connect();
  const b = await t.connect();
  await a.open();
  await b.open();
  for (let serial = 3; serial < 10; serial++) {
    await a.conn.write(frame({ procedure: PLAIN, serial, body: words(0xa, serial) }));
    await b.conn.write(frame({ procedure: PLAIN, serial, body: words(0xb, serial) }));
  }
  for (const [c, token] of [[a, 0xa], [b, 0xb]] as const) {
    const seen: number[][] = [];
    for (let i = 0; i < 7; i++) {
      const reply = (await c.source.next())!;
      seen.push([readHeader(reply).serial, readU32(reply, 28), readU32(reply, 32)]);
    }
    seen.sort((x, y) => x[0] - y[0]);
    assert.deepEqual(seen, [3, 4, 5, 6, 7, 8, 9].map((s) => [s, token, s]));
  }
  await t.finish();
});

Deno.test("CONNECT_CLOSE is answered locally and deregisters the client's callbacks", async () => {
  const t = await setup();
  const c = await t.connect();
  await c.open();
  const registered = await c.call(
    frame({ procedure: FakeProc.CALLBACK_REGISTER_ANY, serial: 3, body: words(0, 0) }),
  );
  assert.equal(readHeader(registered).status, MessageStatus.OK);
  const id = readU32(registered, 28);
  assert.deepEqual(t.daemon.activeCallbacks, [id]);
  await t.daemon.emitEvent(id);
  const event = (await c.source.next())!;
  assert.equal(readHeader(event).type, MessageType.MESSAGE);
  assert.equal(readU32(event, 28), id);

  const closed = await c.call(frame({ procedure: FakeProc.CONNECT_CLOSE, serial: 4 }));
  assert.deepEqual(
    closed,
    frame({ procedure: FakeProc.CONNECT_CLOSE, type: MessageType.REPLY, serial: 4 }),
  );
  const upstream = t.daemon.connections[0];
  await waitUntil(() => upstream.deregistered.includes(id), "the daemon to see 317");
  assert.equal(
    upstream.calls.filter((x) => x.procedure === FakeProc.CONNECT_CLOSE).length,
    0,
    "the shared connection stays open",
  );
  assert.equal(t.pool.clientCount, 0);
  assertError(await c.call(frame({ procedure: PLAIN, serial: 5 })), 5, ErrorCode.RPC);
  await t.finish();
});

Deno.test("CONNECT_CLOSE is answered after the calls before it, and leaves none in flight", async () => {
  const t = await setup();
  const c = await t.connect();
  await c.open();
  t.daemon.hold();
  await c.conn.write(frame({ procedure: PLAIN, serial: 3 }));
  await waitUntil(() => t.daemon.heldCount === 1, "the call upstream");
  await c.conn.write(frame({ procedure: FakeProc.CONNECT_CLOSE, serial: 4 }));
  await delay(30);
  t.daemon.release();
  const replies = [(await c.source.next())!, (await c.source.next())!].map((f) => readHeader(f));
  assert.deepEqual(replies.map((h) => [h.serial, h.procedure, h.status]), [
    [3, PLAIN, MessageStatus.OK],
    [4, FakeProc.CONNECT_CLOSE, MessageStatus.OK],
  ]);
  assert.equal(c.session.inflight, 0);
  c.session.drain();
  const drained = await Promise.race([c.running.then(() => "closed"), delay(500)]);
  assert.equal(drained, "closed", "drain() closed the session");
  await t.finish();
});

Deno.test("an invalid frame closes only that client", async () => {
  const t = await setup();
  const bad = await t.connect();
  const good = await t.connect();
  await bad.open();
  await good.open();
  await bad.conn.write(frame({ program: 0x12345678, procedure: PLAIN, serial: 3 }));
  assert.equal(await bad.source.next(), null, "the bad client is closed");
  await bad.running;
  assert.match(bad.session.closeReason, /invalid frame: program 0x12345678 is not allowed/);
  const reply = await good.call(frame({ procedure: PLAIN, serial: 3, body: words(9) }));
  assert.equal(readHeader(reply).status, MessageStatus.OK);
  assert.equal(readU32(reply, 28), 9);
  assert.equal(t.pool.clientCount, 1);
  assert.equal(t.daemon.open.length, 1, "the upstream connection is untouched");
  await t.finish();
});

Deno.test("an upstream death answers the outstanding call, then closes the client", async () => {
  const t = await setup();
  const c = await t.connect();
  await c.open();
  t.daemon.hold();
  await c.conn.write(frame({ procedure: PLAIN, serial: 8 }));
  await waitUntil(() => t.daemon.heldCount === 1, "the call upstream");
  t.daemon.kill();
  const reply = (await c.source.next())!;
  assertError(reply, 8, ErrorCode.RPC);
  assert.equal(decodeErrorReply(reply).message, `Upstream ${LABEL} closed the connection`);
  assert.equal(await c.source.next(), null, "then the client is closed");
  await c.running;
  assert.equal(c.session.closeReason, `Upstream ${LABEL} closed the connection`);
  await t.finish();
});

Deno.test("a client that never reads its replies is closed when over 8 MiB would wait for it", async () => {
  const t = await setup();
  const c = await t.connect();
  await c.open();
  const other = await t.connect();
  await other.open();
  // Calls whose replies echo a body of almost 1 MiB; the client sends 12 and reads none.
  const body = new Uint8Array((1 << 20) - 64).fill(0x5a);
  const sending = (async () => {
    for (let serial = 3; serial < 15; serial++) {
      await writeAll(c.conn, frame({ procedure: PLAIN, serial, body }));
    }
  })().catch(() => {}); // the proxy may close the socket under the last writes
  await waitUntil(() => c.session.closeReason !== "", "the slow reader to be closed", 15_000);
  assert.match(c.session.closeReason, /^did not read its replies \(\d+ bytes waiting\)$/);
  const waiting = Number(/\((\d+) bytes/.exec(c.session.closeReason)![1]);
  const replyBytes = 28 + body.length;
  assert.ok(
    waiting <= 8 << 20 && waiting + replyBytes > 8 << 20,
    `${waiting} bytes waiting: one more reply of ${replyBytes} would take it over 8 MiB`,
  );
  await c.running;
  await sending;
  // The upstream connection it shared is untouched: another client is still served.
  const reply = await other.call(frame({ procedure: PLAIN, serial: 3, body: words(7) }));
  assert.equal(readHeader(reply).status, MessageStatus.OK);
  assert.equal(readU32(reply, 28), 7);
  // (Its heavy calls may have opened the second connection: none was closed.)
  assert.equal(t.daemon.open.length, t.daemon.connections.length);
  await t.finish();
});
