/**
 * The plain TCP front, as libvirtd's `listen_tcp`: libvirt RPC with no encryption and no
 * confirmation byte. Whoever can reach the port can use it, so `virtmux serve` warns when it opens
 * one; SASL, when an upstream asks for it, passes through a dedicated upstream untouched.
 *
 * @module
 */

import { formatAddress, type ListenAddress } from "./network_address.ts";
import { AcceptQueue, listenNet, type NetworkListener } from "./net_listener.ts";

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
  const queue = new AcceptQueue();
  return listenNet(
    address,
    label,
    (conn) => {
      conn.setNoDelay(true);
      const peer = conn.remoteAddr;
      queue.push({ channel: conn, address: formatAddress(peer.hostname, peer.port) });
    },
    queue,
    onAcceptError,
  );
}
