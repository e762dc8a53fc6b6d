import assert from "node:assert/strict";
import { Logger } from "../../../src/log/logger.ts";
import {
  UpstreamConnection,
  type UpstreamConnectionOptions,
  type UpstreamHandler,
} from "../../../src/proxy/shared/upstream_connection.ts";
import { UpstreamError } from "../../../src/proxy/upstream_error.ts";
import {
  ErrorCode,
  KeepaliveProc,
  MessageStatus,
  MessageType,
  Program,
} from "../../../src/wire/constants.ts";
import { readHeader, readU32 } from "../../../src/wire/header.ts";
import { encodeOpenArgs } from "../../../src/wire/open_args.ts";
import { FakeDaemon, type FakeDaemonOptions, FakeProc } from "../../_helpers/fake_daemon.ts";
import { frame, FrameSource, words } from "../../_helpers/frames.ts";
import { socketPair } from "../../_helpers/socket_pair.ts";
import { delay, waitUntil } from "../../_helpers/wait.ts";

const LABEL = '"fake" (test+unix:///default)';
const OPEN_NAME = "test:///default";
/** CONNECT_GET_LIB_VERSION: a call the daemon answers by echoing its body. */
const PLAIN = 157;

function options(overrides: Partial<UpstreamConnectionOptions> = {}): UpstreamConnectionOptions {
  return {
    openName: OPEN_NAME,
    openFlags: 0,
    maxFrameBytes: 1 << 20,
    keepaliveIntervalMs: 60_000,
    keepaliveCount: 5,
    label: LABEL,
    logger: new Logger({ sink: () => {}, level: "debug" }),
    timeoutMs: 2000,
    ...overrides,
  };
}

/** A handler that records frames (copied) and the close reason. */
class RecordingHandler implements UpstreamHandler {
  readonly frames: Uint8Array[] = [];
  readonly closes: string[] = [];
  onFrame(_connection: UpstreamConnection, bytes: Uint8Array): undefined {
    this.frames.push(bytes.slice());
    return undefined;
  }
  onClosed(_connection: UpstreamConnection, reason: string): void {
    this.closes.push(reason);
  }
}

async function withDaemon(
  daemonOptions: FakeDaemonOptions,
  test: (daemon: FakeDaemon) => Promise<void>,
): Promise<void> {
  const daemon = await FakeDaemon.start(daemonOptions);
  try {
    await test(daemon);
  } finally {
    await daemon.stop();
  }
}

function assertUpstreamError(
  error: unknown,
  expected: { code: number; domain?: number; message: string | RegExp },
): true {
  assert.ok(error instanceof UpstreamError, `an UpstreamError, not ${error}`);
  assert.equal(error.code, expected.code);
  if (expected.domain !== undefined) assert.equal(error.domain, expected.domain);
  if (typeof expected.message === "string") assert.equal(error.message, expected.message);
  else assert.match(error.message, expected.message);
  return true;
}

Deno.test("the handshake asks AUTH_LIST, probes keepalive, then opens the name with the flags", async () => {
  await withDaemon({}, async (daemon) => {
    const connection = await UpstreamConnection.open(
      await daemon.dial(),
      options({ openFlags: 1 }),
    );
    const upstream = daemon.connections[0];
    assert.deepEqual(upstream.calls.map((c) => [c.procedure, c.serial]), [
      [FakeProc.AUTH_LIST, 1],
      [FakeProc.SUPPORTS_FEATURE, 2],
      [FakeProc.CONNECT_OPEN, 3],
    ]);
    assert.equal(readU32(upstream.calls[1].frame, 28), 10, "VIR_DRV_FEATURE_PROGRAM_KEEPALIVE");
    assert.deepEqual(upstream.openBody, encodeOpenArgs({ name: OPEN_NAME, flags: 1 }));
    assert.equal(connection.closed, false);
    connection.close("test over");
    assert.equal(connection.closed, true);
  });
});

Deno.test("a null open name is sent as an absent string: the daemon's default", async () => {
  await withDaemon({}, async (daemon) => {
    const connection = await UpstreamConnection.open(
      await daemon.dial(),
      options({ openName: null }),
    );
    assert.deepEqual(daemon.connections[0].openBody, words(0, 0));
    connection.close("test over");
  });
});

Deno.test("a daemon asking for polkit is answered with AUTH_POLKIT before the open", async () => {
  await withDaemon({ authTypes: [2] }, async (daemon) => {
    const connection = await UpstreamConnection.open(await daemon.dial(), options());
    assert.deepEqual(daemon.connections[0].calls.map((c) => c.procedure), [
      FakeProc.AUTH_LIST,
      FakeProc.AUTH_POLKIT,
      FakeProc.SUPPORTS_FEATURE,
      FakeProc.CONNECT_OPEN,
    ]);
    connection.close("test over");
  });
});

Deno.test("a daemon offering none among other types needs no authentication", async () => {
  await withDaemon({ authTypes: [1, 0] }, async (daemon) => {
    const connection = await UpstreamConnection.open(await daemon.dial(), options());
    assert.equal(daemon.opens, 1);
    connection.close("test over");
  });
});

Deno.test("a SASL-only daemon is refused when the connection has no upstream to log in as", async () => {
  await withDaemon({ authTypes: [1] }, async (daemon) => {
    await assert.rejects(
      UpstreamConnection.open(await daemon.dial(), options()),
      (error) =>
        assertUpstreamError(error, {
          code: ErrorCode.NO_SUPPORT,
          message: `Upstream ${LABEL} requires SASL authentication, which this pool has no ` +
            "credentials for",
        }),
    );
    await daemon.connections[0].done; // the channel is closed
    assert.equal(daemon.opens, 0);
  });
});

Deno.test("a daemon refusing CONNECT_OPEN gives its own code, domain and message", async () => {
  const refusal = { code: 45, domain: 13, message: "authentication failed: access denied" };
  await withDaemon({ openError: refusal }, async (daemon) => {
    await assert.rejects(
      UpstreamConnection.open(await daemon.dial(), options()),
      (error) => assertUpstreamError(error, refusal),
    );
    await daemon.connections[0].done;
  });
});

Deno.test("a handshake that does not finish in time fails with VIR_ERR_OPERATION_TIMEOUT", async () => {
  await withDaemon({ silent: true }, async (daemon) => {
    const started = Date.now();
    await assert.rejects(
      UpstreamConnection.open(await daemon.dial(), options({ timeoutMs: 100 })),
      (error) =>
        assertUpstreamError(error, {
          code: ErrorCode.OPERATION_TIMEOUT,
          message: `Upstream ${LABEL} did not finish the handshake within 100 ms`,
        }),
    );
    assert.ok(Date.now() - started >= 90);
    await daemon.connections[0].done;
  });
});

Deno.test("a daemon closing during the handshake fails the open with a message saying so", async () => {
  const pair = await socketPair();
  try {
    const daemonSide = (async () => {
      const call = await new FrameSource(pair.b).next();
      assert.equal(readHeader(call!).procedure, FakeProc.AUTH_LIST);
      pair.b.close();
    })();
    await assert.rejects(
      UpstreamConnection.open(pair.a, options()),
      (error) =>
        assertUpstreamError(error, {
          code: ErrorCode.RPC,
          message: `Upstream ${LABEL} closed the connection during the handshake`,
        }),
    );
    await daemonSide;
  } finally {
    pair.close();
  }
});

Deno.test("a daemon's PING during the handshake is answered with a PONG", async () => {
  const pair = await socketPair();
  try {
    const source = new FrameSource(pair.b);
    const received: number[][] = [];
    const daemonSide = (async () => {
      // PING first, then answer each handshake call once the PONG has come.
      await pair.b.write(frame({
        program: Program.KEEPALIVE,
        procedure: KeepaliveProc.PING,
        type: MessageType.MESSAGE,
      }));
      for (let i = 0; i < 4; i++) {
        const bytes = (await source.next())!;
        const { length: _length, ...header } = readHeader(bytes);
        received.push([header.program, header.procedure]);
        if (header.program === Program.KEEPALIVE) continue;
        const body = header.procedure === FakeProc.AUTH_LIST ? words(1, 0) : words(0);
        await pair.b.write(frame({ ...header, type: MessageType.REPLY, body }));
      }
    })();
    const connection = await UpstreamConnection.open(pair.a, options());
    await daemonSide;
    assert.deepEqual(received[0], [Program.REMOTE, FakeProc.AUTH_LIST]);
    assert.deepEqual(received[1], [Program.KEEPALIVE, KeepaliveProc.PONG]);
    assert.deepEqual(received.slice(2).map((r) => r[1]), [
      FakeProc.SUPPORTS_FEATURE,
      FakeProc.CONNECT_OPEN,
    ]);
    connection.close("test over");
  } finally {
    pair.close();
  }
});

Deno.test("once running, a daemon's PING is answered with a PONG and not handed on", async () => {
  await withDaemon({}, async (daemon) => {
    const connection = await UpstreamConnection.open(await daemon.dial(), options());
    const handler = new RecordingHandler();
    const running = connection.run(handler);
    await daemon.ping();
    await waitUntil(() => daemon.connections[0].pongs === 1, "a PONG");
    assert.deepEqual(handler.frames, []);
    connection.close("test over");
    await running;
    assert.deepEqual(handler.closes, ["test over"]);
  });
});

Deno.test("a daemon that stops answering pings is closed after keepaliveCount pings", async () => {
  await withDaemon({ answerPings: false }, async (daemon) => {
    const connection = await UpstreamConnection.open(
      await daemon.dial(),
      options({ keepaliveIntervalMs: 50, keepaliveCount: 2 }),
    );
    const handler = new RecordingHandler();
    const started = Date.now();
    await connection.run(handler);
    assert.deepEqual(handler.closes, ["stopped answering keepalives (2 pings over 0.1 s)"]);
    assert.equal(daemon.connections[0].pings, 2);
    assert.ok(Date.now() - started >= 100, "not before two intervals of silence");
    assert.equal(connection.closed, true);
    await daemon.connections[0].done;
  });
});

Deno.test("a daemon that answers its pings stays open", async () => {
  await withDaemon({}, async (daemon) => {
    const connection = await UpstreamConnection.open(
      await daemon.dial(),
      options({ keepaliveIntervalMs: 30, keepaliveCount: 1 }),
    );
    const running = connection.run(new RecordingHandler());
    await delay(250);
    assert.ok(daemon.connections[0].pings >= 2, "pinged while quiet");
    assert.equal(connection.closed, false);
    connection.close("test over");
    await running;
  });
});

Deno.test("a daemon without keepalive support is never pinged", async () => {
  await withDaemon({ keepalive: false }, async (daemon) => {
    const connection = await UpstreamConnection.open(
      await daemon.dial(),
      options({ keepaliveIntervalMs: 20, keepaliveCount: 1 }),
    );
    const running = connection.run(new RecordingHandler());
    await delay(150);
    assert.equal(daemon.connections[0].pings, 0);
    assert.equal(connection.closed, false);
    connection.close("test over");
    await running;
  });
});

Deno.test("allocateSerial skips serials in use and continues after the handshake's", async () => {
  await withDaemon({}, async (daemon) => {
    const connection = await UpstreamConnection.open(await daemon.dial(), options());
    const inUse = new Set([4, 5, 7]);
    assert.equal(connection.allocateSerial((s) => inUse.has(s)), 6, "1-3 went to the handshake");
    assert.equal(connection.allocateSerial((s) => inUse.has(s)), 8);
    assert.equal(connection.allocateSerial(() => false), 9);
    connection.close("test over");
  });
});

Deno.test("run() hands replies and events to the handler, and reports the daemon's close", async () => {
  await withDaemon({}, async (daemon) => {
    const connection = await UpstreamConnection.open(await daemon.dial(), options());
    const handler = new RecordingHandler();
    const running = connection.run(handler);
    const serial = connection.allocateSerial(() => false);
    const written = connection.write(frame({ procedure: PLAIN, serial, body: words(42) }));
    const second = frame({ procedure: PLAIN, serial: serial + 1 });
    assert.equal(connection.send(second), undefined, "a write in flight: queued as a copy");
    second.fill(0); // the copy went out, not this buffer
    await written;
    await waitUntil(() => handler.frames.length === 2, "two replies");
    const replies = handler.frames.map((f) => readHeader(f));
    assert.deepEqual(replies.map((h) => [h.type, h.serial, h.status]), [
      [MessageType.REPLY, serial, MessageStatus.OK],
      [MessageType.REPLY, serial + 1, MessageStatus.OK],
    ]);
    assert.equal(readU32(handler.frames[0], 28), 42);
    // An event for a callback registered on this connection.
    await connection.write(
      frame({ procedure: FakeProc.CALLBACK_REGISTER_ANY, serial: serial + 2, body: words(0, 0) }),
    );
    await waitUntil(() => handler.frames.length === 3, "the registration's reply");
    const callbackId = readU32(handler.frames[2], 28);
    assert.ok(await daemon.emitEvent(callbackId));
    await waitUntil(() => handler.frames.length === 4, "the event");
    const event = readHeader(handler.frames[3]);
    assert.deepEqual([event.type, event.procedure], [
      MessageType.MESSAGE,
      FakeProc.EVENT_CALLBACK_LIFECYCLE,
    ]);
    assert.equal(readU32(handler.frames[3], 28), callbackId);
    daemon.kill();
    await running;
    assert.deepEqual(handler.closes, ["closed the connection"]);
    assert.equal(connection.closed, true);
  });
});

Deno.test("run() reports the reason given to close()", async () => {
  await withDaemon({}, async (daemon) => {
    const connection = await UpstreamConnection.open(await daemon.dial(), options());
    const handler = new RecordingHandler();
    const running = connection.run(handler);
    connection.close("idle for 60 s");
    connection.close("a second close is ignored");
    await running;
    assert.deepEqual(handler.closes, ["idle for 60 s"]);
    await daemon.connections[0].done;
  });
});

Deno.test("run() closes on an invalid frame from the daemon and says why", async () => {
  const pair = await socketPair();
  try {
    const source = new FrameSource(pair.b);
    const daemonSide = (async () => {
      for (let i = 0; i < 3; i++) {
        const { length: _length, ...header } = readHeader((await source.next())!);
        const body = header.procedure === FakeProc.AUTH_LIST ? words(1, 0) : words(0);
        await pair.b.write(frame({ ...header, type: MessageType.REPLY, body }));
      }
    })();
    const connection = await UpstreamConnection.open(
      pair.a,
      options({ maxFrameBytes: 1000 }),
    );
    await daemonSide;
    const handler = new RecordingHandler();
    const running = connection.run(handler);
    await pair.b.write(frame({ type: MessageType.REPLY, serial: 9, length: 5000 }));
    await running;
    assert.equal(handler.closes.length, 1);
    assert.match(handler.closes[0], /^sent an invalid frame: length 5000 exceeds/);
    assert.deepEqual(handler.frames, []);
  } finally {
    pair.close();
  }
});
