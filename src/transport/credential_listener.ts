/**
 * A unix listener that knows who connects: the socket is made, bound and accepted on with the C
 * library's own calls (FFI), so each accepted descriptor can be asked for the peer's credentials
 * before node:net takes it over for the data. Deno's listeners hand out connections without
 * descriptors, and node:net's server, under Deno, stops accepting for good after running out of
 * file descriptors; here a failed accept is reported, waited out and retried.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import type { Channel } from "./channel.ts";
import { runAcceptLoop } from "./accept_loop.ts";
import { C, errno, errnoText, libc } from "./libc.ts";
import { NodeSocketChannel } from "./node_socket_channel.ts";
import { type PeerCredentials, peerCredentials } from "./peer_credentials.ts";

/** A client just accepted. */
export interface AcceptedClient {
  /** Its connection. */
  channel: Channel;
  /** Its credentials, when the listener reads them and the kernel gave them. */
  peer?: PeerCredentials;
  /** Why its credentials could not be read, when the listener reads them. */
  peerError?: string;
  /** A network client's address, `host:port` (IPv6 in brackets). */
  address?: string;
  /** A TLS client's certificate subject, as libvirt formats it (`O=Example,CN=alice`). */
  certificateDn?: string;
}

/** A listening socket handing out clients with their credentials. */
export interface CredentialListener {
  /** The next client; rejects once the listener is closed. */
  accept(): Promise<AcceptedClient>;
  /** Every client until the listener is closed. */
  clients(): AsyncIterable<AcceptedClient>;
  /** Stops accepting and releases the socket (the file at its path stays). */
  close(): void;
}

/** Pending connections the kernel queues for the listener. */
const BACKLOG = 512;
/** `struct sockaddr_un`: the family, then up to 108 bytes of path. */
const SOCKADDR_UN_BYTES = 110;

/**
 * Binds a unix socket at `path` (which must not exist) and listens on it.
 *
 * @param onAcceptError told of each failed accept; the listener pauses, then goes on
 * @throws {Error} with the C library's reason when the socket cannot be made or bound
 */
export function listenWithCredentials(
  path: string,
  onAcceptError: (error: Error) => void,
): CredentialListener {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length > SOCKADDR_UN_BYTES - 3) {
    throw new Error(`the path "${path}" is ${bytes.length} bytes long; at most 107 fit`);
  }
  const c = libc();
  const fd = c.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket: ${errnoText(errno())}`);
  const address = new Uint8Array(SOCKADDR_UN_BYTES);
  new DataView(address.buffer).setUint16(0, C.AF_UNIX, true);
  address.set(bytes, 2);
  if (c.bind(fd, address, address.length) !== 0 || c.listen(fd, BACKLOG) !== 0) {
    const reason = errnoText(errno());
    c.close(fd);
    throw new Error(reason);
  }

  const waiting: { resolve: (client: AcceptedClient) => void; reject: (e: Error) => void }[] = [];
  const ready: AcceptedClient[] = [];
  let closed = false;
  const hand = (client: AcceptedClient) => {
    const taker = waiting.shift();
    if (taker !== undefined) taker.resolve(client);
    else ready.push(client);
  };

  runAcceptLoop(
    fd,
    (socket, client) => {
      const accepted: Partial<AcceptedClient> = {};
      try {
        accepted.peer = peerCredentials(client);
      } catch (error) {
        accepted.peerError = errorMessage(error);
      }
      hand({ ...accepted, channel: new NodeSocketChannel(socket) });
    },
    () => closed,
    onAcceptError,
  );

  const accept = (): Promise<AcceptedClient> => {
    const next = ready.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (closed) return Promise.reject(new Error("listener closed"));
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  };
  return {
    accept,
    async *clients() {
      while (true) {
        try {
          yield await accept();
        } catch {
          return;
        }
      }
    },
    close() {
      if (closed) return;
      closed = true;
      c.shutdown(fd, C.SHUT_RDWR); // wakes the poll; the loop then closes the descriptor
      for (const taker of waiting.splice(0)) taker.reject(new Error("listener closed"));
      for (const client of ready.splice(0)) client.channel.close();
    },
  };
}
