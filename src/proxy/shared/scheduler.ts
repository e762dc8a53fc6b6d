/**
 * Connection scheduling for a shared pool: which connection a call goes on, when another one
 * opens, how failures back off, and when idle ones close. It owns every connection's load (the
 * calls outstanding on it and when it was last busy); the routing core only asks for slots and
 * gives them back.
 *
 * Invariants:
 * - a connection never has more than `maxInflightPerConnection` slots taken; callers beyond that
 *   wait in arrival order (calls that must go on one given connection wait ahead of them there);
 * - at most one open is under way at a time, and `#opening` is set before any of it runs, so a
 *   dial that fails at once can never leave a settled promise behind to be returned for good;
 * - heavy calls (frames over {@linkcode HEAVY_CALL_BYTES}) go one per connection, and while the
 *   pool has more than one connection's worth of room they leave one connection free of them:
 *   a daemon reads a connection's frames in order, so a small call written behind a 32 MiB one
 *   waits for all of it. Small calls prefer connections with no heavy call on them.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import type { Logger } from "../../log/logger.ts";
import { CLIENT_ALLOWANCE_BYTES } from "../buffer_budget.ts";
import { UpstreamError } from "../upstream_error.ts";
import { OpenBackoff } from "./open_backoff.ts";
import type { UpstreamConnection } from "./upstream_connection.ts";

/**
 * A call frame longer than this is heavy: it is placed apart from small calls. The per-client
 * allowance of the buffer budget, past which a frame is a large one.
 */
export const HEAVY_CALL_BYTES = CLIENT_ALLOWANCE_BYTES;

/** Options for {@linkcode ConnectionScheduler}. */
export interface SchedulerOptions {
  /** Most connections. */
  poolMax: number;
  /** Most calls outstanding on one connection. */
  maxInflightPerConnection: number;
  /** Close a connection with nothing on it after this many ms. */
  idleMs: number;
  /** Dials one connection and performs its handshake. */
  open: () => Promise<UpstreamConnection>;
  /** A connection opened and is counted: the routing core starts reading it. */
  onOpen: (connection: UpstreamConnection) => void;
  /** Streams open on a connection, for placing stream-opening calls. */
  streamsOn: (connection: UpstreamConnection) => number;
  /** Whether a connection holds state (streams, event callbacks) that keeps it open. */
  holdsState: (connection: UpstreamConnection) => boolean;
  /** Logger with the pool's context. */
  logger: Logger;
  /**
   * Survive daemon restarts: while no connection can be opened, calls wait this long (ms) for
   * one instead of failing at once, and the scheduler keeps reopening with backoff while
   * `wanted()` says so. Undefined: fail waiting calls with the first failed open.
   */
  restartWaitMs?: number;
  /** Whether the pool wants a connection even with no call waiting (its clients hold state). */
  wanted?: () => boolean;
  /** `"hv1" (qemu+tls://...)`, for messages. */
  label?: string;
}

/** A connection's load, known only to the scheduler. */
interface Load {
  inflight: number;
  /** Heavy calls outstanding (0 or 1). */
  heavy: number;
  /** When it last had a call taken or answered (ms since epoch). */
  idleSince: number;
}

interface Waiter {
  /** Whether it waits to send a heavy call. */
  heavy: boolean;
  resolve: (connection: UpstreamConnection) => void;
  reject: (error: Error) => void;
  /** When it stops waiting for a restarted daemon (ms since epoch); Infinity otherwise. */
  deadline: number;
}

/** Chooses connections for calls and keeps the pool's connection count right. */
export class ConnectionScheduler {
  readonly #options: SchedulerOptions;
  readonly #load = new Map<UpstreamConnection, Load>();
  readonly #waiters: Waiter[] = [];
  /** Calls that must go on one given connection (deregistrations), waiting for a slot there. */
  readonly #pinned = new Map<UpstreamConnection, (() => void)[]>();
  /** Connections the pool itself closes (idle, shutdown): their end loses no client. */
  readonly #retiring = new WeakSet<UpstreamConnection>();
  #opening: Promise<UpstreamConnection> | undefined;
  #openingCount = 0;
  readonly #backoff: OpenBackoff;
  #opened = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #idleTimer: ReturnType<typeof setInterval>;

  /** A scheduler with no connection yet. */
  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#backoff = new OpenBackoff(options.restartWaitMs !== undefined);
    // Surviving restarts, the same sweep fails calls that waited restart_wait: look often enough.
    const sweepMs = options.restartWaitMs === undefined
      ? options.idleMs / 4
      : Math.min(options.idleMs / 4, 250);
    this.#idleTimer = setInterval(() => this.#closeIdle(), Math.max(sweepMs, 50));
    Deno.unrefTimer(this.#idleTimer);
  }

  /** Open connections now. */
  get size(): number {
    return this.#load.size;
  }

  /** Connections opened over the pool's life. */
  get opened(): number {
    return this.#opened;
  }

  /** Connections being dialed and opened now. */
  get opening(): number {
    return this.#openingCount;
  }

  /** Open connections with at least one call outstanding. */
  get busy(): number {
    let count = 0;
    for (const load of this.#load.values()) if (load.inflight > 0) count++;
    return count;
  }

  /** Calls outstanding over every connection. */
  get inflight(): number {
    let count = 0;
    for (const load of this.#load.values()) count += load.inflight;
    return count;
  }

  /** Calls waiting for a slot: in line for any connection, or pinned to a full one. */
  get queued(): number {
    let count = this.#waiters.length;
    for (const pinned of this.#pinned.values()) count += pinned.length;
    return count;
  }

  /** True when no connection is open, opening or awaited. */
  get empty(): boolean {
    return this.#load.size === 0 && this.#openingCount === 0 && this.#waiters.length === 0;
  }

  /** The open connections. */
  connections(): IterableIterator<UpstreamConnection> {
    return this.#load.keys();
  }

  /** Whether the pool itself closed `connection` (idle, shutdown), so its end loses nobody. */
  retired(connection: UpstreamConnection): boolean {
    return this.#retiring.has(connection);
  }

  /**
   * Ensures one connection is open, opening one if needed.
   *
   * @throws {UpstreamError} when the daemon cannot be reached or refuses the open; while the
   * pool is backing off after a failure, the last failure at once.
   */
  async ready(): Promise<void> {
    if (this.#load.size > 0) return;
    if (this.#options.restartWaitMs === undefined) {
      await this.#open();
      return;
    }
    // Surviving restarts: wait for a connection like a call would, then give the slot back.
    this.release(await this.acquire(false));
  }

  /**
   * A connection with room, the least loaded; waits in arrival order when all are full. A heavy
   * call (see {@linkcode HEAVY_CALL_BYTES}) takes only a connection with no other heavy call,
   * and not the last one free of them; give its slot back with `release(connection, true)`.
   */
  acquire(forStream: boolean, heavy = false): UpstreamConnection | Promise<UpstreamConnection> {
    const max = this.#options.maxInflightPerConnection;
    const streamsOn = this.#options.streamsOn;
    const heavyRoom = heavy && this.#heavyRoom();
    let best: UpstreamConnection | undefined;
    let bestLoad = Infinity;
    let bestHeavy = 0;
    for (const [connection, load] of this.#load) {
      if (load.inflight >= max || connection.closed) continue;
      if (heavy && (!heavyRoom || load.heavy > 0)) continue;
      // A stream weighs a whole connection's worth of calls when placing another stream, and a
      // heavy call a whole connection's worth when placing a small one.
      const weight = load.inflight + streamsOn(connection) * (forStream ? max : 1) +
        load.heavy * max;
      if (weight < bestLoad) {
        best = connection;
        bestLoad = weight;
        bestHeavy = load.heavy;
      }
    }
    const canGrow = this.#canGrow();
    const crowded = best !== undefined && canGrow &&
      ((forStream && streamsOn(best) > 0) || (!heavy && bestHeavy > 0));
    if (best !== undefined && !crowded) {
      this.#take(best, heavy);
      return best;
    }
    const wait = this.#options.restartWaitMs;
    const deadline = wait === undefined ? Infinity : Date.now() + wait;
    const waiting = new Promise<UpstreamConnection>((resolve, reject) =>
      this.#waiters.push({ heavy, resolve, reject, deadline })
    );
    if (canGrow) this.#open().catch(() => {});
    return waiting;
  }

  /**
   * A slot on `connection` itself, waiting (ahead of other callers) while it is full. Resolves
   * without a slot if the connection ends meanwhile: check `connection.closed` after.
   */
  acquireOn(connection: UpstreamConnection): Promise<void> | undefined {
    const load = this.#load.get(connection);
    if (load === undefined) return undefined;
    if (load.inflight < this.#options.maxInflightPerConnection) {
      this.#take(connection, false);
      return undefined;
    }
    return new Promise((resolve) => {
      const queue = this.#pinned.get(connection) ?? [];
      queue.push(resolve);
      this.#pinned.set(connection, queue);
    });
  }

  /**
   * A call on `connection` was answered (`heavy`: a heavy one): its slot goes to a pinned call,
   * else to the first waiter it suits.
   */
  release(connection: UpstreamConnection, heavy = false): void {
    const load = this.#load.get(connection);
    if (load === undefined) return;
    load.inflight--;
    if (heavy) load.heavy--;
    load.idleSince = Date.now();
    if (connection.closed || load.inflight >= this.#options.maxInflightPerConnection) return;
    const pinned = this.#pinned.get(connection);
    if (pinned !== undefined && pinned.length > 0) {
      load.inflight++;
      pinned.shift()!();
      return;
    }
    if (this.#waiters.length > 0) this.#serveWaiters(connection, load);
  }

  /** `connection` ended: forget it, wake calls pinned to it, reopen if calls are waiting. */
  lost(connection: UpstreamConnection): void {
    this.#load.delete(connection);
    for (const resume of this.#pinned.get(connection) ?? []) resume(); // they see it closed
    this.#pinned.delete(connection);
    if (this.#load.size === 0 && this.#wantsConnection()) this.#open().catch(() => {});
  }

  /** Closes every connection: the proxy is stopping or the pool is dropped. */
  close(reason: string): void {
    this.#closed = true;
    clearInterval(this.#idleTimer);
    clearTimeout(this.#retryTimer);
    for (const connection of [...this.#load.keys()]) {
      this.#retiring.add(connection);
      connection.close(reason);
    }
  }

  #take(connection: UpstreamConnection, heavy: boolean): void {
    const load = this.#load.get(connection)!;
    load.inflight++;
    if (heavy) load.heavy++;
    load.idleSince = Date.now();
  }

  /**
   * Whether one more connection may carry a heavy call: all but one of the pool's connections
   * (counting those it may still open), and at least one.
   */
  #heavyRoom(): boolean {
    let carrying = 0;
    for (const load of this.#load.values()) if (load.heavy > 0) carrying++;
    return carrying < Math.max(1, this.#options.poolMax - 1);
  }

  /** Gives `connection`'s free slots to waiters in arrival order, each that it suits. */
  #serveWaiters(connection: UpstreamConnection, load: Load): void {
    const max = this.#options.maxInflightPerConnection;
    for (let i = 0; i < this.#waiters.length && load.inflight < max;) {
      const waiter = this.#waiters[i];
      if (waiter.heavy && (load.heavy > 0 || !this.#heavyRoom())) {
        i++;
        continue;
      }
      this.#waiters.splice(i, 1);
      this.#take(connection, waiter.heavy);
      waiter.resolve(connection);
    }
  }

  #canGrow(): boolean {
    return this.#load.size + this.#openingCount < this.#options.poolMax;
  }

  /** Opens one more connection; waiters get its slots. Failures back off exponentially. */
  #open(): Promise<UpstreamConnection> {
    if (this.#opening !== undefined) return this.#opening;
    const error = this.#backoff.blocking(Date.now());
    if (error !== undefined) {
      if (this.#options.restartWaitMs === undefined) this.#failWaiters(error);
      return Promise.reject(error);
    }
    this.#openingCount++;
    // Deferred by one microtask, so that `#opening` is set before the dial can fail.
    const opening: Promise<UpstreamConnection> = Promise.resolve()
      .then(() => this.#openOne())
      .finally(() => {
        this.#openingCount--;
        if (this.#opening === opening) this.#opening = undefined;
      });
    this.#opening = opening;
    // A burst larger than one connection's room grows the pool further, once this open is done.
    opening.then(() => {
      if (this.#waiters.length > 0 && this.#canGrow()) this.#open().catch(() => {});
    }, () => {});
    return opening;
  }

  async #openOne(): Promise<UpstreamConnection> {
    let connection: UpstreamConnection;
    try {
      connection = await this.#options.open();
    } catch (error) {
      const failure = UpstreamError.from(error);
      const retryMs = this.#backoff.failed(failure);
      this.#options.logger.warning("Cannot open upstream connection", {
        error: errorMessage(failure),
        retryMs,
      });
      if (this.#options.restartWaitMs !== undefined) this.#retryLater();
      else if (this.#load.size === 0) this.#failWaiters(failure);
      throw failure;
    }
    const load: Load = { inflight: 0, heavy: 0, idleSince: Date.now() };
    this.#load.set(connection, load);
    this.#opened++;
    this.#backoff.succeeded();
    this.#options.onOpen(connection);
    this.#serveWaiters(connection, load);
    return connection;
  }

  #failWaiters(error: Error): void {
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  /** Whether a connection should be opened now that none is open. */
  #wantsConnection(): boolean {
    if (this.#closed) return false;
    return this.#waiters.length > 0 ||
      (this.#options.restartWaitMs !== undefined && this.#options.wanted?.() === true);
  }

  /** Surviving restarts: try again after the backoff while someone wants a connection. */
  #retryLater(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#load.size === 0 && this.#wantsConnection()) this.#open().catch(() => {});
    }, this.#backoff.delayMs);
    Deno.unrefTimer(this.#retryTimer);
  }

  /** Fails the calls that waited `restart_wait` for a restarted daemon in vain. */
  #expireWaiters(now: number): void {
    if (this.#waiters.length === 0 || this.#waiters[0].deadline > now) return;
    const wait = Math.round((this.#options.restartWaitMs ?? 0) / 100) / 10;
    const last = this.#backoff.lastError;
    const cause = last === undefined ? "" : `: ${last.message}`;
    const error = new UpstreamError(
      `Upstream ${this.#options.label ?? ""} did not come back within ${wait} s (restart_wait)` +
        cause,
    );
    while (this.#waiters.length > 0 && this.#waiters[0].deadline <= now) {
      this.#waiters.shift()!.reject(error);
    }
  }

  #closeIdle(): void {
    const now = Date.now();
    this.#expireWaiters(now);
    for (const [connection, load] of this.#load) {
      if (
        load.inflight === 0 && !this.#options.holdsState(connection) &&
        now - load.idleSince >= this.#options.idleMs
      ) {
        this.#retiring.add(connection);
        connection.close(`idle for ${Math.round(this.#options.idleMs / 1000)} s`);
      }
    }
  }
}
