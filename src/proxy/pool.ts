/**
 * A shared pool: a few opened connections to one daemon, carrying the calls of many clients.
 * Each forwarded call gets a serial unique on its connection; replies, stream data and events
 * find their way back by that serial or by the callbackID at the start of an event's body.
 * Nothing in a forwarded frame but the serial is changed.
 *
 * Invariants:
 * - a connection never has more than `maxInflightPerConnection` calls from {@linkcode Pool.submit}
 *   outstanding; callers beyond that wait in arrival order;
 * - every pending call, stream and event registration names the connection it lives on, so a
 *   dying connection answers exactly its own calls and closes exactly the clients that depended
 *   on it.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Channel } from "../transport/channel.ts";
import { MessageStatus, MessageType } from "../wire/constants.ts";
import { encodeErrorReply } from "../wire/error_reply.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  frameStatus,
  frameType,
  type Header,
  patchSerial,
  readHeader,
} from "../wire/header.ts";
import { encodeMessage, encodeOkReply, encodeWords, readFirstInt } from "../wire/message.ts";
import { isStreamProcedure } from "../wire/procedure_names.ts";
import { legacyEventId } from "./events.ts";
import {
  classifyRegistrationCall,
  deregisterArgument,
  type Registration,
  Registrations,
} from "./registrations.ts";
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
  /**
   * Hands a frame to the client. The frame is valid only until the returned promise resolves, or
   * until return when there is none (the client copied it).
   */
  deliver(frame: Uint8Array): Promise<void> | undefined;
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

interface PendingCall {
  /** Who gets the reply; undefined for the proxy's own calls and for clients that left. */
  client: PoolClient | undefined;
  clientSerial: number;
  program: number;
  procedure: number;
  /** The stream this call opens, routed from the moment it is sent. */
  stream: StreamRoute | undefined;
  /** The event registration this call makes. */
  registration: Registration | undefined;
  /** The event registration this call undoes. */
  leaving: Registration | undefined;
}

interface StreamRoute {
  client: PoolClient;
  program: number;
  procedure: number;
  clientSerial: number;
  connection: UpstreamConnection;
  upstreamSerial: number;
  clientDone: boolean;
  serverDone: boolean;
}

interface ConnectionState {
  pending: Map<number, PendingCall>;
  streams: Map<number, StreamRoute>;
}

/** What the pool tracks for one client; made on first use, as most clients never need them. */
interface ClientState {
  streams: Map<number, StreamRoute> | undefined;
  registrations: Set<Registration> | undefined;
}

interface Waiter {
  resolve: (connection: UpstreamConnection) => void;
  reject: (error: Error) => void;
}

const MAX_BACKOFF_MS = 30000;
/** How long an aborted stream's serial stays reserved waiting for the daemon's last frame. */
const STREAM_ABORT_GRACE_MS = 10000;
/** VIR_ERR_INVALID_ARG. */
const ERR_INVALID_ARG = 8;

/** A pool of connections to one daemon for one (upstream, open name, flags) key. */
export class Pool implements UpstreamHandler {
  readonly #options: PoolOptions;
  readonly #log: Logger;
  readonly #connections: UpstreamConnection[] = [];
  readonly #state = new Map<UpstreamConnection, ConnectionState>();
  readonly #clients = new Map<PoolClient, ClientState>();
  readonly #registrations = new Registrations();
  readonly #waiters: Waiter[] = [];
  /** Calls that must go on one given connection (deregistrations), waiting for a slot there. */
  readonly #pinned = new Map<UpstreamConnection, (() => void)[]>();
  /** Connections the pool itself closes (idle, shutdown): their end loses no client. */
  readonly #retiring = new WeakSet<UpstreamConnection>();
  #opening: Promise<UpstreamConnection> | undefined;
  #openingCount = 0;
  /** Clients that chose this pool and wait for it to be ready. */
  #reserved = 0;
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

  /** True when the pool holds nothing: no client, connection, opening or waiting call. */
  get unused(): boolean {
    return !this.inUse && this.#connections.length === 0 && this.#openingCount === 0 &&
      this.#waiters.length === 0;
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
    return this.#registrations.size;
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
      this.#clients.set(client, { streams: undefined, registrations: undefined });
    }
  }

  /**
   * Detaches a client that closed or left: registrations it was the last user of are undone
   * upstream, its streams forgotten, and replies still due to it dropped. Returns the headers of
   * the calls it had outstanding, for the caller to answer if it can.
   */
  detach(client: PoolClient): Header[] {
    const state = this.#clients.get(client);
    if (state === undefined) return [];
    this.#clients.delete(client);
    for (const registration of state.registrations ?? []) this.#leave(registration, client);
    for (const route of state.streams?.values() ?? []) this.#abandonStream(route);
    const unanswered: Header[] = [];
    for (const connectionState of this.#state.values()) {
      for (const pending of connectionState.pending.values()) {
        if (pending.client === client) {
          pending.client = undefined;
          unanswered.push(pendingHeader(pending));
        }
        const registration = pending.registration;
        if (registration?.waiting.some((w) => w.client === client)) {
          for (const waiter of registration.waiting) {
            if (waiter.client === client) {
              unanswered.push({ ...pendingHeader(pending), serial: waiter.serial });
            }
          }
          registration.waiting = registration.waiting.filter((w) => w.client !== client);
        }
      }
    }
    return unanswered;
  }

  /**
   * Forwards a client's CALL: picks the least-loaded connection with room (waiting in arrival
   * order if there is none), rewrites the serial, records where the reply goes, and writes it.
   * Event registrations the pool already holds are answered here. Resolves once written; the
   * frame may be reused then.
   */
  async submit(client: PoolClient, frame: Uint8Array): Promise<void> {
    const state = this.#clients.get(client);
    if (state === undefined) throw new Error("Client is not attached to the pool");
    const program = frameProgram(frame);
    const procedure = frameProcedure(frame);
    const clientSerial = frameSerial(frame);
    let connection: UpstreamConnection | undefined;
    let registration: Registration | undefined;
    let leaving: Registration | undefined;
    const call = classifyRegistrationCall(frame);

    if (call?.action === "register") {
      let held = this.#registrations.byKey(call.key);
      while (held?.leaving !== undefined) {
        await held.leaving; // a deregistration of the same events is on its way: let it land
        held = this.#registrations.byKey(call.key);
      }
      if (held !== undefined && !held.connection?.closed) {
        if (!held.confirmed) {
          held.waiting.push({ client, serial: clientSerial }); // answered with the daemon's reply
          return;
        }
        held.clients.add(client);
        (state.registrations ??= new Set()).add(held);
        return client.deliver(encodeOkReply(frame, registrationReply(held, procedure)));
      }
      registration = this.#registrations.begin(call, program, procedure);
    } else if (call?.action === "deregister") {
      const held = this.#registrations.named(call);
      if (held === undefined || !held.clients.has(client)) {
        return client.deliver(encodeErrorReply(
          readHeader(frame),
          call.legacyEventId >= 0
            ? `Domain event ${call.legacyEventId} is not registered on this connection`
            : `Event callback ${call.callbackId} is not registered on this connection`,
          { code: ERR_INVALID_ARG },
        ));
      }
      held.clients.delete(client);
      state.registrations?.delete(held);
      if (held.clients.size > 0) {
        // Others still use it: the daemon keeps it; this client just stops getting its events.
        return client.deliver(encodeOkReply(frame, deregistrationReply(held)));
      }
      this.#registrations.beginLeaving(held);
      leaving = held;
      connection = held.connection; // the last user's call undoes it where it lives
    }

    let connectionState: ConnectionState | undefined;
    try {
      if (connection !== undefined && !connection.closed) {
        const slot = this.#acquireOn(connection);
        if (slot !== undefined) await slot;
        connectionState = this.#state.get(connection);
      }
      // A connection can die while a call waits for it: take another (a few times at most).
      for (let tries = 0; connectionState === undefined; tries++) {
        if (tries === 3) {
          throw new UpstreamError(`Upstream ${this.#options.label} keeps closing the connection`);
        }
        connection = await this.#acquire(isStreamProcedure(program, procedure));
        connectionState = this.#state.get(connection);
      }
    } catch (error) {
      if (registration !== undefined) this.#abandon(registration, error);
      if (leaving !== undefined) this.#registrations.remove(leaving);
      throw error;
    }
    connection = connection!;
    if (registration !== undefined) registration.connection = connection;
    const serial = connection.allocateSerial((s) =>
      connectionState.pending.has(s) || connectionState.streams.has(s)
    );
    let stream: StreamRoute | undefined;
    if (isStreamProcedure(program, procedure)) {
      // Routed from now on: data may follow the reply at once.
      stream = {
        client,
        program,
        procedure,
        clientSerial,
        connection,
        upstreamSerial: serial,
        clientDone: false,
        serverDone: false,
      };
      connectionState.streams.set(serial, stream);
      (state.streams ??= new Map()).set(clientSerial, stream);
      connection.streams++;
    }
    connectionState.pending.set(serial, {
      client,
      clientSerial,
      program,
      procedure,
      stream,
      registration,
      leaving,
    });
    patchSerial(frame, serial);
    // In place when the connection is idle, else coalesced with other clients' calls.
    const sent = connection.send(frame);
    if (sent === undefined) return;
    try {
      await sent;
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
    const route = this.#clients.get(client)?.streams?.get(frameSerial(frame));
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
      const route = state.streams?.get(frameSerial(frame));
      if (route === undefined) return undefined;
      if (type === MessageType.STREAM && frameStatus(frame) !== MessageStatus.CONTINUE) {
        route.serverDone = true;
        if (route.clientDone) this.#endStream(route);
      }
      if (!this.#clients.has(route.client)) return undefined; // it left; the stream is aborted
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
    for (const resume of this.#pinned.get(connection) ?? []) resume(); // they see it gone
    this.#pinned.delete(connection);
    if (state === undefined) return;
    const message = `Upstream ${this.#options.label} ${reason}`;
    const affected = new Set<PoolClient>();
    const answers: Promise<void>[] = [];
    const answer = (client: PoolClient, header: Header) => {
      if (!this.#clients.has(client)) return;
      affected.add(client);
      const answered = client.deliver(encodeErrorReply(header, message));
      if (answered !== undefined) answers.push(answered.catch(() => {}));
    };
    for (const pending of state.pending.values()) {
      if (pending.client !== undefined) answer(pending.client, pendingHeader(pending));
      for (const waiter of pending.registration?.waiting ?? []) {
        answer(waiter.client, { ...pendingHeader(pending), serial: waiter.serial });
      }
    }
    for (const route of state.streams.values()) {
      affected.add(route.client);
      this.#clients.get(route.client)?.streams?.delete(route.clientSerial);
    }
    for (const registration of this.#registrations.on(connection)) {
      for (const client of registration.clients) {
        affected.add(client);
        this.#clients.get(client)?.registrations?.delete(registration);
      }
      this.#registrations.remove(registration);
    }
    if (!this.#retiring.has(connection) && this.#connections.length === 0) {
      // The pool lost its last connection to a failure: every client sees the daemon go, as it
      // would on its own connection (its close callback fires), not just those with state there.
      for (const client of this.#clients.keys()) affected.add(client);
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
    for (const connection of [...this.#connections]) {
      this.#retiring.add(connection);
      connection.close(reason);
    }
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
    if (!ok && pending.stream !== undefined) this.#endStream(pending.stream);
    if (pending.leaving !== undefined) this.#registrations.remove(pending.leaving);
    const deliveries: (Promise<void> | undefined)[] = [];
    const registration = pending.registration;
    if (registration !== undefined) {
      if (ok) this.#registrations.confirm(registration, readFirstInt(frame) ?? -1);
      else this.#registrations.remove(registration);
      // Clients that asked meanwhile get the same answer, with their own serials.
      for (const waiter of registration.waiting) {
        if (!this.#clients.has(waiter.client)) continue;
        const copy = frame.slice();
        patchSerial(copy, waiter.serial);
        if (ok) this.#join(registration, waiter.client);
        deliveries.push(waiter.client.deliver(copy));
      }
      registration.waiting = [];
      if (ok && client !== undefined) this.#join(registration, client);
      if (ok && registration.clients.size === 0) this.#undo(registration); // everyone left
    }
    if (client !== undefined) {
      patchSerial(frame, pending.clientSerial);
      deliveries.push(client.deliver(frame));
    }
    const waits = deliveries.filter((d) => d !== undefined);
    if (waits.length === 0) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => {});
  }

  #onEvent(frame: Uint8Array): Promise<void> | undefined {
    const eventId = legacyEventId(frameProgram(frame), frameProcedure(frame));
    const callbackId = eventId >= 0 ? undefined : readFirstInt(frame);
    const registration = eventId >= 0
      ? this.#registrations.byLegacyEventId(eventId)
      : callbackId === undefined
      ? undefined
      : this.#registrations.byCallbackId(callbackId);
    if (registration === undefined || registration.clients.size === 0) {
      this.#log.debug("Dropped an event nobody registered for", { callback: callbackId });
      return undefined;
    }
    if (registration.clients.size === 1) {
      for (const client of registration.clients) return client.deliver(frame);
    }
    return Promise.all([...registration.clients].map((c) => c.deliver(frame))).then(() => {});
  }

  #join(registration: Registration, client: PoolClient): void {
    registration.clients.add(client);
    const state = this.#clients.get(client);
    if (state !== undefined) (state.registrations ??= new Set()).add(registration);
  }

  /** `client` stops using `registration`; the last user's leaving undoes it upstream. */
  #leave(registration: Registration, client: PoolClient): void {
    registration.clients.delete(client);
    if (registration.clients.size === 0 && registration.confirmed) this.#undo(registration);
  }

  /** Deregisters a registration upstream; its key stays taken until the daemon answers. */
  #undo(registration: Registration): void {
    const connection = registration.connection;
    if (connection === undefined || connection.closed) {
      this.#registrations.remove(registration);
      return;
    }
    this.#registrations.beginLeaving(registration);
    void this.#callOwn(
      connection,
      registration.program,
      registration.deregister,
      deregisterArgument(registration),
      registration,
    );
  }

  /** A registering call never reached the daemon: its waiters get the error too. */
  #abandon(registration: Registration, error: unknown): void {
    this.#registrations.remove(registration);
    const message = error instanceof Error ? error.message : String(error);
    for (const waiter of registration.waiting) {
      if (!this.#clients.has(waiter.client)) continue;
      waiter.client.deliver(encodeErrorReply({
        length: 0,
        program: registration.program,
        version: 1,
        procedure: registration.procedure,
        type: MessageType.CALL,
        serial: waiter.serial,
        status: 0,
      }, message))?.catch(() => {});
    }
    registration.waiting = [];
  }

  /**
   * The client left mid-stream: abort the stream upstream (a STREAM ERROR with an empty body, as
   * libvirt's client does) and keep its serial reserved until the daemon ends it too.
   */
  #abandonStream(route: StreamRoute): void {
    this.#clients.get(route.client)?.streams?.delete(route.clientSerial);
    if (route.serverDone && route.clientDone) return this.#endStream(route);
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
    if (route.serverDone) return this.#endStream(route);
    // Should the daemon never answer the abort, free the serial after a while anyway.
    const timer = setTimeout(() => this.#endStream(route), STREAM_ABORT_GRACE_MS);
    Deno.unrefTimer(timer);
  }

  #endStream(route: StreamRoute): void {
    const state = this.#state.get(route.connection);
    if (state?.streams.get(route.upstreamSerial) === route) {
      state.streams.delete(route.upstreamSerial);
      route.connection.streams--;
    }
    const clientState = this.#clients.get(route.client);
    if (clientState?.streams?.get(route.clientSerial) === route) {
      clientState.streams.delete(route.clientSerial);
    }
  }

  /** Sends a call of the proxy's own (a deregistration) when its connection has room. */
  async #callOwn(
    connection: UpstreamConnection,
    program: number,
    procedure: number,
    argument: number | undefined,
    leaving?: Registration,
  ): Promise<void> {
    const slot = this.#acquireOn(connection);
    if (slot !== undefined) await slot;
    const state = this.#state.get(connection);
    if (state === undefined) return; // died meanwhile: nothing to undo there any more
    const serial = connection.allocateSerial((s) => state.pending.has(s) || state.streams.has(s));
    state.pending.set(serial, {
      client: undefined,
      clientSerial: 0,
      program,
      procedure,
      stream: undefined,
      registration: undefined,
      leaving,
    });
    const frame = encodeMessage(
      { program, procedure, type: MessageType.CALL, serial },
      argument === undefined ? undefined : encodeWords(argument),
    );
    await connection.write(frame).catch(() => {});
  }

  /** A slot on `connection` itself, waiting (ahead of other callers) while it is full. */
  #acquireOn(connection: UpstreamConnection): Promise<void> | undefined {
    if (connection.inflight < this.#options.maxInflightPerConnection) {
      connection.inflight++;
      return undefined;
    }
    return new Promise((resolve) => {
      const queue = this.#pinned.get(connection) ?? [];
      queue.push(resolve);
      this.#pinned.set(connection, queue);
    });
  }

  /** A connection with room, the least loaded; waits in arrival order when all are full. */
  #acquire(forStream: boolean): UpstreamConnection | Promise<UpstreamConnection> {
    const max = this.#options.maxInflightPerConnection;
    // A stream weighs a whole connection's worth of calls when placing another stream.
    const load = (c: UpstreamConnection) => c.inflight + c.streams * (forStream ? max : 1);
    let best: UpstreamConnection | undefined;
    for (const connection of this.#connections) {
      if (connection.inflight >= max || connection.closed) continue;
      if (best === undefined || load(connection) < load(best)) best = connection;
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

  /** A call on `connection` was answered: its slot goes to a pinned call, else to a waiter. */
  #release(connection: UpstreamConnection): void {
    connection.inflight--;
    connection.idleSince = Date.now();
    if (connection.closed || connection.inflight >= this.#options.maxInflightPerConnection) return;
    const pinned = this.#pinned.get(connection);
    if (pinned !== undefined && pinned.length > 0) {
      connection.inflight++;
      pinned.shift()!();
      return;
    }
    if (this.#waiters.length > 0) {
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
        // A burst larger than one connection's room grows the pool further (after this open).
        queueMicrotask(() => {
          const canGrow = this.#connections.length + this.#openingCount < this.#options.poolMax;
          if (this.#waiters.length > 0 && canGrow) this.#open().catch(() => {});
        });
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
        this.#retiring.add(connection);
        connection.close(`idle for ${Math.round(this.#options.idleMs / 1000)} s`);
      }
    }
  }
}

/** The header of a pending call, for an error reply to its client. */
function pendingHeader(pending: PendingCall): Header {
  return {
    length: 0,
    program: pending.program,
    version: 1,
    procedure: pending.procedure,
    type: MessageType.CALL,
    serial: pending.clientSerial,
    status: 0,
  };
}

/** The reply body of a registering call answered from a held registration. */
function registrationReply(registration: Registration, procedure: number): Uint8Array | undefined {
  if (registration.legacyEventId < 0) return encodeWords(registration.callbackId);
  // CONNECT_DOMAIN_EVENT_REGISTER returns { int cb_registered }; REGISTER_ANY returns nothing.
  return procedure === 105 ? encodeWords(1) : undefined;
}

/** The reply body of a deregistering call answered locally. */
function deregistrationReply(registration: Registration): Uint8Array | undefined {
  // CONNECT_DOMAIN_EVENT_DEREGISTER returns { int cb_registered }; the others return nothing.
  return registration.deregister === 106 ? encodeWords(0) : undefined;
}
