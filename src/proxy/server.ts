/**
 * `virtmux serve`: listeners on unix sockets, a session per accepted client, and an orderly
 * shutdown that stops accepting, lets outstanding calls finish, and removes the socket files.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Channel } from "../transport/channel.ts";
import { dial } from "../transport/dial.ts";
import { peerAllowed } from "../transport/peer_credentials.ts";
import type { LibvirtUri } from "../uri/uri.ts";
import { ErrorCode } from "../wire/constants.ts";
import { DedicatedSession, refuseClient } from "./dedicated_session.ts";
import type { ClientTimeouts } from "./client_clock.ts";
import type { Policy } from "./policy.ts";
import { Pool } from "./pool.ts";
import { SharedSession } from "./shared_session.ts";
import {
  type AcceptedClient,
  listenUnix,
  resolveGroup,
  type UnixSocketListener,
} from "./unix_listener.ts";

/** An upstream daemon as the server needs it. */
export interface UpstreamSpec {
  /** The upstream's name from the config. */
  name: string;
  /** Where it is. */
  uri: LibvirtUri;
  /** Time allowed to connect, in ms. */
  connectTimeoutMs: number;
  /** Clients share a pool of connections instead of one each. */
  share: boolean;
  /** Shared pool: most connections. */
  poolMax: number;
  /** Shared pool: most pools at once (distinct open names and flags). */
  maxPools: number;
  /** Shared pool: most outstanding calls per connection. */
  maxInflightPerConnection: number;
  /** Shared pool: close a connection with nothing on it after this many ms. */
  idleMs: number;
  /** Shared pool: ping a quiet connection after this many ms. */
  keepaliveIntervalMs: number;
  /** Shared pool: unanswered pings before a connection is dropped. */
  keepaliveCount: number;
}

/** A listening socket as the server needs it. */
export interface ListenerSpec {
  /** Socket path. */
  socket: string;
  /** Permission bits. */
  mode: number;
  /** Owning group, by name or id. */
  group?: string;
  /** Every open through this socket is read-only. */
  readonly: boolean;
  /** The upstream its clients reach. */
  upstream: UpstreamSpec;
  /** Largest frame, length word included (the stricter of global, listener and upstream). */
  maxFrameBytes: number;
  /** Outstanding calls per client before the proxy stops reading it. */
  maxInflightPerClient: number;
  /** Most clients at once on this socket. */
  maxClients: number;
  /** Programs its clients may use, KEEPALIVE included. */
  programs: ReadonlySet<number>;
  /** Procedures its clients may call. */
  policy: Policy;
  /** Client timeouts. */
  timeouts: ClientTimeouts;
  /** Upstreams a client may pick by the name it opens (`route_by_name`), by name. */
  routes: ReadonlyMap<string, UpstreamSpec>;
  /** User ids allowed to connect; with `allowGids` both empty, the socket's mode decides alone. */
  allowUids: ReadonlySet<number>;
  /** Group ids (primary or supplementary) allowed to connect. */
  allowGids: ReadonlySet<number>;
}

/** How long a replaced socket goes on accepting after the new one took its path. */
const RETIRE_MS = 1000;

/** Whether clients of `spec` are checked against `allow_uids`/`allow_gids`. */
function checksPeers(spec: ListenerSpec): boolean {
  return spec.allowUids.size > 0 || spec.allowGids.size > 0;
}

/** Options for {@linkcode Server}. */
export interface ServerOptions {
  /** The sockets to serve. */
  listeners: ListenerSpec[];
  /** Most clients at once over all sockets. */
  maxClients: number;
  /** Root logger. */
  logger: Logger;
  /** How long shutdown waits for outstanding calls, in ms. */
  shutdownGraceMs: number;
  /** Dials an upstream; replaceable in tests. Defaults to {@linkcode dial}. */
  dialUpstream?: (upstream: UpstreamSpec, readonly: boolean) => Promise<Channel>;
}

/** What the server needs of a client session, dedicated or shared. */
interface Session {
  run(): Promise<void>;
  drain(): void;
  close(reason: string): void;
  finished(): Promise<void>;
  expired(now: number): string | undefined;
  expire(message: string): Promise<void>;
  readonly closeReason: string;
}

/** A listening socket and the spec new clients get (replaced on reload). */
interface ListenerRuntime {
  spec: ListenerSpec;
  socket: UnixSocketListener;
  /** Clients connected through this path, shared with the socket this one replaced. */
  clients: { open: number };
  accepting: Promise<void>;
}

/** A running proxy: call {@linkcode Server.start}, later {@linkcode Server.shutdown}. */
export class Server {
  readonly #options: ServerOptions;
  readonly #log: Logger;
  readonly #listeners = new Map<string, ListenerRuntime>();
  /** Replaced sockets still accepting for a moment (see {@linkcode Server.#retire}). */
  readonly #retiring = new Set<ListenerRuntime>();
  readonly #sessions = new Map<Session, ListenerRuntime>();
  /** Shared pools by upstream name, open name, flags and frame limit (the name comes first). */
  readonly #pools = new Map<string, Pool>();
  #maxClients: number;
  #nextClientId = 1;
  #stopping = false;
  #sweep: ReturnType<typeof setInterval> | undefined;

  /** Prepares a server; nothing is opened until {@linkcode start}. */
  constructor(options: ServerOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#maxClients = options.maxClients;
  }

  /** Clients connected now. */
  get clientCount(): number {
    return this.#sessions.size;
  }

  /** Socket paths served now. */
  get sockets(): string[] {
    return [...this.#listeners.keys()];
  }

  /**
   * Opens every listener. If one cannot be opened, the ones already open are closed again and
   * the error names the socket.
   */
  async start(): Promise<void> {
    for (const spec of this.#options.listeners) {
      try {
        await this.#openListener(spec);
      } catch (error) {
        for (const path of [...this.#listeners.keys()]) this.#closeListener(path);
        throw error;
      }
    }
    this.#sweep = setInterval(() => this.#closeExpired(), 1000);
    Deno.unrefTimer(this.#sweep);
  }

  /**
   * Applies a new set of listeners and limits: new sockets open, removed ones stop accepting and
   * disappear (their clients stay until they leave), and changed settings apply to clients that
   * connect from now on. Resolves to the problems met, one line each (empty when none).
   */
  async reload(listeners: ListenerSpec[], maxClients: number): Promise<string[]> {
    const problems: string[] = [];
    this.#maxClients = maxClients;
    const wanted = new Set(listeners.map((l) => l.socket));
    for (const path of [...this.#listeners.keys()]) {
      if (!wanted.has(path)) {
        this.#closeListener(path);
        this.#log.info("Listener removed", { socket: path });
      }
    }
    for (const spec of listeners) {
      const runtime = this.#listeners.get(spec.socket);
      if (runtime === undefined) {
        try {
          await this.#openListener(spec);
        } catch (error) {
          problems.push(error instanceof Error ? error.message : String(error));
        }
        continue;
      }
      if (checksPeers(spec) !== runtime.socket.peerCredentials) {
        // Reading credentials takes another kind of socket: bind a new one in place of the old.
        try {
          await this.#openListener(spec, runtime);
        } catch (error) {
          problems.push(error instanceof Error ? error.message : String(error));
        }
        continue;
      }
      try {
        if (spec.mode !== runtime.spec.mode) Deno.chmodSync(spec.socket, spec.mode);
        if (spec.group !== undefined && spec.group !== runtime.spec.group) {
          Deno.chownSync(spec.socket, null, resolveGroup(spec.group, spec.socket));
        }
      } catch (error) {
        problems.push(error instanceof Error ? error.message : String(error));
      }
      runtime.spec = spec;
    }
    return problems;
  }

  /**
   * Stops accepting, removes the socket files, lets outstanding calls finish for the grace
   * period, then closes whatever is left.
   */
  async shutdown(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#sweep);
    const accepting = [...this.#listeners.values(), ...this.#retiring].map((l) => l.accepting);
    for (const path of [...this.#listeners.keys()]) this.#closeListener(path);
    for (const runtime of this.#retiring) runtime.socket.close();
    this.#retiring.clear();
    await Promise.allSettled(accepting);
    const sessions = [...this.#sessions.keys()];
    this.#log.info("Shutting down", { clients: sessions.length });
    for (const session of sessions) session.drain();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.#options.shutdownGraceMs);
    });
    await Promise.race([Promise.all(sessions.map((s) => s.finished())), grace]);
    clearTimeout(timer);
    await Promise.all(
      [...this.#sessions.keys()].map((session) =>
        session.expire("virtmux is shutting down: the grace period for outstanding calls is over")
      ),
    );
    for (const pool of this.#pools.values()) pool.close("virtmux is shutting down");
  }

  /** Opens the socket of `spec`, atomically taking the place of `replacing` when given. */
  async #openListener(spec: ListenerSpec, replacing?: ListenerRuntime): Promise<void> {
    const socket = await listenUnix(spec.socket, {
      mode: spec.mode,
      group: spec.group,
      peerCredentials: checksPeers(spec),
      replacing: replacing?.socket,
      logger: this.#log,
    });
    // Clients of a replaced socket stay; they keep counting against the listener's limit.
    const clients = replacing?.clients ?? { open: 0 };
    const runtime: ListenerRuntime = { spec, socket, clients, accepting: Promise.resolve() };
    if (replacing !== undefined) this.#retire(replacing);
    this.#listeners.set(spec.socket, runtime);
    runtime.accepting = this.#acceptLoop(runtime);
    this.#log.info("Listening", {
      socket: spec.socket,
      upstream: spec.upstream.name,
      uri: spec.upstream.uri.text,
      share: spec.upstream.share,
      readonly: spec.readonly,
    });
  }

  /**
   * Closes a socket another has replaced at its path, after a moment: a client that looked the
   * path up just before the rename still connects to it, and is served.
   */
  #retire(runtime: ListenerRuntime): void {
    this.#retiring.add(runtime);
    const timer = setTimeout(() => {
      this.#retiring.delete(runtime);
      runtime.socket.close();
    }, RETIRE_MS);
    Deno.unrefTimer(timer);
  }

  #closeListener(path: string): void {
    const runtime = this.#listeners.get(path);
    if (runtime === undefined) return;
    this.#listeners.delete(path);
    runtime.socket.remove(); // first, while the open socket keeps its inode from being reused
    try {
      runtime.socket.close();
    } catch { /* closed */ }
  }

  /** Closes the clients that outstayed a timeout and drops unused pools; runs once a second. */
  #closeExpired(): void {
    const now = Date.now();
    for (const [key, pool] of this.#pools) {
      if (!pool.unused) continue;
      pool.close("unused");
      this.#pools.delete(key);
    }
    for (const [session, runtime] of this.#sessions) {
      const reason = session.expired(now);
      if (reason === undefined) continue;
      this.#log.warning("Closing client: timeout", { listener: runtime.spec.socket, reason });
      session.close(reason);
    }
  }

  async #acceptLoop(runtime: ListenerRuntime): Promise<void> {
    try {
      for await (const accepted of runtime.socket.clients()) {
        const conn = accepted.channel;
        const spec = runtime.spec;
        const id = this.#nextClientId++;
        const log = this.#log.child({
          listener: spec.socket,
          client: id,
          upstream: spec.upstream.name,
          ...(accepted.peer && { pid: accepted.peer.pid, uid: accepted.peer.uid }),
        });
        if (checksPeers(spec)) {
          const refusal = peerRefusal(spec, accepted);
          if (refusal !== undefined) {
            log.warning("Client refused: credentials not allowed", {
              reason: refusal,
              gid: accepted.peer?.gid,
            });
            void refuseClient(conn, refusal, { logger: log, code: ErrorCode.ACCESS_DENIED });
            continue;
          }
        }
        const full = this.#sessions.size >= this.#maxClients
          ? this.#maxClients
          : runtime.clients.open >= spec.maxClients
          ? spec.maxClients
          : 0;
        if (full > 0) {
          log.warning("Client refused: too many clients", { limit: full });
          void refuseClient(
            conn,
            `virtmux has reached its limit of ${full} clients on "${spec.socket}"`,
            { logger: log },
          );
          continue;
        }
        log.info("Client connected");
        const session: Session = spec.upstream.share
          ? new SharedSession(conn, {
            id,
            logger: log,
            maxFrameBytes: spec.maxFrameBytes,
            maxInflight: spec.maxInflightPerClient,
            readonly: spec.readonly,
            programs: spec.programs,
            policy: spec.policy,
            timeouts: spec.timeouts,
            poolFor: (name, flags) => this.#pool(spec, name, flags),
          })
          : new DedicatedSession(conn, this.#dial(spec.upstream, spec.readonly), {
            logger: log,
            upstreamLabel: label(spec.upstream),
            maxFrameBytes: spec.maxFrameBytes,
            maxInflight: spec.maxInflightPerClient,
            readonly: spec.readonly,
            programs: spec.programs,
            policy: spec.policy,
            timeouts: spec.timeouts,
          });
        this.#sessions.set(session, runtime);
        runtime.clients.open++;
        session.run().catch((error) => {
          log.error("Session failed", { error: String(error) });
        }).finally(() => {
          this.#sessions.delete(session);
          runtime.clients.open--;
          log.info("Client disconnected", { reason: session.closeReason });
        });
      }
    } catch (error) {
      if (!this.#stopping && this.#listeners.get(runtime.spec.socket) === runtime) {
        this.#log.error("Listener failed", { socket: runtime.spec.socket, error: String(error) });
      }
    }
  }

  #dial(upstream: UpstreamSpec, readonly: boolean): Promise<Channel> {
    if (this.#options.dialUpstream) return this.#options.dialUpstream(upstream, readonly);
    return dial(upstream.uri, {
      name: upstream.name,
      timeoutMs: upstream.connectTimeoutMs,
      readonly,
      logger: this.#log.child({ upstream: upstream.name }),
    });
  }

  /**
   * The pool for an open of `name` with `flags` through `spec`, made on first use. With
   * `route_by_name`, a name that is one of the listener's routes picks that upstream, opened
   * with its own open name.
   */
  #pool(spec: ListenerSpec, name: string | null, flags: number): Pool {
    let upstream = spec.upstream;
    let openName = name;
    const routed = name === null ? undefined : spec.routes.get(name);
    if (routed !== undefined) {
      upstream = routed;
      openName = routed.uri.openName;
    }
    const key = [upstream.name, upstream.uri.text, openName ?? "", flags, spec.maxFrameBytes]
      .join("\0");
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      this.#makeRoomForPool(upstream);
      pool = new Pool({
        label: label(upstream),
        openName,
        openFlags: flags,
        poolMax: upstream.poolMax,
        maxInflightPerConnection: upstream.maxInflightPerConnection,
        maxFrameBytes: spec.maxFrameBytes,
        idleMs: upstream.idleMs,
        keepaliveIntervalMs: upstream.keepaliveIntervalMs,
        keepaliveCount: upstream.keepaliveCount,
        connectTimeoutMs: upstream.connectTimeoutMs,
        dial: () => this.#dial(upstream, (flags & 1) === 1),
        logger: this.#log.child({ upstream: upstream.name, pool: openName ?? "(default)" }),
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /**
   * Keeps `upstream` under its `max_pools`: closes its pools that have no clients left, or, when
   * every one has clients, refuses the open that wants one more.
   */
  #makeRoomForPool(upstream: UpstreamSpec): void {
    const mine = [...this.#pools].filter(([key]) => key.startsWith(`${upstream.name}\0`));
    if (mine.length < upstream.maxPools) return;
    for (const [key, pool] of mine) {
      if (pool.inUse) continue;
      pool.close("making room for another pool");
      this.#pools.delete(key);
      return;
    }
    throw new Error(
      `virtmux keeps at most ${upstream.maxPools} pools for upstream "${upstream.name}" ` +
        "(max_pools), one per distinct name and read-only flag opened, and all are in use",
    );
  }
}

function label(upstream: UpstreamSpec): string {
  return `"${upstream.name}" (${upstream.uri.text})`;
}

/** Why `accepted` may not use the socket of `spec`, or undefined when it may. */
function peerRefusal(spec: ListenerSpec, accepted: AcceptedClient): string | undefined {
  const peer = accepted.peer;
  if (peer === undefined) {
    return `virtmux cannot tell who connected to "${spec.socket}" (${accepted.peerError}), ` +
      "and it admits only the users and groups in its allow_uids/allow_gids";
  }
  if (peerAllowed(peer, spec.allowUids, spec.allowGids)) return undefined;
  return `virtmux does not allow uid ${peer.uid} (gid ${peer.gid}) on "${spec.socket}": ` +
    "not in the listener's allow_uids/allow_gids";
}
