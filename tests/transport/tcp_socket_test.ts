import assert from "node:assert/strict";
import type * as net from "node:net";
import { ipv6Bytes, listenTcpSocket, socketAddress } from "../../src/transport/tcp_socket.ts";

const hex = (bytes: Uint8Array | undefined) =>
  bytes === undefined
    ? undefined
    : Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("tcp_socket: IPv6 literals to bytes", () => {
  const rows: [string, string | undefined][] = [
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["fe80::1:2", "fe800000000000000000000000010002"],
    ["2001:db8:0:0:1:0:0:1", "20010db8000000000001000000000001"],
    ["::ffff:192.0.2.7", "00000000000000000000ffffc0000207"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["1::", "00010000000000000000000000000000"],
    ["1.2.3.4", undefined],
    ["1:::2", undefined],
  ];
  for (const [text, expected] of rows) assert.equal(hex(ipv6Bytes(text)), expected, text);
});

Deno.test("tcp_socket: socket addresses, IPv4 and IPv6 with a zone", () => {
  assert.equal(
    hex(socketAddress("127.0.0.1", 16514) as Uint8Array),
    "020040827f0000010000000000000000",
  );
  const v6 = socketAddress("::1%1", 16514) as Uint8Array;
  assert.equal(v6.length, 28);
  assert.equal(new DataView(v6.buffer).getUint32(24, true), 1);
  assert.match(socketAddress("::1%no-such-if0", 1) as string, /no network interface "no-such-if0"/);
});

Deno.test("tcp_socket: accepts IPv4 and IPv6 clients as node sockets; close stops it", async () => {
  for (const hostname of ["127.0.0.1", "::1", "localhost"]) {
    const sockets: net.Socket[] = [];
    let arrived: () => void = () => {};
    const listener = await listenTcpSocket({ hostname, port: 0 }, `tcp://${hostname}`, (s) => {
      sockets.push(s);
      arrived();
    }, (error) => assert.fail(error.message));
    try {
      const connecting = hostname === "localhost" ? "127.0.0.1" : hostname;
      const next = new Promise<void>((resolve) => arrived = resolve);
      const conn = await Deno.connect({ hostname: connecting, port: listener.port }).catch(() =>
        Deno.connect({ hostname: "::1", port: listener.port })
      );
      await next;
      assert.equal(sockets[0].remotePort, (conn.localAddr as Deno.NetAddr).port);
      conn.close();
      sockets[0].destroy();
    } finally {
      listener.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port: listener.port }));
  }
});

Deno.test("tcp_socket: an address in use is named", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      listenTcpSocket(
        { hostname: "127.0.0.1", port: taken.addr.port },
        "tls://x",
        () => {},
        () => {},
      ),
      /Cannot listen on "tls:\/\/x": Address already in use/,
    );
  } finally {
    taken.close();
  }
});
