import assert from "node:assert/strict";
import { FrameWriter } from "../../src/proxy/frame_writer.ts";
import { rejectInvalidFrame, SessionLifecycle } from "../../src/proxy/session.ts";
import { Logger } from "../../src/log/logger.ts";
import { ErrorCode, ErrorDomain, MessageStatus, MessageType } from "../../src/wire/constants.ts";
import { decodeErrorReply } from "../../src/wire/error_reply.ts";
import { FrameError } from "../../src/wire/frame_check.ts";
import { readHeader } from "../../src/wire/header.ts";
import { FrameSource } from "../_helpers/frames.ts";
import { socketPair } from "../_helpers/socket_pair.ts";
import { settledWithin } from "../_helpers/wait.ts";

const TIMEOUTS = { openMs: 1000, frameMs: 1000, idleMs: 5000 };

Deno.test("a session ends once: the first reason is kept", () => {
  const life = new SessionLifecycle(undefined);
  assert.equal(life.closed, false);
  assert.equal(life.closeReason, "");
  assert.equal(life.end("client closed the connection"), true);
  assert.equal(life.end("shutting down"), false);
  assert.equal(life.closed, true);
  assert.equal(life.closeReason, "client closed the connection");
});

Deno.test("finished() resolves when the session ends, not before", async () => {
  const life = new SessionLifecycle(undefined);
  const finished = life.finished();
  assert.equal(await settledWithin(finished, 20), "pending");
  life.end("done");
  assert.equal(await settledWithin(finished, 100), "settled");
  assert.equal(await settledWithin(life.finished(), 100), "settled", "and stays resolved");
});

Deno.test("without timeouts a session never expires", () => {
  const life = new SessionLifecycle(undefined);
  assert.equal(life.expired(Date.now() + 3_600_000, 0), undefined);
});

Deno.test("expired() asks the clock with the session's timeouts and calls outstanding", () => {
  const life = new SessionLifecycle(TIMEOUTS);
  const now = Date.now();
  assert.equal(life.expired(now, 0), undefined);
  assert.equal(life.expired(now + 1500, 0), "sent no CONNECT_OPEN within 1 s (open_timeout)");
  life.clock.opened = true;
  assert.equal(life.expired(now + 1500, 0), undefined);
  assert.equal(life.expired(now + 6000, 0), "idle for 5 s (idle_timeout)");
  assert.equal(life.expired(now + 6000, 1), undefined, "a call outstanding: not idle");
  life.clock.partial = true;
  assert.equal(
    life.expired(now + 6000, 1),
    "stalled in the middle of a frame for 1 s (frame_timeout)",
  );
});

async function rejectSetup() {
  const pair = await socketPair();
  const lines: string[] = [];
  const logger = new Logger({ sink: (line) => lines.push(line), level: "debug" });
  const errors: unknown[] = [];
  const writer = new FrameWriter(pair.b, {
    maxQueuedBytes: 1 << 20,
    onError: (error) => errors.push(error),
  });
  const order: string[] = [];
  return { pair, lines, logger, writer, errors, order };
}

const HEADER = {
  length: 40,
  program: 0x20008086,
  version: 1,
  procedure: 157,
  type: MessageType.CALL,
  serial: 12,
  status: MessageStatus.OK,
};

Deno.test("an invalid frame with a header is answered with its error, then the client lingers", async () => {
  const t = await rejectSetup();
  try {
    const error = new FrameError(
      "length 40000000 exceeds the limit of 1048576 bytes",
      40_000_000,
      HEADER,
    );
    const rejecting = rejectInvalidFrame(error, {
      logger: t.logger,
      maxFrameBytes: 1 << 20,
      client: t.pair.b,
      writer: t.writer,
      release: () => t.order.push("released"),
    });
    const source = new FrameSource(t.pair.a);
    const reply = await source.next();
    assert.ok(reply);
    assert.deepEqual(t.order, ["released"], "upstream state let go before the answer");
    const header = readHeader(reply);
    assert.deepEqual([header.procedure, header.serial, header.type, header.status], [
      157,
      12,
      MessageType.REPLY,
      MessageStatus.ERROR,
    ]);
    assert.deepEqual(decodeErrorReply(reply), {
      code: ErrorCode.RPC,
      domain: ErrorDomain.RPC,
      message: "virtmux refused a frame: length 40000000 exceeds the limit of 1048576 bytes",
      level: 2,
    });
    assert.equal(await source.next(), null, "then end of stream");
    // The client may still be writing the rest of its frame: the proxy reads and discards it.
    await t.pair.a.write(new Uint8Array(100_000));
    assert.equal(
      await settledWithin(rejecting, 50),
      "pending",
      "lingering while the client writes",
    );
    t.pair.a.close();
    assert.equal(
      await rejecting,
      "invalid frame: length 40000000 exceeds the limit of 1048576 bytes",
    );
    assert.match(t.lines.join("\n"), /Closing client after an invalid frame/);
    assert.deepEqual(t.errors, []);
  } finally {
    t.pair.close();
  }
});

Deno.test("an invalid frame keeps its own error code in the answer", async () => {
  const t = await rejectSetup();
  try {
    const error = new FrameError(
      "program 0x20008087 is not allowed",
      40,
      HEADER,
      ErrorCode.OPERATION_DENIED,
    );
    const rejecting = rejectInvalidFrame(error, {
      logger: t.logger,
      maxFrameBytes: 1 << 20,
      client: t.pair.b,
      writer: t.writer,
      release: () => {},
    });
    const reply = await new FrameSource(t.pair.a).next();
    assert.equal(decodeErrorReply(reply!).code, ErrorCode.OPERATION_DENIED);
    t.pair.a.close();
    assert.equal(await rejecting, "invalid frame: program 0x20008087 is not allowed");
  } finally {
    t.pair.close();
  }
});

Deno.test("an invalid frame without an answerable header gets no answer and no linger", async () => {
  const t = await rejectSetup();
  try {
    const error = new FrameError("length 3 is below the 28-byte minimum", 3);
    const reason = await rejectInvalidFrame(error, {
      logger: t.logger,
      maxFrameBytes: 1 << 20,
      client: t.pair.b,
      writer: t.writer,
      release: () => t.order.push("released"),
    });
    assert.equal(reason, "invalid frame: length 3 is below the 28-byte minimum");
    assert.deepEqual(t.order, ["released"]);
    assert.equal(t.writer.queuedBytes, 0, "nothing written");
    // The caller closes; the client then sees end of stream with no reply before it.
    t.pair.b.close();
    assert.equal(await new FrameSource(t.pair.a).next(), null);
  } finally {
    t.pair.close();
  }
});
