/**
 * What a shared pool does differently with `survive_restart`: when a connection dies its
 * clients stay (streams end with an error, event registrations wait as orphans), and when a
 * connection opens again the registrations are made again on it, unless the daemon came back as
 * another host (another hostname), which closes every client instead.
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { MessageType } from "../../wire/constants.ts";
import type { Header } from "../../wire/header.ts";
import type { PoolCounters } from "../counters.ts";
import type { EventFanout } from "./event_fanout.ts";
import { pendingHeader } from "./pending_calls.ts";
import type { PoolClient } from "./pool_client.ts";
import type { StreamRoutes } from "./stream_routes.ts";
import type { UpstreamConnection } from "./upstream_connection.ts";

/** Options for {@linkcode RestartSurvival}. */
export interface RestartSurvivalOptions {
  /** `"hv1" (qemu+tls://...)`, for messages. */
  label: string;
  /** The pool's event registrations. */
  events: EventFanout;
  /** The pool's streams. */
  streams: StreamRoutes;
  /** Logger with the pool's context. */
  logger: Logger;
  /** Counts restarts survived; undefined: nothing counted. */
  counters?: PoolCounters;
}

/** A pool's restart survival: the daemon's identity and what happens at a loss and a reopen. */
export class RestartSurvival {
  readonly #options: RestartSurvivalOptions;
  /** The daemon's hostname, from the first connection: a daemon that comes back must match. */
  #hostname: string | undefined;
  /** A connection died since the last open: the next open is a comeback. */
  #down = false;

  /** Survival for one pool. */
  constructor(options: RestartSurvivalOptions) {
    this.#options = options;
  }

  /**
   * `connection` died with the pool surviving: each stream on it ends with a STREAM error sent
   * through `answer`; its registrations become orphans until a connection opens again.
   */
  lost(
    connection: UpstreamConnection,
    reason: string,
    calls: number,
    answer: (client: PoolClient, header: Header, type: number) => void,
  ): void {
    for (const route of this.#options.streams.connectionLost(connection, true)) {
      answer(route.client, pendingHeader(route, route.clientSerial), MessageType.STREAM);
    }
    this.#down = true;
    const orphans = this.#options.events.registrations.orphan(connection).length;
    this.#options.logger.warning("Upstream connection lost; clients stay (survive_restart)", {
      connection: connection.id,
      reason,
      calls,
      registrations: orphans,
    });
  }

  /**
   * `connection` opened: a daemon with another hostname than before closes every client of
   * `clients`; then every orphaned registration is made again on it.
   */
  opened(connection: UpstreamConnection, clients: Iterable<PoolClient>): void {
    const { events, label, logger } = this.#options;
    const hostname = connection.hostname;
    if (this.#hostname !== undefined && hostname !== this.#hostname) {
      const reason = `Upstream ${label} came back as another host ` +
        `("${hostname}", was "${this.#hostname}")`;
      logger.warning("Upstream came back as another host: its clients are closed", {
        was: this.#hostname,
        now: hostname,
      });
      for (const registration of events.registrations.orphans()) {
        events.registrations.remove(registration);
      }
      for (const client of [...clients]) client.lost(reason);
    }
    this.#hostname = hostname;
    if (this.#down) this.#options.counters?.restartSurvived();
    this.#down = false;
    const replayed = events.replay(connection);
    if (replayed > 0) {
      logger.info("Upstream back: event registrations made again", {
        connection: connection.id,
        registrations: replayed,
      });
    }
  }
}
