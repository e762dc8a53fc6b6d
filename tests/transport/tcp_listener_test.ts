import assert from "node:assert/strict";
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
