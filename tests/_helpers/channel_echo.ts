/**
 * Helpers shared by the transport dial tests: a round trip through a dialed channel.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Channel } from "../../src/transport/channel.ts";

/** Writes three bytes on `channel`, echoes them back from `peer` (if any), reads them back. */
export async function roundTrip(channel: Channel, peer?: Deno.Conn): Promise<void> {
  await channel.write(new Uint8Array([1, 2, 3]));
  const buffer = new Uint8Array(8);
  if (peer !== undefined) {
    const n = await peer.read(buffer);
    await peer.write(buffer.subarray(0, n ?? 0));
  }
  let got = 0;
  while (got < 3) {
    const n = await channel.read(buffer.subarray(got));
    assert.ok(n !== null, "end of stream before the echo");
    got += n;
  }
  assert.deepEqual([...buffer.subarray(0, 3)], [1, 2, 3]);
}

/** A TCP port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}
