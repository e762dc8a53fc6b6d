/**
 * The plain TCP front, as libvirtd's `listen_tcp`: libvirt RPC with no encryption and no
 * confirmation byte. Whoever can reach the port can use it, so `virtmux serve` warns when it opens
 * one; SASL, when an upstream asks for it, passes through a dedicated upstream untouched.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import type { AcceptedClient } from "./credential_listener.ts";
import { formatAddress, type ListenAddress } from "./network_address.ts";
import type { NetworkListener } from "./net_listener.ts";

/** First and longest pause before accepting again after a failed accept (EMFILE). */
const MIN_ACCEPT_PAUSE_MS = 50;
const MAX_ACCEPT_PAUSE_MS = 1000;

/**
 * Listens for TCP clients on `address` with Deno's own sockets.
 *
 * @param onAcceptError told of each failed accept; the listener pauses, then goes on
 * @throws {Error} naming `label` when the address cannot be bound
 */
export function listenTcp(
  address: ListenAddress,
  label: string,
  onAcceptError: (error: unknown) => void,
): NetworkListener {
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ transport: "tcp", hostname: address.hostname, port: address.port });
  } catch (error) {
    throw new Error(`Cannot listen on "${label}": ${errorMessage(error)}`);
  }
  let closed = false;
  return {
    path: label,
    peerCredentials: false,
    port: listener.addr.port,
    async *clients(): AsyncIterable<AcceptedClient> {
      let pause = MIN_ACCEPT_PAUSE_MS;
      while (!closed) {
        let conn: Deno.TcpConn;
        try {
          conn = await listener.accept();
        } catch (error) {
          if (closed || error instanceof Deno.errors.BadResource) return;
          onAcceptError(error);
          await new Promise((resolve) => setTimeout(resolve, pause));
          pause = Math.min(pause * 2, MAX_ACCEPT_PAUSE_MS);
          continue;
        }
        pause = MIN_ACCEPT_PAUSE_MS;
        conn.setNoDelay(true);
        const peer = conn.remoteAddr;
        yield { channel: conn, address: formatAddress(peer.hostname, peer.port) };
      }
    },
    close() {
      closed = true;
      try {
        listener.close();
      } catch { /* closed */ }
    },
    remove() {},
  };
}
