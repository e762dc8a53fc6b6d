/**
 * What the network fronts share: the listener shape the server serves (the same as a unix
 * socket's, with nothing to remove from the file system), a queue from which accepted clients are
 * taken, and an accept loop on a {@linkcode ListenAddress}.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import { acceptEach } from "./accept_loop.ts";
import type { AcceptedClient } from "./credential_listener.ts";
import type { ListenAddress } from "./network_address.ts";

/** A listening network front. */
export interface NetworkListener {
  /** The listener's label, e.g. `tls://[::]:16514`. */
  path: string;
  /** Network clients bring no unix credentials. */
  peerCredentials: false;
  /** The port actually bound (differs from the configured one only for port 0). */
  port: number;
  /** Every client until the listener is closed. */
  clients(): AsyncIterable<AcceptedClient>;
  /** Stops accepting; connected clients stay. */
  close(): void;
  /** Nothing to remove for a network listener; there for symmetry with unix sockets. */
  remove(): void;
}

/** Accepted clients waiting to be taken, and takers waiting for clients. */
export class AcceptQueue {
  #ready: AcceptedClient[] = [];
  #waiting: ((client: AcceptedClient | undefined) => void)[] = [];
  #closed = false;

  /** Hands `client` to a waiting taker, or keeps it for the next one. */
  push(client: AcceptedClient): void {
    if (this.#closed) {
      client.channel.close();
      return;
    }
    const taker = this.#waiting.shift();
    if (taker !== undefined) taker(client);
    else this.#ready.push(client);
  }

  /** Every client until {@linkcode close}. */
  async *clients(): AsyncIterable<AcceptedClient> {
    while (true) {
      const next = this.#ready.shift() ??
        (this.#closed ? undefined : await new Promise<AcceptedClient | undefined>((resolve) => {
          this.#waiting.push(resolve);
        }));
      if (next === undefined) return;
      yield next;
    }
  }

  /** Ends {@linkcode clients}; clients not yet taken are closed. */
  close(): void {
    this.#closed = true;
    for (const taker of this.#waiting.splice(0)) taker(undefined);
    for (const client of this.#ready.splice(0)) client.channel.close();
  }
}

/**
 * Binds `address` with Deno's own listener and hands each accepted connection to `onConnection`.
 * A failed accept (out of file descriptors, most likely) is reported, waited out (50 ms, doubling
 * to 1 s) and retried: the listener outlives it.
 *
 * @param onAcceptError told of each failed accept
 * @throws {Error} naming `label` when the address cannot be bound (in use, not local, unknown)
 */
export function listenNet(
  address: ListenAddress,
  label: string,
  onConnection: (conn: Deno.TcpConn) => void,
  queue: AcceptQueue,
  onAcceptError: (error: unknown) => void,
): NetworkListener {
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ transport: "tcp", hostname: address.hostname, port: address.port });
  } catch (error) {
    throw new Error(`Cannot listen on "${label}": ${errorMessage(error)}`);
  }
  let closed = false;
  void (async () => {
    for await (const conn of acceptEach(listener, () => closed, onAcceptError)) onConnection(conn);
  })();
  return {
    path: label,
    peerCredentials: false,
    port: listener.addr.port,
    clients: () => queue.clients(),
    close() {
      closed = true;
      try {
        listener.close();
      } catch { /* closed */ }
      queue.close();
    },
    remove() {},
  };
}
