/**
 * A shared pool: a few opened connections to one daemon, carrying the calls of many clients.
 * Each forwarded call gets a serial unique on its connection; replies, stream data and events
 * find their way back by that serial or by the callbackID at the start of an event's body.
 * Nothing in a forwarded frame but the serial is changed.
 *
 * Invariants:
 * - a connection never has more than `maxInflightPerConnection` calls from {@linkcode Pool.submit}
 *   outstanding; callers beyond that wait in arrival order;
 * - every pending call, stream and callback names the connection it lives on, so a dying
 *   connection answers exactly its own calls and closes exactly the clients that depended on it.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Channel } from "../transport/channel.ts";
import { ErrorCode, MessageStatus, MessageType, Program } from "../wire/constants.ts";
import { encodeErrorReply } from "../wire/error_reply.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  frameStatus,
  frameType,
  patchSerial,
  readHeader,
} from "../wire/header.ts";
import { encodeMessage, encodeOkReply, encodeWords, readFirstInt } from "../wire/message.ts";
import { isStreamProcedure } from "../wire/procedure_names.ts";
import { deregisterFor, isCallbackDeregister, legacyEventId, LegacyEventProc } from "./events.ts";
import {
  type UpstreamConnection,
  UpstreamConnection as Connection,
  UpstreamError,
  type UpstreamHandler,
} from "./upstream_connection.ts";

/** What the pool needs of a client session. */
export interface PoolClient {
  /** Id for logs. */
  readonly id: number | string;
  /** Writes a frame to the client; the frame is valid only until this resolves. */
  deliver(frame: Uint8Array): Promise<void>;
  /** The pool lost state the client depended on: close the client with `reason`. */
  lost(reason: string): void;
}

/** Options for {@linkcode Pool}. */
export interface PoolOptions {
  /** `"hv1" (qemu+tls://...)`, for messages. */
  label: string;
  /** The name each connection opens. */
  openName: string | null;
  /** CONNECT_OPEN flags: VIR_CONNECT_RO for read-only pools. */
  openFlags: number;
  /** Most connections. */
  poolMax: number;
  /** Most calls outstanding on one connection. */
  maxInflightPerConnection: number;
  /** Largest frame from the daemon. */
  maxFrameBytes: number;
  /** Close a connection with nothing on it after this many ms. */
  idleMs: number;
  /** Ping an idle connection after this many ms. */
  keepaliveIntervalMs: number;
  /** Unanswered pings before a connection is dropped. */
  keepaliveCount: number;
  /** Time allowed for dial plus handshake, in ms. */
  connectTimeoutMs: number;
  /** Opens a channel to the daemon. */
  dial: () => Promise<Channel>;
  /** Logger with the upstream's context. */
  logger: Logger;
}

const enum CallKind {
  Plain,
  Register,
  Deregister,
  Stream,
  LegacyRegister,
  LegacyDeregister,
}

interface PendingCall {
  client: PoolClient | undefined;
  clientSerial: number;
  program: number;
  procedure: number;
  kind: CallKind;
  /** Register: the deregistration procedure; Deregister: the callbackID; Legacy*: the eventID. */
  arg: number;
  stream: StreamRoute | undefined;
}

interface StreamRoute {
  client: PoolClient;
  clientSerial: number;
  connection: UpstreamConnection;
  upstreamSerial: number;
  clientDone: boolean;
  serverDone: boolean;
}

interface Callback {
  client: PoolClient;
  connection: UpstreamConnection;
  program: number;
  deregister: number;
}

interface LegacyRegistration {
  connection: UpstreamConnection;
  clients: Set<PoolClient>;
}

interface ConnectionState {
  pending: Map<number, PendingCall>;
  streams: Map<number, StreamRoute>;
}

interface ClientState {
  streams: Map<number, StreamRoute>;
  callbacks: Set<number>;
  legacy: Set<number>;
}

interface Waiter {
  resolve: (connection: UpstreamConnection) => void;
  reject: (error: Error) => void;
}

const MAX_BACKOFF_MS = 30000;

/** A pool of connections to one daemon for one (upstream, open name, read-only) key. */
export class Pool implements UpstreamHandler {
  readonly #options: PoolOptions;
  readonly #log: Logger;
  readonly #connections: UpstreamConnection[] = [];
  readonly #state = new Map<UpstreamConnection, ConnectionState>();
  readonly #clients = new Map<PoolClient, ClientState>();
  readonly #callbacks = new Map<number, Callback>();
  readonly #legacy = new Map<number, LegacyRegistration>();
  readonly #waiters: Waiter[] = [];
  #opening: Promise<UpstreamConnection> | undefined;
  #openingCount = 0;
  #backoffMs = 0;
  #retryAt = 0;
  #lastError: Error | undefined;
  #idleTimer: ReturnType<typeof setInterval>;
  #connectionsOpened = 0;

  /** Makes an empty pool; connections open on demand. */
  constructor(options: PoolOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#idleTimer = setInterval(() => this.#closeIdle(), Math.max(options.idleMs / 4, 50));
    Deno.unrefTimer(this.#idleTimer);
  }

  /** Open connections now. */
  get size(): number {
    return this.#connections.length;
  }

  /** Connections opened over the pool's life. */
  get connectionsOpened(): number {
    return this.#connectionsOpened;
  }

  /** Clients attached. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** Event callbacks registered through the pool. */
  get callbackCount(): number {
    return this.#callbacks.size;
  }

  /**
   * Ensures one connection is open (its open result is the pool's), opening one if needed.
   *
   * @throws {UpstreamError} when the daemon cannot be reached or refuses the open; while the
   * pool is backing off after a failure, the last failure at once.
   */
  async ready(): Promise<void> {
    if (this.#connections.length > 0) return;
    await this.#open();
  }

  /** Attaches a client that has opened through this pool. */
  attach(client: PoolClient): void {
    if (!this.#clients.has(client)) {
      this.#clients.set(client, { streams: new Map(), callbacks: new Set(), legacy: new Set() });
    }
  }

  /**
   * Detaches a client that closed or left: its callbacks are deregistered upstream, its streams
   * forgotten, and replies still due to it dropped.
   */
  detach(client: PoolClient): void {
    const state = this.#clients.get(client);
    if (state === undefined) return;
    this.#clients.delete(client);
    for (const id of state.callbacks) {
      const callback = this.#callbacks.get(id);
      if (callback === undefined) continue;
      this.#callbacks.delete(id);
      callback.connection.callbacks--;
      if (!callback.connection.closed) {
        this.#callOwn(callback.connection, callback.program, callback.deregister, id);
      }
    }
    for (const eventId of state.legacy) {
      const registration = this.#legacy.get(eventId);
      if (registration === undefined) continue;
      registration.clients.delete(client);
      if (registration.clients.size === 0) {
        this.#legacy.delete(eventId);
        registration.connection.callbacks--;
        if (!registration.connection.closed) {
          const anyProc = eventId === 0
            ? LegacyEventProc.DEREGISTER
            : LegacyEventProc.DEREGISTER_ANY;
          this.#callOwn(
            registration.connection,
            Program.REMOTE,
            anyProc,
            eventId === 0 ? undefined : eventId,
          );
        }
      }
    }
    for (const route of state.streams.values()) this.#endStream(route);
    for (const connectionState of this.#state.values()) {
      for (const pending of connectionState.pending.values()) {
        if (pending.client === client) pending.client = undefined;
      }
    }
  }

  /**
   * Forwards a client's CALL: picks the least-loaded connection with room (waiting in arrival
   * order if there is none), rewrites the serial, records where the reply goes, and writes it.
   * Resolves once written; the frame may be reused then.
   */
  async submit(client: PoolClient, frame: Uint8Array): Promise<void> {
    const state = this.#clients.get(client);
    if (state === undefined) throw new Error("Client is not attached to the pool");
    const program = frameProgram(frame);
    const procedure = frameProcedure(frame);
    const clientSerial = frameSerial(frame);
    let kind = CallKind.Plain;
    let arg = 0;
    let connection: UpstreamConnection | undefined;

    if (
      program === Program.REMOTE && (procedure === LegacyEventProc.REGISTER ||
        procedure === LegacyEventProc.REGISTER_ANY)
    ) {
      arg = procedure === LegacyEventProc.REGISTER ? 0 : readFirstInt(frame) ?? 0;
      const registration = this.#legacy.get(arg);
      if (registration !== undefined) {
        // The daemon allows one legacy registration per event and connection: share it.
        registration.clients.add(client);
        state.legacy.add(arg);
        return client.deliver(
          encodeOkReply(frame, procedure === LegacyEventProc.REGISTER ? encodeWords(1) : undefined),
        );
      }
      kind = CallKind.LegacyRegister;
    } else if (
      program === Program.REMOTE && (procedure === LegacyEventProc.DEREGISTER ||
        procedure === LegacyEventProc.DEREGISTER_ANY)
    ) {
      arg = procedure === LegacyEventProc.DEREGISTER ? 0 : readFirstInt(frame) ?? 0;
      const registration = this.#legacy.get(arg);
      if (registration !== undefined && registration.clients.has(client)) {
        state.legacy.delete(arg);
        registration.clients.delete(client);
        if (registration.clients.size > 0) {
          return client.deliver(
            encodeOkReply(
              frame,
              procedure === LegacyEventProc.DEREGISTER ? encodeWords(0) : undefined,
            ),
          );
        }
        kind = CallKind.LegacyDeregister;
        connection = registration.connection;
      }
    } else if (isCallbackDeregister(program, procedure)) {
      arg = readFirstInt(frame) ?? -1;
      const callback = this.#callbacks.get(arg);
      if (callback !== undefined && callback.client === client) {
        kind = CallKind.Deregister;
        connection = callback.connection;
      } else if (callback !== undefined) {
        return client.deliver(
          encodeErrorReply(readHeader(frame), `Callback ${arg} belongs to another client`, {
            code: ErrorCode.OPERATION_DENIED,
          }),
        );
      }
    } else {
      const deregister = deregisterFor(program, procedure);
      if (deregister !== undefined) {
        kind = CallKind.Register;
        arg = deregister;
      } else if (isStreamProcedure(program, procedure)) {
        kind = CallKind.Stream;
      }
    }

    if (connection === undefined || connection.closed) {
      connection = await this.#acquire(kind === CallKind.Stream);
    } else {
      connection.inflight++;
    }
    const connectionState = this.#state.get(connection)!;
    const serial = connection.allocateSerial((s) =>
      connectionState.pending.has(s) || connectionState.streams.has(s)
    );
    let stream: StreamRoute | undefined;
    if (kind === CallKind.Stream) {
      // Routed from now on: data may follow the reply at once.
      stream = {
        client,
        clientSerial,
        connection,
        upstreamSerial: serial,
        clientDone: false,
        serverDone: false,
      };
      connectionState.streams.set(serial, stream);
      state.streams.set(clientSerial, stream);
      connection.streams++;
    }
    connectionState.pending.set(serial, {
      client,
      clientSerial,
      program,
      procedure,
      kind,
      arg,
      stream,
    });
    patchSerial(frame, serial);
    try {
      await connection.write(frame);
    } catch (error) {
      // Ending the connection answers this call along with every other one on it.
      connection.close(`failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /**
   * Forwards a client's STREAM or STREAM_HOLE frame on its stream's connection. Resolves once
   * written; a frame for no open stream is dropped (the daemon would drop it too).
   */
  streamFromClient(client: PoolClient, frame: Uint8Array): Promise<void> | undefined {
    const route = this.#clients.get(client)?.streams.get(frameSerial(frame));
    if (route === undefined || route.connection.closed) return undefined;
    if (frameType(frame) === MessageType.STREAM && frameStatus(frame) !== MessageStatus.CONTINUE) {
      route.clientDone = true;
      if (route.serverDone) this.#endStream(route);
    }
    patchSerial(frame, route.upstreamSerial);
    return route.connection.write(frame);
  }

  /** Routes a frame from a connection to the client it belongs to. */
  onFrame(connection: UpstreamConnection, frame: Uint8Array): Promise<void> | undefined {
    const type = frameType(frame);
    const state = this.#state.get(connection);
    if (state === undefined) return undefined;
    if (type === MessageType.REPLY || type === MessageType.REPLY_WITH_FDS) {
      return this.#onReply(connection, state, frame);
    }
    if (type === MessageType.STREAM || type === MessageType.STREAM_HOLE) {
      const route = state.streams.get(frameSerial(frame));
      if (route === undefined) return undefined;
      if (type === MessageType.STREAM && frameStatus(frame) !== MessageStatus.CONTINUE) {
        route.serverDone = true;
        if (route.clientDone) this.#endStream(route);
      }
      patchSerial(frame, route.clientSerial);
      return route.client.deliver(frame);
    }
    if (type === MessageType.MESSAGE) return this.#onEvent(frame);
    return undefined;
  }

  /** A connection ended: answer its calls, close the clients that depended on it. */
  onClosed(connection: UpstreamConnection, reason: string): void {
    const index = this.#connections.indexOf(connection);
    if (index >= 0) this.#connections.splice(index, 1);
    const state = this.#state.get(connection);
    this.#state.delete(connection);
    if (state === undefined) return;
    const message = `Upstream ${this.#options.label} ${reason}`;
    const affected = new Set<PoolClient>();
    const answers: Promise<void>[] = [];
    for (const pending of state.pending.values()) {
      if (pending.client === undefined || !this.#clients.has(pending.client)) continue;
      affected.add(pending.client);
      answers.push(
        pending.client.deliver(encodeErrorReply({
          length: 0,
          program: pending.program,
          version: 1,
          procedure: pending.procedure,
          type: MessageType.CALL,
          serial: pending.clientSerial,
          status: 0,
        }, message)).catch(() => {}),
      );
    }
    for (const route of state.streams.values()) {
      affected.add(route.client);
      this.#clients.get(route.client)?.streams.delete(route.clientSerial);
    }
    for (const [id, callback] of this.#callbacks) {
      if (callback.connection !== connection) continue;
      affected.add(callback.client);
      this.#callbacks.delete(id);
      this.#clients.get(callback.client)?.callbacks.delete(id);
    }
    for (const [eventId, registration] of this.#legacy) {
      if (registration.connection !== connection) continue;
      for (const client of registration.clients) {
        affected.add(client);
        this.#clients.get(client)?.legacy.delete(eventId);
      }
      this.#legacy.delete(eventId);
    }
    if (state.pending.size > 0 || affected.size > 0) {
      this.#log.warning("Upstream connection lost", {
        connection: connection.id,
        reason,
        calls: state.pending.size,
        clients: affected.size,
      });
    }
    // Clients whose state lived on the connection see it die, as they would a daemon.
    void Promise.all(answers).then(() => {
      for (const client of affected) client.lost(message);
    });
    if (this.#waiters.length > 0 && this.#connections.length === 0) {
      this.#open().catch(() => {});
    }
  }

  /** Closes every connection: the proxy is stopping. */
  close(reason: string): void {
    clearInterval(this.#idleTimer);
    for (const connection of [...this.#connections]) connection.close(reason);
  }

  #onReply(
    connection: UpstreamConnection,
    state: ConnectionState,
    frame: Uint8Array,
  ): Promise<void> | undefined {
    const serial = frameSerial(frame);
    const pending = state.pending.get(serial);
    if (pending === undefined) return undefined;
    state.pending.delete(serial);
    this.#release(connection);
    const ok = frameStatus(frame) === MessageStatus.OK;
    const client = pending.client !== undefined && this.#clients.has(pending.client)
      ? pending.client
      : undefined;
    switch (pending.kind) {
      case CallKind.Register: {
        const id = readFirstInt(frame);
        if (!ok || id === undefined) break;
        if (client === undefined) {
          this.#callOwn(connection, pending.program, pending.arg, id);
          break;
        }
        this.#callbacks.set(id, {
          client,
          connection,
          program: pending.program,
          deregister: pending.arg,
        });
        this.#clients.get(client)!.callbacks.add(id);
        connection.callbacks++;
        break;
      }
      case CallKind.Deregister:
        if (ok && this.#callbacks.delete(pending.arg)) {
          connection.callbacks--;
          if (client) this.#clients.get(client)!.callbacks.delete(pending.arg);
        }
        break;
      case CallKind.Stream:
        if (!ok && pending.stream) this.#endStream(pending.stream);
        break;
      case CallKind.LegacyRegister:
        if (ok && client) {
          this.#legacy.set(pending.arg, { connection, clients: new Set([client]) });
          this.#clients.get(client)!.legacy.add(pending.arg);
          connection.callbacks++;
        }
        break;
      case CallKind.LegacyDeregister:
        if (ok && this.#legacy.delete(pending.arg)) connection.callbacks--;
        break;
    }
    if (client === undefined) return undefined;
    patchSerial(frame, pending.clientSerial);
    return client.deliver(frame);
  }

  #onEvent(frame: Uint8Array): Promise<void> | undefined {
    const program = frameProgram(frame);
    const eventId = legacyEventId(program, frameProcedure(frame));
    if (eventId >= 0) {
      const registration = this.#legacy.get(eventId);
      if (registration === undefined) return undefined;
      return Promise.all([...registration.clients].map((c) => c.deliver(frame))).then(() => {});
    }
    const id = readFirstInt(frame);
    const callback = id === undefined ? undefined : this.#callbacks.get(id);
    if (callback === undefined) {
      this.#log.debug("Dropped an event for no registered callback", { callback: id });
      return undefined;
    }
    return callback.client.deliver(frame);
  }

  #endStream(route: StreamRoute): void {
    const state = this.#state.get(route.connection);
    if (state?.streams.get(route.upstreamSerial) === route) {
      state.streams.delete(route.upstreamSerial);
      route.connection.streams--;
    }
    const clientState = this.#clients.get(route.client);
    if (clientState?.streams.get(route.clientSerial) === route) {
      clientState.streams.delete(route.clientSerial);
    }
  }

  /** Sends a call of the proxy's own (a deregistration); its reply is dropped. */
  #callOwn(
    connection: UpstreamConnection,
    program: number,
    procedure: number,
    argument: number | undefined,
  ): void {
    const state = this.#state.get(connection);
    if (state === undefined) return;
    const serial = connection.allocateSerial((s) => state.pending.has(s) || state.streams.has(s));
    state.pending.set(serial, {
      client: undefined,
      clientSerial: 0,
      program,
      procedure,
      kind: CallKind.Plain,
      arg: 0,
      stream: undefined,
    });
    connection.inflight++;
    const frame = encodeMessage(
      { program, procedure, type: MessageType.CALL, serial },
      argument === undefined ? undefined : encodeWords(argument),
    );
    connection.write(frame).catch(() => {});
  }

  /** A connection with room, the least loaded; waits in arrival order when all are full. */
  #acquire(forStream: boolean): UpstreamConnection | Promise<UpstreamConnection> {
    const max = this.#options.maxInflightPerConnection;
    let best: UpstreamConnection | undefined;
    for (const connection of this.#connections) {
      if (connection.inflight >= max || connection.closed) continue;
      const load = connection.inflight +
        (forStream ? connection.streams * max : connection.streams);
      if (best === undefined || load < best.inflight + best.streams) best = connection;
    }
    const canGrow = this.#connections.length + this.#openingCount < this.#options.poolMax;
    if (best !== undefined && !(forStream && best.streams > 0 && canGrow)) {
      best.inflight++;
      best.idleSince = Date.now();
      return best;
    }
    const waiting = new Promise<UpstreamConnection>((resolve, reject) =>
      this.#waiters.push({ resolve, reject })
    );
    if (canGrow) this.#open().catch(() => {});
    return waiting;
  }

  #release(connection: UpstreamConnection): void {
    connection.inflight--;
    connection.idleSince = Date.now();
    if (this.#waiters.length > 0 && !connection.closed) {
      connection.inflight++;
      this.#waiters.shift()!.resolve(connection);
    }
  }

  /** Opens one more connection; waiters get its slots. Failures back off exponentially. */
  #open(): Promise<UpstreamConnection> {
    if (this.#opening !== undefined) return this.#opening;
    if (Date.now() < this.#retryAt && this.#lastError !== undefined) {
      const error = this.#lastError;
      this.#failWaiters(error);
      return Promise.reject(error);
    }
    this.#openingCount++;
    const opening = (async () => {
      try {
        const channel = await this.#options.dial();
        const connection = await Connection.open(channel, {
          openName: this.#options.openName,
          openFlags: this.#options.openFlags,
          maxFrameBytes: this.#options.maxFrameBytes,
          keepaliveIntervalMs: this.#options.keepaliveIntervalMs,
          keepaliveCount: this.#options.keepaliveCount,
          label: this.#options.label,
          logger: this.#log,
          timeoutMs: this.#options.connectTimeoutMs,
        });
        this.#connections.push(connection);
        this.#state.set(connection, { pending: new Map(), streams: new Map() });
        this.#connectionsOpened++;
        this.#backoffMs = 0;
        this.#lastError = undefined;
        void connection.run(this);
        const max = this.#options.maxInflightPerConnection;
        while (this.#waiters.length > 0 && connection.inflight < max) {
          connection.inflight++;
          this.#waiters.shift()!.resolve(connection);
        }
        return connection;
      } catch (error) {
        const failure = error instanceof UpstreamError
          ? error
          : new UpstreamError(error instanceof Error ? error.message : String(error));
        this.#lastError = failure;
        this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 250), MAX_BACKOFF_MS);
        this.#retryAt = Date.now() + this.#backoffMs;
        this.#log.warning("Cannot open upstream connection", {
          error: failure.message,
          retryMs: this.#backoffMs,
        });
        if (this.#connections.length === 0) this.#failWaiters(failure);
        throw failure;
      } finally {
        this.#openingCount--;
        this.#opening = undefined;
      }
    })();
    this.#opening = opening;
    return opening;
  }

  #failWaiters(error: Error): void {
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  #closeIdle(): void {
    const now = Date.now();
    for (const connection of [...this.#connections]) {
      if (
        connection.inflight === 0 && connection.streams === 0 && connection.callbacks === 0 &&
        now - connection.idleSince >= this.#options.idleMs
      ) {
        connection.close(`idle for ${Math.round(this.#options.idleMs / 1000)} s`);
      }
    }
  }
}
