import assert from "node:assert/strict";
import { Logger } from "../../src/log/logger.ts";
import { closeQuietly, refuseClient } from "../../src/proxy/refuse_client.ts";
import { ErrorCode, ErrorDomain, MessageType, Program } from "../../src/wire/constants.ts";
import { decodeErrorReply } from "../../src/wire/error_reply.ts";
import { readHeader } from "../../src/wire/header.ts";
import { concat, frame, FrameSource } from "../_helpers/frames.ts";
import { socketPair } from "../_helpers/socket_pair.ts";

const logger = new Logger({ sink: () => {}, level: "debug" });

Deno.test("every call in the client's first read is answered with the message, then it is closed", async () => {
  const pair = await socketPair();
  try {
    const refusing = refuseClient(pair.b, 'Cannot connect to upstream "hv1": refused', { logger });
    const ping = frame({ program: Program.KEEPALIVE, procedure: 1, type: MessageType.MESSAGE });
    await pair.a.write(concat(
      frame({ procedure: 66, serial: 0 }),
      ping,
      frame({ procedure: 1, serial: 1 }),
    ));
    const source = new FrameSource(pair.a);
    const replies = [await source.next(), await source.next()];
    assert.equal(await source.next(), null, "then end of stream; the ping is not answered");
    await refusing;
    assert.deepEqual(replies.map((r) => [readHeader(r!).procedure, readHeader(r!).serial]), [
      [66, 0],
      [1, 1],
    ]);
    for (const reply of replies) {
      assert.equal(readHeader(reply!).type, MessageType.REPLY);
      assert.deepEqual(decodeErrorReply(reply!), {
        code: ErrorCode.RPC,
        domain: ErrorDomain.REMOTE,
        message: 'Cannot connect to upstream "hv1": refused',
        level: 2,
      });
    }
  } finally {
    pair.close();
  }
});

Deno.test("the refusal carries the code it is given", async () => {
  const pair = await socketPair();
  try {
    const refusing = refuseClient(pair.b, "virtmux is full", {
      logger,
      code: ErrorCode.ACCESS_DENIED,
    });
    await pair.a.write(frame({ procedure: 66, serial: 0 }));
    const reply = await new FrameSource(pair.a).next();
    assert.equal(decodeErrorReply(reply!).code, ErrorCode.ACCESS_DENIED);
    await refusing;
  } finally {
    pair.close();
  }
});

Deno.test("a client that sends nothing is closed after waitMs", async () => {
  const pair = await socketPair();
  try {
    const started = Date.now();
    await refuseClient(pair.b, "virtmux is full", { logger, waitMs: 100 });
    const waited = Date.now() - started;
    assert.ok(waited >= 90 && waited < 2000, `closed after ${waited} ms`);
    assert.equal(await new FrameSource(pair.a).next(), null);
  } finally {
    pair.close();
  }
});

Deno.test("a client that hangs up at once is let go quietly", async () => {
  const pair = await socketPair();
  try {
    pair.a.close();
    await refuseClient(pair.b, "virtmux is full", { logger, waitMs: 5000 });
  } finally {
    pair.close();
  }
});

Deno.test("closeQuietly ignores a channel already closed, or none", async () => {
  const pair = await socketPair();
  pair.b.close();
  closeQuietly(pair.b);
  closeQuietly(undefined);
  pair.close();
});
