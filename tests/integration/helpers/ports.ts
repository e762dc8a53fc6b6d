/**
 * Free loopback TCP ports for test servers.
 *
 * @module
 */

/**
 * Returns a TCP port on 127.0.0.1 that was free a moment ago: it listens on port 0, reads the port
 * the kernel chose, and closes. Another process may take it before the caller binds it; tests accept
 * that small race.
 *
 * @returns a port number in the ephemeral range
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    return (listener.addr as Deno.NetAddr).port;
  } finally {
    listener.close();
  }
}
