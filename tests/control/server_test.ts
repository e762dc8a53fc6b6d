import assert from "node:assert/strict";
import { join } from "node:path";
import { controlRequest } from "../../src/control/client.ts";
import { ControlServer } from "../../src/control/server.ts";
import { Logger } from "../../src/log/logger.ts";
import type { ServerSnapshot } from "../../src/proxy/server_snapshot.ts";

const SNAPSHOT: ServerSnapshot = {
  pid: 1,
  startedAt: 0,
  listeners: [],
  upstreams: [],
  pools: [],
  clients: [{ id: 3, listener: "/a.sock", upstream: "hv1", shared: false, since: 0, inflight: 0 }],
};

async function withServer(
  fn: (path: string, disconnected: number[], server: ControlServer) => Promise<void>,
  ownerUid?: number,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-control-" });
  const path = join(dir, "sub", "control.sock");
  const disconnected: number[] = [];
  const server = await ControlServer.listen(path, {
    logger: new Logger({ level: "error" }),
    ownerUid,
    target: {
      snapshot: () => structuredClone(SNAPSHOT),
      disconnect: (id) => {
        if (id !== 3) return false;
        disconnected.push(id);
        return true;
      },
      callsOf: (id) => id === 3 ? 17 : undefined,
    },
  });
  try {
    await fn(path, disconnected, server);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the control socket is mode 0600 in a 0700 directory, and removed on close", async () => {
  let socketPath = "";
  await withServer(async (path) => {
    socketPath = path;
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    assert.equal(Deno.statSync(join(path, "..")).mode! & 0o777, 0o700);
    await Promise.resolve();
  });
  assert.throws(() => Deno.statSync(socketPath), Deno.errors.NotFound);
});

Deno.test("status, clients (with calls) and client-disconnect answer one request each", async () => {
  await withServer(async (path, disconnected) => {
    const status = await controlRequest(path, { command: "status" });
    assert.ok(status.ok && "status" in status);
    assert.equal(status.status.clients[0].calls, 17);
    const clients = await controlRequest(path, { command: "clients" });
    assert.ok(clients.ok && "clients" in clients);
    assert.deepEqual(clients.clients.map((c) => c.id), [3]);
    assert.deepEqual(await controlRequest(path, { command: "client-disconnect", id: 3 }), {
      ok: true,
      disconnected: 3,
    });
    assert.deepEqual(disconnected, [3]);
    assert.deepEqual(await controlRequest(path, { command: "client-disconnect", id: 8 }), {
      ok: false,
      error: "No client with id 8 is connected",
    });
  });
});

Deno.test("a malformed request gets an error response", async () => {
  await withServer(async (path) => {
    const conn = await Deno.connect({ transport: "unix", path });
    await conn.write(new TextEncoder().encode("hello\n"));
    const text = await new Response(conn.readable).text();
    assert.match(JSON.parse(text).error, /not JSON/);
  });
});

Deno.test("a peer that is neither the owner nor root is refused", async () => {
  if (Deno.uid() !== 0) {
    // As the owner, set another owner: root is still allowed, so only check as non-root.
    await withServer(async (path) => {
      const answer = await controlRequest(path, { command: "status" });
      assert.deepEqual(answer.ok, false);
    }, 123456);
    return;
  }
  // As root every peer is root: the check lets it in whatever the owner.
  await withServer(async (path) => {
    const answer = await controlRequest(path, { command: "status" });
    assert.equal(answer.ok, true);
  }, 123456);
});
