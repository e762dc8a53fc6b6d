import assert from "node:assert/strict";
import { AcceptQueue } from "../../src/transport/net_listener.ts";
import { listenTcp } from "../../src/transport/tcp_listener.ts";

Deno.test("tcp_listener: clients come with their address, IPv4 and IPv6", async () => {
  for (const hostname of ["127.0.0.1", "::1"]) {
    const listener = listenTcp({ hostname, port: 0 }, `tcp://${hostname}`, () => {});
    try {
      const clients = listener.clients()[Symbol.asyncIterator]();
      const conn = await Deno.connect({ hostname, port: listener.port });
      const accepted = (await clients.next()).value!;
      const local = conn.localAddr as Deno.NetAddr;
      assert.equal(
        accepted.address,
        hostname.includes(":") ? `[${hostname}]:${local.port}` : `${hostname}:${local.port}`,
      );
      await conn.write(new Uint8Array([5]));
      const buffer = new Uint8Array(4);
      assert.equal(await accepted.channel.read(buffer), 1);
      accepted.channel.close();
      conn.close();
    } finally {
      listener.close();
    }
    assert.equal((await listener.clients()[Symbol.asyncIterator]().next()).done, true);
  }
});

Deno.test("tcp_listener: an address in use is named", () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.throws(
      () => listenTcp({ hostname: "127.0.0.1", port: taken.addr.port }, "tcp://here", () => {}),
      /Cannot listen on "tcp:\/\/here": .*in use/i,
    );
  } finally {
    taken.close();
  }
});

Deno.test("net_listener: the accept queue hands clients out in order and ends on close", async () => {
  const queue = new AcceptQueue();
  const closed: number[] = [];
  const client = (id: number) => ({
    channel: {
      read: () => Promise.resolve(null),
      write: (d: Uint8Array) => Promise.resolve(d.length),
      closeWrite: () => Promise.resolve(),
      close: () => closed.push(id),
    },
    address: String(id),
  });
  const clients = queue.clients()[Symbol.asyncIterator]();
  const first = clients.next();
  queue.push(client(1));
  queue.push(client(2));
  assert.equal((await first).value!.address, "1");
  assert.equal((await clients.next()).value!.address, "2");
  const waiting = clients.next();
  queue.push(client(3));
  assert.equal((await waiting).value!.address, "3");
  queue.push(client(4));
  queue.close();
  queue.push(client(5));
  assert.deepEqual(closed, [4, 5]);
  assert.equal((await clients.next()).done, true);
});
