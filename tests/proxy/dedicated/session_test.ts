import assert from "node:assert/strict";
import { DedicatedSession } from "../../../src/proxy/dedicated/session.ts";
import { Logger } from "../../../src/log/logger.ts";
import { DialError, writeAll } from "../../../src/transport/channel.ts";
import { ErrorCode, MessageStatus, MessageType, Program } from "../../../src/wire/constants.ts";
import { decodeErrorReply } from "../../../src/wire/error_reply.ts";
import { readHeader } from "../../../src/wire/header.ts";
import { concat, frame, FrameSource, words } from "../../_helpers/frames.ts";
import { socketPair } from "../../_helpers/socket_pair.ts";

const OPEN_ARGS = concat(words(1, 15), new TextEncoder().encode("test:///default\0"), words(0));

async function setup(options: { readonly?: boolean; maxInflight?: number } = {}) {
  const client = await socketPair();
  const upstream = await socketPair();
  const lines: string[] = [];
  const session = new DedicatedSession(client.b, Promise.resolve(upstream.a), {
    logger: new Logger({ sink: (line) => lines.push(line), level: "debug" }),
    upstreamLabel: '"fake" (test+unix:///default)',
    maxFrameBytes: 1 << 20,
    maxInflight: options.maxInflight ?? 32,
    readonly: options.readonly,
  });
  const running = session.run();
  return {
    session,
    lines,
    client: client.a,
    fromProxy: new FrameSource(client.a),
    daemon: upstream.b,
    fromClient: new FrameSource(upstream.b),
    async finish() {
      client.close();
      upstream.close();
      await running;
    },
    running,
  };
}

Deno.test("frames pass through unchanged in both directions", async () => {
  const t = await setup();
  const call = frame({ procedure: 66, serial: 0 });
  const ping = frame({ program: Program.KEEPALIVE, procedure: 1, type: MessageType.MESSAGE });
  await t.client.write(concat(call, ping));
  assert.deepEqual(await t.fromClient.next(), call);
  assert.deepEqual(await t.fromClient.next(), ping);
  const reply = frame({ procedure: 66, type: MessageType.REPLY, body: words(1, 0) });
  const event = frame({ procedure: 318, type: MessageType.MESSAGE, serial: 1, body: words(7) });
  await t.daemon.write(concat(reply, event));
  assert.deepEqual(await t.fromProxy.next(), reply);
  assert.deepEqual(await t.fromProxy.next(), event);
  assert.equal(t.session.inflight, 0);
  await t.finish();
});

Deno.test("a stream frame larger than the reader's buffer arrives whole", async () => {
  const t = await setup();
  const data = new Uint8Array(300_000).map((_, i) => i % 251);
  const stream = frame({ procedure: 60, type: MessageType.STREAM, status: 2, body: data });
  await writeAll(t.daemon, stream);
  assert.deepEqual(await t.fromProxy.next(), stream);
  await t.finish();
});

Deno.test("an oversized length gets an error reply and closes only that client", async () => {
  const t = await setup();
  const bad = frame({ procedure: 157, serial: 9, length: 0x7ffffff0 });
  await t.client.write(bad);
  const reply = await t.fromProxy.next();
  assert.ok(reply);
  const header = readHeader(reply);
  assert.equal(header.type, MessageType.REPLY);
  assert.equal(header.status, MessageStatus.ERROR);
  assert.equal(header.serial, 9);
  assert.equal(header.procedure, 157);
  const error = decodeErrorReply(reply);
  assert.equal(error.code, ErrorCode.RPC);
  assert.match(
    error.message ?? "",
    /length 2147483632 exceeds the limit of 69632 bytes before CONNECT_OPEN has succeeded/,
  );
  assert.equal(await t.fromProxy.next(), null, "client connection closed");
  assert.equal(await t.fromClient.next(), null, "upstream connection closed");
  await t.running;
  assert.match(t.session.closeReason, /invalid frame/);
  assert.ok(t.lines.some((l) => l.includes("Closing client after an invalid frame")));
  await t.finish();
});

Deno.test("a length below the header size closes the client without a reply", async () => {
  const t = await setup();
  await t.client.write(words(3));
  assert.equal(await t.fromProxy.next(), null);
  assert.equal(t.fromProxy.leftover, 0);
  await t.running;
  await t.finish();
});

Deno.test("an unknown program is refused with an error naming it", async () => {
  const t = await setup();
  await t.client.write(frame({ program: 0x12345678, serial: 3 }));
  // An unknown program cannot be answered: the client could not match the reply.
  assert.equal(await t.fromProxy.next(), null);
  await t.running;
  assert.match(t.session.closeReason, /program 0x12345678 is not allowed/);
  await t.finish();
});

Deno.test("frames before a bad one in the same read are still forwarded", async () => {
  const t = await setup();
  const good = frame({ procedure: 157, serial: 1 });
  await t.client.write(concat(good, frame({ status: 7, serial: 2 })));
  assert.deepEqual(await t.fromClient.next(), good);
  const reply = await t.fromProxy.next();
  assert.ok(reply);
  assert.match(decodeErrorReply(reply).message ?? "", /status 7 is not valid/);
  await t.finish();
});

Deno.test("the upstream closing answers every outstanding call with an error", async () => {
  const t = await setup();
  await t.client.write(concat(frame({ serial: 5, procedure: 157 }), frame({ serial: 6 })));
  await t.fromClient.next();
  await t.fromClient.next();
  assert.equal(t.session.inflight, 2);
  t.daemon.close();
  const replies = [await t.fromProxy.next(), await t.fromProxy.next()];
  const serials = replies.map((r) => readHeader(r!).serial).sort();
  assert.deepEqual(serials, [5, 6]);
  for (const reply of replies) {
    assert.equal(readHeader(reply!).status, MessageStatus.ERROR);
    assert.equal(
      decodeErrorReply(reply!).message,
      'Upstream "fake" (test+unix:///default) closed the connection',
    );
  }
  assert.equal(await t.fromProxy.next(), null);
  await t.finish();
});

Deno.test("a read-only session sets VIR_CONNECT_RO in CONNECT_OPEN and nothing else", async () => {
  const t = await setup({ readonly: true });
  const open = frame({ procedure: 1, serial: 2, body: OPEN_ARGS });
  await t.client.write(open);
  const forwarded = await t.fromClient.next();
  assert.ok(forwarded);
  const expected = open.slice();
  expected[expected.length - 1] = 1;
  assert.deepEqual(forwarded, expected);
  await t.finish();
});

Deno.test("a read-only session patches the real flags word of a CONNECT_OPEN padded with extra bytes", async () => {
  // libvirt ignores bytes after the arguments: patching the last word would leave flags at 0.
  const t = await setup({ readonly: true });
  const open = frame({ procedure: 1, serial: 2, body: concat(OPEN_ARGS, words(0)) });
  await t.client.write(open);
  const forwarded = await t.fromClient.next();
  assert.ok(forwarded);
  const expected = open.slice();
  expected[expected.length - 5] = 1; // the flags word, before the padding
  assert.deepEqual(forwarded, expected);
  await t.finish();
});

Deno.test("a read-only session refuses a CONNECT_OPEN whose arguments cannot be read", async () => {
  const t = await setup({ readonly: true });
  await t.client.write(frame({ procedure: 1, serial: 3, body: words(1, 99) }));
  const reply = await t.fromProxy.next();
  assert.ok(reply);
  assert.equal(readHeader(reply).serial, 3);
  assert.equal(readHeader(reply).status, MessageStatus.ERROR);
  assert.match(decodeErrorReply(reply).message ?? "", /CONNECT_OPEN/);
  await t.finish();
});

Deno.test("CALL_WITH_FDS is answered with an error and not forwarded", async () => {
  const t = await setup();
  await t.client.write(
    concat(frame({ type: MessageType.CALL_WITH_FDS, serial: 4, body: words(1) }), frame()),
  );
  const reply = await t.fromProxy.next();
  assert.equal(decodeErrorReply(reply!).code, ErrorCode.NO_SUPPORT);
  assert.deepEqual(readHeader((await t.fromClient.next())!).type, MessageType.CALL);
  await t.finish();
});

Deno.test("a client at its in-flight limit is not read until a reply arrives", async () => {
  const t = await setup({ maxInflight: 2 });
  const calls = [1, 2, 3].map((serial) => frame({ serial, procedure: 157 }));
  await t.client.write(calls[0]);
  await t.fromClient.next();
  await t.client.write(calls[1]);
  await t.fromClient.next();
  await t.client.write(calls[2]);
  const third = t.fromClient.next();
  const early = await Promise.race([third, new Promise((r) => setTimeout(() => r("paused"), 200))]);
  assert.equal(early, "paused");
  await t.daemon.write(frame({ serial: 1, procedure: 157, type: MessageType.REPLY }));
  assert.deepEqual(await third, calls[2]);
  await t.finish();
});

Deno.test("a failed dial answers the client's first call with the dial error", async () => {
  const client = await socketPair();
  const session = new DedicatedSession(
    client.b,
    Promise.reject(new DialError('Cannot connect to upstream "x" (test+tcp://h/default): refused')),
    {
      logger: new Logger({ sink: () => {} }),
      upstreamLabel: "x",
      maxFrameBytes: 1 << 20,
      maxInflight: 4,
    },
  );
  const running = session.run();
  await client.a.write(frame({ procedure: 66, serial: 0 }));
  const source = new FrameSource(client.a);
  const reply = await source.next();
  assert.equal(
    decodeErrorReply(reply!).message,
    'Cannot connect to upstream "x" (test+tcp://h/default): refused',
  );
  assert.equal(await source.next(), null);
  await running;
  client.close();
});

Deno.test("draining refuses new calls and closes once outstanding ones are answered", async () => {
  const t = await setup();
  await t.client.write(frame({ serial: 1, procedure: 157 }));
  await t.fromClient.next();
  t.session.drain();
  await t.client.write(frame({ serial: 2, procedure: 157 }));
  const refused = await t.fromProxy.next();
  assert.equal(readHeader(refused!).serial, 2);
  assert.match(decodeErrorReply(refused!).message ?? "", /shutting down/);
  await t.daemon.write(frame({ serial: 1, procedure: 157, type: MessageType.REPLY }));
  assert.equal(readHeader((await t.fromProxy.next())!).serial, 1);
  assert.equal(await t.fromProxy.next(), null);
  await t.running;
  await t.finish();
});
