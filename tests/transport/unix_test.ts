import assert from "node:assert/strict";
import { DialError } from "../../src/transport/channel.ts";
import { dialUnix } from "../../src/transport/unix.ts";
import { parseUri } from "../../src/uri/uri.ts";
import { roundTrip } from "../_helpers/channel_echo.ts";

Deno.test("dialUnix connects to socket= and carries bytes both ways", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-unix-" });
  const path = `${dir}/d.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const channel = await dialUnix(parseUri(`test+unix:///default?socket=${path}`), {
      name: "u",
      readonly: true, // socket= wins over the -ro default
    });
    const peer = await listener.accept();
    await roundTrip(channel, peer);
    channel.close();
    peer.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("dialUnix names the upstream, the URI and the socket when nothing listens", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-unix-" });
  const text = `test+unix:///default?socket=${dir}/none.sock`;
  try {
    await assert.rejects(dialUnix(parseUri(text), { name: "hv1" }), (error: unknown) => {
      assert.ok(error instanceof DialError);
      const prefix = `Cannot connect to upstream "hv1" (${text}) at socket "${dir}/none.sock": `;
      assert.ok(error.message.startsWith(prefix), error.message);
      assert.ok(error.message.length > prefix.length, "the cause follows");
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
