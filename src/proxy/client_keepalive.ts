/**
 * Keepalive toward a client, in libvirtd's server role (src/rpc/virkeepalive.c): once a client
 * has asked whether keepalive is supported (libvirt's client asks whenever it runs an event
 * loop), the server pings it after `interval` quiet seconds and closes it after `count` pings
 * went unanswered. Clients that only wait for events rely on those pings to notice a dead
 * server, and the server on them to notice a dead client. Driven by the server's once-a-second
 * sweep: nothing here runs per frame.
 *
 * @module
 */

/** libvirtd's `keepalive_interval` and `keepalive_count` for one listener. */
export interface KeepaliveSettings {
  /** Quiet time before a ping, in ms. */
  intervalMs: number;
  /** Unanswered pings before the client is closed; 0 turns pinging off. */
  count: number;
}

/** The keepalive state of one client. */
export class ClientKeepalive {
  readonly #settings: KeepaliveSettings;
  #lastPingAt = 0;
  #unanswered = 0;

  /** Keepalive with `settings`, started once the client asked for it. */
  constructor(settings: KeepaliveSettings) {
    this.#settings = settings;
  }

  /**
   * What to do at `now` for a client last heard from at `lastByteAt` (both ms): `"ping"`, a
   * reason to close it, or undefined. Any byte from the client counts as an answer.
   */
  tick(now: number, lastByteAt: number): "ping" | string | undefined {
    const { intervalMs, count } = this.#settings;
    if (count === 0) return undefined;
    if (lastByteAt >= this.#lastPingAt) this.#unanswered = 0;
    if (now - Math.max(lastByteAt, this.#lastPingAt) < intervalMs) return undefined;
    if (this.#unanswered >= count) {
      return `did not answer ${count} keepalive pings over ${
        Math.round(count * intervalMs / 100) / 10
      } s (keepalive_count)`;
    }
    this.#unanswered++;
    this.#lastPingAt = now;
    return "ping";
  }
}
