/**
 * What the network fronts share: the listener shape the server serves (the same as a unix
 * socket's, with nothing to remove from the file system), a queue from which accepted clients are
 * taken, and a node:net server bound to a {@linkcode ListenAddress}.
 *
 * @module
 */

import * as net from "node:net";
import { errorMessage } from "../log/error_message.ts";
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
 * Binds a node:net server to `address` and hands each raw connection to `onConnection`.
 *
 * @throws {Error} naming `label` when the address cannot be bound (in use, not local, unknown)
 */
export async function listenNet(
  address: ListenAddress,
  label: string,
  onConnection: (socket: net.Socket) => void,
  queue: AcceptQueue,
): Promise<NetworkListener> {
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: Error) => {
      reject(new Error(`Cannot listen on "${label}": ${errorMessage(error)}`));
    });
    server.listen({ host: address.hostname, port: address.port, backlog: 512 }, () => resolve());
  });
  const bound = server.address();
  return {
    path: label,
    peerCredentials: false,
    port: typeof bound === "object" && bound !== null ? bound.port : address.port,
    clients: () => queue.clients(),
    close() {
      server.close();
      queue.close();
    },
    remove() {},
  };
}
