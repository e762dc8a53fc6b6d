import assert from "node:assert/strict";
import * as net from "node:net";
import { NodeSocketChannel } from "../../src/transport/node_socket_channel.ts";

/** A node client socket as a channel, and the node socket the server accepted for it. */
async function pair(): Promise<
  { channel: NodeSocketChannel; client: net.Socket; peer: net.Socket; done: () => Promise<void> }
> {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-node-" });
  const path = `${dir}/s`;
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const client = net.connect(path);
  await new Promise<void>((resolve) => client.once("connect", () => resolve()));
  const peer = await accepted;
  const channel = new NodeSocketChannel(client);
  return {
    channel,
    client,
    peer,
    async done() {
      channel.close();
      peer.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function readExactly(
  channel: NodeSocketChannel,
  length: number,
  step: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await channel.read(out.subarray(got, Math.min(length, got + step)));
    assert.ok(n !== null, `end of stream after ${got} of ${length} bytes`);
    got += n;
  }
  return out;
}

Deno.test("a node socket channel carries bytes both ways, in reads smaller than the chunks", async () => {
  const { channel, peer, done } = await pair();
  try {
    const data = new Uint8Array(100_000).map((_, i) => i % 251);
    peer.write(data);
    assert.deepEqual(await readExactly(channel, data.length, 777), data);
    const echoed = new Promise<Uint8Array>((resolve) => peer.once("data", resolve));
    assert.equal(await channel.write(new Uint8Array([9, 8, 7])), 3);
    assert.deepEqual([...await echoed], [9, 8, 7]);
  } finally {
    await done();
  }
});

Deno.test("a node socket channel stops reading above its high-water mark and resumes below it", async () => {
  const { channel, client, peer, done } = await pair();
  try {
    const total = 4 * NodeSocketChannel.HIGH_WATER;
    const data = new Uint8Array(total).map((_, i) => i % 253);
    peer.write(data);
    // Nothing reads: the channel queues a little more than its mark, then pauses the socket.
    for (let i = 0; i < 200 && !client.isPaused(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(client.isPaused(), "the socket is paused while the queue is full");
    assert.deepEqual(await readExactly(channel, total, 65536), data);
    assert.ok(!client.isPaused(), "reading resumed the socket");
  } finally {
    await done();
  }
});

Deno.test("a node socket channel reads end of stream after the peer ends, and can still write", async () => {
  const { channel, peer, done } = await pair();
  try {
    const received: Uint8Array[] = [];
    peer.on("data", (chunk: Uint8Array) => received.push(chunk));
    const ended = new Promise<void>((resolve) => peer.once("end", () => resolve()));
    peer.end(new Uint8Array([1, 2]));
    assert.deepEqual([...await readExactly(channel, 2, 10)], [1, 2]);
    assert.equal(await channel.read(new Uint8Array(4)), null);
    await channel.write(new Uint8Array([3]));
    await channel.closeWrite();
    await ended;
    assert.deepEqual(received.flatMap((c) => [...c]), [3]);
  } finally {
    await done();
  }
});
