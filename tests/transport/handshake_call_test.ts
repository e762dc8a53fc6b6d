import assert from "node:assert/strict";
import { handshakeCaller } from "../../src/transport/handshake_call.ts";
import { ALL_PROGRAMS, KeepaliveProc, MessageType, Program } from "../../src/wire/constants.ts";
import { encodeErrorReply } from "../../src/wire/error_reply.ts";
import { FrameReader } from "../../src/wire/frame_reader.ts";
import { readHeader } from "../../src/wire/header.ts";
import { concat, frame, FrameSource, words } from "../_helpers/frames.ts";
import { socketPair } from "../_helpers/socket_pair.ts";

async function setup() {
  const pair = await socketPair();
  let serial = 5;
  const call = handshakeCaller({
    channel: () => pair.a,
    reader: new FrameReader({ programs: ALL_PROGRAMS, direction: "fromServer" }),
    nextSerial: () => serial++,
    refused: (error) => new Error(`refused: ${error.message} (${error.code})`),
    closed: () => new Error("closed"),
  });
  return { pair, call, daemon: new FrameSource(pair.b) };
}

Deno.test("a call is answered by the reply with its serial; pings meanwhile get a pong", async () => {
  const t = await setup();
  try {
    const replying = t.call(66, words(1));
    const sent = readHeader((await t.daemon.next())!);
    assert.deepEqual([sent.program, sent.procedure, sent.serial], [Program.REMOTE, 66, 5]);
    await t.pair.b.write(concat(
      frame({
        program: Program.KEEPALIVE,
        procedure: KeepaliveProc.PING,
        type: MessageType.MESSAGE,
      }),
      frame({ procedure: 66, type: MessageType.REPLY, serial: 4, body: words(9) }), // not ours
      frame({ procedure: 66, type: MessageType.REPLY, serial: 5, body: words(1, 0) }),
    ));
    const reply = await replying;
    assert.equal(readHeader(reply).serial, 5);
    assert.equal(readHeader((await t.daemon.next())!).procedure, KeepaliveProc.PONG);
  } finally {
    t.pair.close();
  }
});

Deno.test("an error reply and a closed connection become the caller's errors", async () => {
  const t = await setup();
  try {
    const refused = t.call(1);
    const sent = readHeader((await t.daemon.next())!);
    await t.pair.b.write(encodeErrorReply({ ...sent, length: 0 }, "no such name", { code: 38 }));
    await assert.rejects(refused, /^Error: refused: no such name \(38\)$/);
    const closing = t.call(1);
    await t.daemon.next();
    t.pair.b.close();
    await assert.rejects(closing, /^Error: closed$/);
  } finally {
    t.pair.close();
  }
});
