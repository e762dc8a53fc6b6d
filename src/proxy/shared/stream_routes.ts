/**
 * Streams through a shared pool (`virsh screenshot`, consoles, volume upload/download, tunnelled
 * migration). A stream reuses the program, procedure and serial of the call that opened it, so
 * the pool keeps that call's serial mapping until both ends have finished: the client by a STREAM
 * with status OK or ERROR, the daemon likewise. A client that leaves mid-stream aborts it upstream
 * as libvirt's own client does (a STREAM ERROR with an empty body).
 *
 * @module
 */

import { MessageStatus, MessageType } from "../../wire/constants.ts";
import { frameSerial, frameStatus, frameType, patchSerial } from "../../wire/header.ts";
import { encodeMessage } from "../../wire/message.ts";
import type { PoolClient } from "./pool_client.ts";
import type { UpstreamConnection } from "./upstream_connection.ts";

/** One stream's route between a client and a pool connection. */
export interface StreamRoute {
  /** The client at its end. */
  readonly client: PoolClient;
  /** Program of the opening call. */
  readonly program: number;
  /** Procedure of the opening call. */
  readonly procedure: number;
  /** The opening call's serial as the client sent it. */
  readonly clientSerial: number;
  /** The connection the stream lives on. */
  readonly connection: UpstreamConnection;
  /** The opening call's serial on that connection. */
  readonly upstreamSerial: number;
  /** The client has sent its last STREAM (OK or ERROR). */
  clientDone: boolean;
  /** The daemon has sent its last STREAM (OK or ERROR). */
  serverDone: boolean;
}

/** How long an aborted stream's serial stays reserved waiting for the daemon's last frame. */
const STREAM_ABORT_GRACE_MS = 10000;

/** A pool's streams, by connection and upstream serial and by client and client serial. */
export class StreamRoutes {
  readonly #byConnection = new Map<UpstreamConnection, Map<number, StreamRoute>>();
  readonly #byClient = new Map<PoolClient, Map<number, StreamRoute>>();

  /** Streams open on `connection`. */
  countOn(connection: UpstreamConnection): number {
    return this.#byConnection.get(connection)?.size ?? 0;
  }

  /** Whether `serial` on `connection` belongs to a stream. */
  usesSerial(connection: UpstreamConnection, serial: number): boolean {
    return this.#byConnection.get(connection)?.has(serial) ?? false;
  }

  /** Routes a stream from the moment its opening call is sent: data may follow the reply at once. */
  open(
    client: PoolClient,
    header: { program: number; procedure: number; clientSerial: number },
    connection: UpstreamConnection,
    upstreamSerial: number,
  ): StreamRoute {
    const route: StreamRoute = {
      client,
      program: header.program,
      procedure: header.procedure,
      clientSerial: header.clientSerial,
      connection,
      upstreamSerial,
      clientDone: false,
      serverDone: false,
    };
    mapOf(this.#byConnection, connection).set(upstreamSerial, route);
    mapOf(this.#byClient, client).set(header.clientSerial, route);
    return route;
  }

  /**
   * Forwards a client's STREAM or STREAM_HOLE frame on its stream's connection. Resolves once
   * written; a frame for no open stream is dropped (the daemon would drop it too).
   */
  fromClient(client: PoolClient, frame: Uint8Array): Promise<void> | undefined {
    const route = this.#byClient.get(client)?.get(frameSerial(frame));
    if (route === undefined || route.connection.closed) return undefined;
    if (frameType(frame) === MessageType.STREAM && frameStatus(frame) !== MessageStatus.CONTINUE) {
      route.clientDone = true;
      if (route.serverDone) this.end(route);
    }
    patchSerial(frame, route.upstreamSerial);
    return route.connection.write(frame);
  }

  /**
   * Delivers a daemon's STREAM or STREAM_HOLE frame to its client, if `attached` still says it
   * is there (else the stream is being aborted and the frame is dropped).
   */
  fromServer(
    connection: UpstreamConnection,
    frame: Uint8Array,
    attached: (client: PoolClient) => boolean,
  ): Promise<void> | undefined {
    const route = this.#byConnection.get(connection)?.get(frameSerial(frame));
    if (route === undefined) return undefined;
    if (frameType(frame) === MessageType.STREAM && frameStatus(frame) !== MessageStatus.CONTINUE) {
      route.serverDone = true;
      if (route.clientDone) this.end(route);
    }
    if (!attached(route.client)) return undefined;
    patchSerial(frame, route.clientSerial);
    return route.client.deliver(frame);
  }

  /** Forgets a stream that has ended (both sides done, or its opening call failed). */
  end(route: StreamRoute): void {
    const onConnection = this.#byConnection.get(route.connection);
    if (onConnection?.get(route.upstreamSerial) === route) {
      onConnection.delete(route.upstreamSerial);
      if (onConnection.size === 0) this.#byConnection.delete(route.connection);
    }
    this.#forgetForClient(route);
  }

  /**
   * `client` left: abort each of its streams upstream and keep their serials reserved until the
   * daemon ends them too (or a grace period passes).
   */
  abandon(client: PoolClient): void {
    const routes = this.#byClient.get(client);
    if (routes === undefined) return;
    this.#byClient.delete(client);
    for (const route of routes.values()) {
      if (route.serverDone && route.clientDone) {
        this.end(route);
        continue;
      }
      if (!route.clientDone && !route.connection.closed) {
        route.clientDone = true;
        route.connection.write(encodeMessage({
          program: route.program,
          procedure: route.procedure,
          type: MessageType.STREAM,
          serial: route.upstreamSerial,
          status: MessageStatus.ERROR,
        })).catch(() => {});
      }
      if (route.serverDone) {
        this.end(route);
        continue;
      }
      // Should the daemon never answer the abort, free the serial after a while anyway.
      const timer = setTimeout(() => this.end(route), STREAM_ABORT_GRACE_MS);
      Deno.unrefTimer(timer);
    }
  }

  /** `connection` died: forget its streams; returns the clients that had one there. */
  connectionLost(connection: UpstreamConnection): Set<PoolClient>;
  /** `connection` died: forget its streams; returns them (`routes` true). */
  connectionLost(connection: UpstreamConnection, routes: true): StreamRoute[];
  connectionLost(connection: UpstreamConnection, routes = false): Set<PoolClient> | StreamRoute[] {
    const lost = [...this.#byConnection.get(connection)?.values() ?? []];
    for (const route of lost) this.#forgetForClient(route);
    this.#byConnection.delete(connection);
    return routes ? lost : new Set(lost.map((route) => route.client));
  }

  #forgetForClient(route: StreamRoute): void {
    const ofClient = this.#byClient.get(route.client);
    if (ofClient?.get(route.clientSerial) === route) {
      ofClient.delete(route.clientSerial);
      if (ofClient.size === 0) this.#byClient.delete(route.client);
    }
  }
}

function mapOf<K, V>(maps: Map<K, Map<number, V>>, key: K): Map<number, V> {
  let map = maps.get(key);
  if (map === undefined) maps.set(key, map = new Map());
  return map;
}
