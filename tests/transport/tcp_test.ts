import assert from "node:assert/strict";
import { DialError } from "../../src/transport/channel.ts";
import { dialTcp } from "../../src/transport/tcp.ts";
import { parseUri } from "../../src/uri/uri.ts";
import { closedPort, roundTrip } from "../_helpers/channel_echo.ts";

Deno.test("dialTcp connects to the URI's host and port and carries bytes both ways", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const uri = parseUri(`test+tcp://127.0.0.1:${listener.addr.port}/default`);
    const channel = await dialTcp(uri, { name: "t" });
    const peer = await listener.accept();
    await roundTrip(channel, peer);
    channel.close();
    peer.close();
  } finally {
    listener.close();
  }
});

Deno.test("dialTcp names the upstream, the URI and host:port when refused", async () => {
  const port = closedPort();
  const text = `test+tcp://127.0.0.1:${port}/default`;
  await assert.rejects(dialTcp(parseUri(text), { name: "hv1" }), (error: unknown) => {
    assert.ok(error instanceof DialError);
    assert.ok(
      error.message.startsWith(`Cannot connect to upstream "hv1" (${text}) at 127.0.0.1:${port}: `),
      error.message,
    );
    return true;
  });
});

Deno.test("dialTcp writes an IPv6 host in brackets in its messages", async () => {
  const text = `test+tcp://[::1]:${closedPort()}/default`;
  await assert.rejects(dialTcp(parseUri(text), { name: "v6" }), {
    name: "DialError",
    message: /^Cannot connect to upstream "v6" \(.*\) at \[::1\]:\d+: /,
  });
});
