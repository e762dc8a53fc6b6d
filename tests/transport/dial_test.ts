/**
 * Tests of src/transport/dial.ts with the local transports on real sockets and commands (tls and
 * ssh have their own integration tests under tests/integration/).
 */

import assert from "node:assert/strict";
import { DialError } from "../../src/transport/channel.ts";
import { dial } from "../../src/transport/dial.ts";
import { parseUri } from "../../src/uri/uri.ts";

async function roundTrip(channel: Awaited<ReturnType<typeof dial>>, peer?: Deno.Conn) {
  await channel.write(new Uint8Array([1, 2, 3]));
  const buffer = new Uint8Array(8);
  if (peer !== undefined) {
    const n = await peer.read(buffer);
    await peer.write(buffer.subarray(0, n ?? 0));
  }
  let got = 0;
  while (got < 3) got += (await channel.read(buffer.subarray(got))) ?? 3;
  assert.deepEqual([...buffer.subarray(0, 3)], [1, 2, 3]);
}

Deno.test("dial reaches a unix socket= and a tcp port, and names the socket when it fails", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-dial-" });
  const path = `${dir}/d.sock`;
  const unixListener = Deno.listen({ transport: "unix", path });
  const tcpListener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const unix = await dial(parseUri(`test+unix:///default?socket=${path}`), { name: "u" });
    const unixPeer = await unixListener.accept();
    await roundTrip(unix, unixPeer);
    unix.close();
    unixPeer.close();

    const port = tcpListener.addr.port;
    const tcp = await dial(parseUri(`test+tcp://127.0.0.1:${port}/default`), { name: "t" });
    const tcpPeer = await tcpListener.accept();
    await roundTrip(tcp, tcpPeer);
    tcp.close();
    tcpPeer.close();

    const missing = `test+unix:///default?socket=${dir}/none.sock`;
    await assert.rejects(dial(parseUri(missing), { name: "hv1" }), (error: unknown) => {
      assert.ok(error instanceof DialError);
      assert.ok(
        error.message.startsWith(
          `Cannot connect to upstream "hv1" (${missing}) at socket "${dir}/none.sock": `,
        ),
        error.message,
      );
      return true;
    });
  } finally {
    unixListener.close();
    tcpListener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dial runs an ext command= and carries bytes over its stdin and stdout", async () => {
  const channel = await dial(parseUri("test+ext:///default?command=/bin/cat"), { name: "cat" });
  try {
    await roundTrip(channel);
  } finally {
    channel.close();
  }
});

Deno.test("dial refuses an ext command it cannot run, naming the upstream and the program", async () => {
  const uri = parseUri("test+ext:///default?command=/nonexistent/virtmux-ext");
  await assert.rejects(dial(uri, { name: "hv1" }), {
    name: "DialError",
    message: new RegExp(
      `^Cannot connect to upstream "hv1" \\(test\\+ext:///default\\?command=/nonexistent/virtmux-ext\\): ` +
        `cannot run "/nonexistent/virtmux-ext": `,
    ),
  });
});
