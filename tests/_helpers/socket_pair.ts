/**
 * Connected pairs of real unix sockets for unit tests of the proxy layer.
 *
 * @module
 */

/** Two connected ends of a unix socket, and a cleanup. */
export interface SocketPair {
  a: Deno.UnixConn;
  b: Deno.UnixConn;
  close(): void;
}

/** Makes a connected pair of unix sockets through a short-lived listener in a temp dir. */
export async function socketPair(): Promise<SocketPair> {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-pair-" });
  const path = `${dir}/s`;
  const listener = Deno.listen({ transport: "unix", path });
  const [a, b] = await Promise.all([
    Deno.connect({ transport: "unix", path }),
    listener.accept(),
  ]);
  listener.close();
  await Deno.remove(dir, { recursive: true });
  return {
    a,
    b,
    close() {
      for (const conn of [a, b]) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    },
  };
}
