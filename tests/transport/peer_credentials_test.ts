import assert from "node:assert/strict";
import * as net from "node:net";
import { peerAllowed, peerCredentials } from "../../src/transport/peer_credentials.ts";

Deno.test("peerCredentials reads pid, uid, gid and the groups `id -G` lists", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-peer-" });
  const path = `${dir}/p.sock`;
  const server = net.createServer();
  try {
    const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const conn = await Deno.connect({ transport: "unix", path });
    const socket = await accepted;
    // deno-lint-ignore no-explicit-any
    const peer = peerCredentials((socket as any)._handle.fd);
    assert.equal(peer.pid, Deno.pid);
    assert.equal(peer.uid, Deno.uid());
    assert.equal(peer.gid, Deno.gid());
    const id = await new Deno.Command("id", { args: ["-G"], stdout: "piped" }).output();
    const groups = new TextDecoder().decode(id.stdout).trim().split(/\s+/).map(Number);
    for (const gid of groups) if (gid !== peer.gid) assert.ok(peer.groups.includes(gid), `${gid}`);
    socket.destroy();
    conn.close();
  } finally {
    server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("peerCredentials names the descriptor when the kernel refuses", () => {
  assert.throws(() => peerCredentials(987654), /SO_PEERCRED.*987654/);
});

Deno.test("peerAllowed: a listed uid, primary gid or supplementary gid lets the peer in", () => {
  const peer = { pid: 1, uid: 1000, gid: 1000, groups: [1000, 27, 108] };
  const none = new Set<number>();
  assert.equal(peerAllowed(peer, new Set([1000]), none), true);
  assert.equal(peerAllowed(peer, new Set([0]), none), false);
  assert.equal(peerAllowed(peer, none, new Set([1000])), true);
  assert.equal(peerAllowed(peer, none, new Set([108])), true);
  assert.equal(peerAllowed(peer, new Set([0]), new Set([4])), false);
  assert.equal(peerAllowed(peer, none, none), false);
});
