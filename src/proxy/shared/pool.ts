/**
 * A shared pool: a few opened connections to one daemon, carrying the calls of many clients.
 * Each forwarded call gets a serial unique on its connection; replies, stream data and events
 * find their way back by that serial or by the callbackID at the start of an event's body.
 * Nothing in a forwarded frame but the serial is changed.
 *
 * This file is the routing core. Which connection a call takes, and when connections open and
 * close, is {@linkcode ConnectionScheduler}'s; streams are {@linkcode StreamRoutes}'; event
 * registrations are {@linkcode EventFanout}'s. Each keeps its own per-connection state.
 *
 * Invariant: every pending call names the client it answers, and lives in the map of the
 * connection it went on, so a dying connection answers exactly its own calls and closes exactly
 * the clients that depended on it.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import type { Logger } from "../../log/logger.ts";
import { MessageStatus, MessageType } from "../../wire/constants.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  frameStatus,
  frameType,
  type Header,
  patchSerial,
} from "../../wire/header.ts";
import { encodeMessage } from "../../wire/message.ts";
import { isStreamProcedure } from "../../wire/procedure_names.ts";
import { UpstreamError } from "../upstream_error.ts";
import { connectionLost, type PoolParts } from "./connection_loss.ts";
import { EventFanout } from "./event_fanout.ts";
import type { PoolClient } from "./pool_client.ts";
import type { PoolOptions } from "./pool_options.ts";
import { collectPoolStats, type PoolStats } from "./pool_stats.ts";
import { type PendingCall, PendingCalls } from "./pending_calls.ts";
import { classifyRegistrationCall, type Registration } from "./registrations.ts";
import { RestartSurvival } from "./restart_survival.ts";
import { ConnectionScheduler, HEAVY_CALL_BYTES } from "./scheduler.ts";
import { dialPoolConnection } from "./pool_dial.ts";
import { StreamRoutes } from "./stream_routes.ts";
import type { UpstreamConnection, UpstreamHandler } from "./upstream_connection.ts";

export type { PoolClient } from "./pool_client.ts";
export type { PoolOptions } from "./pool_options.ts";
export type { PoolStats } from "./pool_stats.ts";

/** A pool of connections to one daemon for one (upstream, open name, flags) key. */
export class Pool implements UpstreamHandler {
  readonly #options: PoolOptions;
  readonly #log: Logger;
  readonly #clients = new Set<PoolClient>();
  readonly #streams = new StreamRoutes();
  readonly #pending = new PendingCalls(this.#streams);
  readonly #events: EventFanout;
  readonly #scheduler: ConnectionScheduler;
  readonly #attached = (client: PoolClient) => this.#clients.has(client);
  /** Clients that chose this pool and wait for it to be ready. */
  #reserved = 0;
  /** What differs with `survive_restart`; undefined when it is off. */
  readonly #survival: RestartSurvival | undefined;
  /** The parts a connection's end touches. */
  readonly #parts: PoolParts;

  /** Makes an empty pool; connections open on demand. */
  constructor(options: PoolOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#events = new EventFanout({
      attached: this.#attached,
      forward: (client, frame, registration, leaving, pinnedTo) =>
        this.#route(client, frame, registration, leaving, pinnedTo),
      callOwn: (connection, program, procedure, body, registration, leaving) =>
        void this.#callOwn(connection, program, procedure, body, registration, leaving),
      lose: (clients, reason) => {
        for (const client of clients) client.lost(`Upstream ${options.label}: ${reason}`);
      },
      logger: options.logger,
    });
    this.#scheduler = new ConnectionScheduler({
      poolMax: options.poolMax,
      maxInflightPerConnection: options.maxInflightPerConnection,
      idleMs: options.idleMs,
      open: () => dialPoolConnection(options, this.#log),
      onOpen: (connection) => this.#opened(connection),
      streamsOn: (connection) => this.#streams.countOn(connection),
      holdsState: (connection) =>
        this.#streams.countOn(connection) > 0 ||
        this.#events.registrations.countOn(connection) > 0,
      logger: options.logger,
      restartWaitMs: options.restartWaitMs,
      wanted: () => this.#clients.size > 0,
      label: options.label,
    });
    this.#survival = options.restartWaitMs === undefined ? undefined : new RestartSurvival({
      label: options.label,
      events: this.#events,
      streams: this.#streams,
      logger: options.logger,
      counters: options.counters,
    });
    this.#parts = {
      label: options.label,
      clients: this.#clients,
      pending: this.#pending,
      streams: this.#streams,
      events: this.#events,
      scheduler: this.#scheduler,
      survival: this.#survival,
      logger: options.logger,
      counters: options.counters,
    };
  }

  /** Open connections now. */
  get size(): number {
    return this.#scheduler.size;
  }

  /** Connections opened over the pool's life. */
  get connectionsOpened(): number {
    return this.#scheduler.opened;
  }

  /** What the pool holds now. */
  get stats(): PoolStats {
    return collectPoolStats(this.#scheduler, this.#streams, {
      clients: this.#clients.size,
      waitingClients: this.#reserved,
      registrations: this.#events.registrations.size,
    });
  }

  /** True when the pool holds nothing: no client, connection, opening or waiting call. */
  get unused(): boolean {
    return !this.inUse && this.#scheduler.empty;
  }

  /** True while a client is attached or on its way ({@linkcode reserve}). */
  get inUse(): boolean {
    return this.#clients.size > 0 || this.#reserved > 0;
  }

  /** Marks the pool as about to be used by a client that is opening; undo with `unreserve`. */
  reserve(): void {
    this.#reserved++;
  }

  /** Ends a {@linkcode reserve}. */
  unreserve(): void {
    this.#reserved--;
  }

  /** Clients attached. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** Event registrations held upstream (each shared by one or more clients). */
  get registrationCount(): number {
    return this.#events.registrations.size;
  }

  /**
   * Ensures one connection is open (its open result is the pool's), opening one if needed.
   *
   * @throws {UpstreamError} when the daemon cannot be reached or refuses the open; while the
   * pool is backing off after a failure, the last failure at once.
   */
  ready(): Promise<void> {
    return this.#scheduler.ready();
  }

  /** Attaches a client that has opened through this pool. */
  attach(client: PoolClient): void {
    this.#clients.add(client);
  }

  /**
   * Detaches a client that closed or left: registrations it was the last user of are undone
   * upstream, its streams aborted, and replies still due to it dropped. Returns the headers of
   * the calls it had outstanding, for the caller to answer if it can.
   */
  detach(client: PoolClient): Header[] {
    if (!this.#clients.delete(client)) return [];
    this.#events.leave(client);
    this.#streams.abandon(client);
    return this.#pending.forget(client);
  }

  /**
   * Forwards a client's CALL: the least-loaded connection with room takes it (in arrival order
   * when none has room), with its serial rewritten and its reply's way back recorded. Event
   * registrations the pool already holds are answered here. Returns undefined when the frame
   * may be reused at once, else a promise that resolves when it may; rejects with an
   * {@linkcode UpstreamError} when no connection can take the call.
   */
  submit(client: PoolClient, frame: Uint8Array): Promise<void> | undefined {
    if (!this.#clients.has(client)) throw new Error("Client is not attached to the pool");
    const call = classifyRegistrationCall(frame);
    if (call !== undefined) return this.#events.submit(client, frame, call);
    return this.#route(client, frame, undefined, undefined, undefined);
  }

  /**
   * Forwards a client's STREAM or STREAM_HOLE frame on its stream's connection. Resolves once
   * written; a frame for no open stream is dropped (the daemon would drop it too).
   */
  streamFromClient(client: PoolClient, frame: Uint8Array): Promise<void> | undefined {
    return this.#streams.fromClient(client, frame);
  }

  /** Routes a frame from a connection to the client it belongs to. */
  onFrame(connection: UpstreamConnection, frame: Uint8Array): Promise<void> | undefined {
    const type = frameType(frame);
    if (type === MessageType.REPLY || type === MessageType.REPLY_WITH_FDS) {
      return this.#onReply(connection, frame);
    }
    if (!this.#pending.tracks(connection)) return undefined;
    if (type === MessageType.STREAM || type === MessageType.STREAM_HOLE) {
      return this.#streams.fromServer(connection, frame, this.#attached);
    }
    if (type === MessageType.MESSAGE) return this.#events.deliver(frame);
    return undefined;
  }

  /**
   * A connection ended: answer its calls, close the clients that depended on it (see
   * {@linkcode connectionLost}); surviving restarts, clients stay.
   */
  onClosed(connection: UpstreamConnection, reason: string): void {
    connectionLost(this.#parts, connection, reason);
  }

  /** Closes every connection: the proxy is stopping. */
  close(reason: string): void {
    this.#scheduler.close(reason);
  }

  /**
   * A connection opened. Surviving restarts, after the pool had lost every connection: a
   * daemon that came back as another host (another hostname) loses every client, as a new
   * daemon would; the same one gets every event registration made again.
   */
  #opened(connection: UpstreamConnection): void {
    this.#pending.opened(connection);
    void connection.run(this);
    this.#survival?.opened(connection, this.#clients);
  }

  /**
   * Sends a call on a connection with room: at once when one has room (the common case, no
   * promise), else once one frees up. `pinnedTo` asks for that connection first.
   */
  #route(
    client: PoolClient,
    frame: Uint8Array,
    registration: Registration | undefined,
    leaving: Registration | undefined,
    pinnedTo: UpstreamConnection | undefined,
  ): Promise<void> | undefined {
    const forStream = isStreamProcedure(frameProgram(frame), frameProcedure(frame));
    let waiting: Promise<UpstreamConnection> | undefined;
    if (pinnedTo === undefined) {
      const heavy = frame.length > HEAVY_CALL_BYTES;
      const acquired = this.#scheduler.acquire(forStream, heavy);
      if (!(acquired instanceof Promise)) {
        return this.#send(client, frame, acquired, registration, leaving, forStream, heavy);
      }
      waiting = acquired;
    }
    return this.#routeLater(client, frame, registration, leaving, pinnedTo, forStream, waiting);
  }

  /** {@linkcode #route} when no connection has room now; `waiting` is a place in line. */
  async #routeLater(
    client: PoolClient,
    frame: Uint8Array,
    registration: Registration | undefined,
    leaving: Registration | undefined,
    pinnedTo: UpstreamConnection | undefined,
    forStream: boolean,
    waiting: Promise<UpstreamConnection> | undefined,
  ): Promise<void> {
    let connection: UpstreamConnection | undefined;
    // A call pinned to a connection takes a plain slot there (they are small: deregistrations).
    const heavy = pinnedTo === undefined && frame.length > HEAVY_CALL_BYTES;
    try {
      if (waiting !== undefined) {
        const acquired = await waiting;
        if (this.#pending.tracks(acquired)) connection = acquired;
      } else if (pinnedTo !== undefined && !pinnedTo.closed) {
        const slot = this.#scheduler.acquireOn(pinnedTo);
        if (slot !== undefined) await slot;
        if (this.#pending.tracks(pinnedTo)) connection = pinnedTo;
      }
      // A connection can die while a call waits for it: take another (a few times at most).
      for (let tries = 0; connection === undefined; tries++) {
        if (tries === 3) {
          throw new UpstreamError(`Upstream ${this.#options.label} keeps closing the connection`);
        }
        const acquired = await this.#scheduler.acquire(forStream, heavy);
        if (this.#pending.tracks(acquired)) connection = acquired;
      }
    } catch (error) {
      if (registration !== undefined) this.#events.abandon(registration, error);
      if (leaving !== undefined) this.#events.registrations.remove(leaving);
      throw error;
    }
    await this.#send(client, frame, connection, registration, leaving, forStream, heavy);
  }

  /** Records where the reply to a call goes, rewrites its serial and writes it. */
  #send(
    client: PoolClient,
    frame: Uint8Array,
    connection: UpstreamConnection,
    registration: Registration | undefined,
    leaving: Registration | undefined,
    forStream: boolean,
    heavy: boolean,
  ): Promise<void> | undefined {
    if (registration !== undefined) registration.connection = connection;
    const serial = this.#pending.allocate(connection);
    const call: PendingCall = {
      client,
      clientSerial: frameSerial(frame),
      program: frameProgram(frame),
      procedure: frameProcedure(frame),
      stream: undefined,
      registration,
      leaving,
      heavy,
    };
    if (forStream) call.stream = this.#streams.open(client, call, connection, serial);
    this.#pending.add(connection, serial, call);
    patchSerial(frame, serial);
    // In place when the connection is idle, else coalesced with other clients' calls.
    const sent = connection.send(frame);
    if (sent === undefined) return undefined;
    // Ending the connection answers this call along with every other one on it.
    return sent.catch((error) => connection.close(`failed: ${errorMessage(error)}`));
  }

  /** A REPLY: route it to its caller, and to the waiters of a registration it confirms. */
  #onReply(connection: UpstreamConnection, frame: Uint8Array): Promise<void> | undefined {
    const call = this.#pending.take(connection, frameSerial(frame));
    if (call === undefined) return undefined;
    this.#scheduler.release(connection, call.heavy);
    const ok = frameStatus(frame) === MessageStatus.OK;
    const client = call.client !== undefined && this.#clients.has(call.client)
      ? call.client
      : undefined;
    if (!ok && call.stream !== undefined) this.#streams.end(call.stream);
    if (call.leaving !== undefined) this.#events.registrations.remove(call.leaving);
    if (call.registration === undefined) {
      if (client === undefined) return undefined;
      patchSerial(frame, call.clientSerial);
      return client.deliver(frame);
    }
    const deliveries: (Promise<void> | undefined)[] = [];
    this.#events.replied(call.registration, ok, frame, client, deliveries);
    if (client !== undefined) {
      patchSerial(frame, call.clientSerial);
      deliveries.push(client.deliver(frame));
    }
    const waits = deliveries.filter((d) => d !== undefined);
    if (waits.length === 0) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => {});
  }

  /** Sends a call of the proxy's own (see EventFanoutOptions.callOwn) when there is room. */
  async #callOwn(
    connection: UpstreamConnection,
    program: number,
    procedure: number,
    body: Uint8Array | undefined,
    registration: Registration | undefined,
    leaving: Registration | undefined,
  ): Promise<void> {
    const slot = this.#scheduler.acquireOn(connection);
    if (slot !== undefined) await slot;
    if (!this.#pending.tracks(connection)) return; // died meanwhile: nothing to undo there
    const serial = this.#pending.allocate(connection);
    this.#pending.add(connection, serial, {
      client: undefined,
      clientSerial: 0,
      program,
      procedure,
      stream: undefined,
      registration,
      leaving,
    });
    const frame = encodeMessage({ program, procedure, type: MessageType.CALL, serial }, body);
    await connection.write(frame).catch(() => {});
  }
}
