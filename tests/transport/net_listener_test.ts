import assert from "node:assert/strict";
import { AcceptQueue } from "../../src/transport/net_listener.ts";

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
