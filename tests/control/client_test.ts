import assert from "node:assert/strict";
import { join } from "node:path";
import { controlRequest } from "../../src/control/client.ts";

Deno.test("controlRequest names the socket it cannot reach", async () => {
  await assert.rejects(
    controlRequest("/nonexistent/virtmux-control.sock", { command: "status" }),
    /Cannot reach virtmux's control socket "\/nonexistent\/virtmux-control\.sock"/,
  );
});

Deno.test("controlRequest reports an answer that is not JSON", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-control-client-" });
  const path = join(dir, "c.sock");
  const listener = Deno.listen({ transport: "unix", path });
  const serving = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(100));
    await conn.write(new TextEncoder().encode("hello\n"));
    conn.close();
  })();
  try {
    await assert.rejects(
      controlRequest(path, { command: "status" }),
      /answered something else than JSON: hello/,
    );
  } finally {
    await serving;
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
