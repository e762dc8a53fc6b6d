/**
 * `virtmux serve`: listeners on unix sockets and network fronts (TLS, TCP), a session per accepted
 * client (open_session.ts makes it), and an orderly shutdown that stops accepting, lets
 * outstanding calls finish, and removes the socket files.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import type { Logger } from "../log/logger.ts";
import type { Channel } from "../transport/channel.ts";
import type { NetworkListener } from "../transport/net_listener.ts";
import type { TlsListener } from "../transport/tls_listener.ts";
import { listenUnix, resolveGroup, type UnixSocketListener } from "../transport/unix_listener.ts";
import type { ServerCounters } from "./counters.ts";
import { openFront, tlsFrontOptions } from "./front.ts";
import { admissionRefusal, clientIdentity, clientLogFields } from "./admission.ts";
import { type OpenedSession, openSession } from "./open_session.ts";
import { refuseClient } from "./refuse_client.ts";
import type { SessionObservers } from "./observer.ts";
import type { ClientSession } from "./session.ts";
import type { ClientSnapshot, ServerSnapshot } from "./server_snapshot.ts";
import { buildSnapshot } from "./server_snapshot_build.ts";
import { PoolRegistry } from "./shared/pool_registry.ts";
import { checksPeers, type ListenerSpec, type UpstreamSpec } from "./spec.ts";
import { dialUpstream } from "./upstream_dial.ts";

/** How long a replaced socket goes on accepting after the new one took its path. */
const RETIRE_MS = 1000;

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
  /** Watches sessions (audit, metrics); undefined: nothing watches. */
  observers?: SessionObservers;
  /** Counts admissions, refusals, dials, timeouts and pool events; undefined: none. */
  counters?: ServerCounters;
  /**
   * Read every unix client's credentials (SO_PEERCRED), not only on listeners with
   * `allow_uids`/`allow_gids`: the audit log names who made each call.
   */
  peerCredentials?: boolean;
}

/** A connected client, for {@linkcode Server.snapshot} and {@linkcode Server.disconnect}. */
interface ClientEntry {
  session: OpenedSession;
  info: Omit<ClientSnapshot, "inflight" | "calls">;
}

/** A listening socket and the spec new clients get (replaced on reload). */
interface ListenerRuntime {
  spec: ListenerSpec;
  socket: UnixSocketListener | NetworkListener | TlsListener;
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
  readonly #sessions = new Map<ClientSession, ListenerRuntime>();
  readonly #pools: PoolRegistry;
  #maxClients: number;
  #nextClientId = 1;
  readonly #clients = new Map<number, ClientEntry>();
  readonly #startedAt = Date.now();
  #stopping = false;
  #sweep: ReturnType<typeof setInterval> | undefined;

  /** Prepares a server; nothing is opened until {@linkcode start}. */
  constructor(options: ServerOptions) {
    this.#options = options;
    this.#log = options.logger;
    this.#maxClients = options.maxClients;
    this.#pools = new PoolRegistry({
      dial: (upstream, readonly) => this.#dial(upstream, readonly),
      logger: options.logger,
      counters: options.counters,
    });
  }

  /** What the server holds now: listeners, upstreams, pools, clients. */
  snapshot(): ServerSnapshot {
    return buildSnapshot({
      startedAt: this.#startedAt,
      listeners: [...this.#listeners.values()].map((l) => ({
        spec: l.spec,
        clients: l.clients.open,
      })),
      clients: this.#clients.values(),
      pools: this.#pools.pools(),
    });
  }

  /** Closes client `id` with `reason`; false when no such client is connected. */
  disconnect(id: number, reason: string): boolean {
    const entry = this.#clients.get(id);
    if (entry === undefined) return false;
    this.#log.info("Closing client: asked by the control socket", { client: id, reason });
    entry.session.close(reason);
    return true;
  }

  /** Clients connected now. */
  get clientCount(): number {
    return this.#sessions.size;
  }

  /** Socket paths (and network front labels) served now. */
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
          problems.push(errorMessage(error));
        }
        continue;
      }
      if (spec.front !== undefined) {
        // Same address: TLS files and checks are read again; connected clients stay.
        try {
          if ("reload" in runtime.socket) {
            await runtime.socket.reload(tlsFrontOptions(spec, this.#log));
          }
        } catch (error) {
          problems.push(errorMessage(error));
        }
        runtime.spec = spec;
        continue;
      }
      if (this.#readsPeers(spec) !== runtime.socket.peerCredentials) {
        // Reading credentials takes another kind of socket: bind a new one in place of the old.
        try {
          await this.#openListener(spec, runtime);
        } catch (error) {
          problems.push(errorMessage(error));
        }
        continue;
      }
      try {
        if (spec.mode !== runtime.spec.mode) Deno.chmodSync(spec.socket, spec.mode);
        if (spec.group !== undefined && spec.group !== runtime.spec.group) {
          Deno.chownSync(spec.socket, null, resolveGroup(spec.group, spec.socket));
        }
      } catch (error) {
        problems.push(errorMessage(error));
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
    this.#pools.closeAll("virtmux is shutting down");
  }

  /** Opens the socket of `spec`, atomically taking the place of `replacing` when given. */
  async #openListener(spec: ListenerSpec, replacing?: ListenerRuntime): Promise<void> {
    const socket = spec.front !== undefined
      ? await openFront(spec, this.#log)
      : await listenUnix(spec.socket, {
        mode: spec.mode,
        group: spec.group,
        peerCredentials: this.#readsPeers(spec),
        replacing: replacing?.socket as UnixSocketListener | undefined,
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

  /** Whether the socket of `spec` reads its clients' credentials. */
  #readsPeers(spec: ListenerSpec): boolean {
    return checksPeers(spec) || this.#options.peerCredentials === true;
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
    this.#pools.dropUnused();
    for (const [session, runtime] of this.#sessions) {
      const reason = session.expired(now);
      if (reason === undefined) continue;
      this.#log.warning("Closing client: timeout", { listener: runtime.spec.socket, reason });
      this.#options.counters?.timedOut(runtime.spec.upstream.name);
      session.close(reason);
    }
  }

  async #acceptLoop(runtime: ListenerRuntime): Promise<void> {
    try {
      for await (const accepted of runtime.socket.clients()) {
        const conn = accepted.channel;
        const spec = runtime.spec;
        const id = this.#nextClientId++;
        const log = this.#log.child(clientLogFields(spec, accepted, id));
        const identity = clientIdentity(spec, accepted, id);
        const observed = {
          name: spec.upstream.name,
          uri: spec.upstream.uri.text,
          shared: spec.upstream.share,
        };
        const refusal = admissionRefusal(spec, accepted, {
          total: this.#sessions.size,
          maxTotal: this.#maxClients,
          onListener: runtime.clients.open,
        });
        if (refusal !== undefined) {
          log.warning(refusal.log, { reason: refusal.message, ...refusal.fields });
          if (refusal.counted) this.#options.counters?.clientRefused(spec.socket, refusal.counted);
          this.#options.observers?.observe(identity, observed)?.closed(
            `refused: ${refusal.message}`,
          );
          void refuseClient(conn, refusal.message, { logger: log, code: refusal.code });
          continue;
        }
        log.info("Client connected");
        const observer = this.#options.observers?.observe(identity, observed);
        this.#options.counters?.clientAccepted(spec.socket);
        const session = openSession(conn, spec, {
          id,
          logger: log,
          certificateDn: accepted.certificateDn,
          observer,
          dial: (upstream, readonly) => this.#dial(upstream, readonly),
          pools: this.#pools,
        });
        this.#sessions.set(session, runtime);
        this.#clients.set(id, {
          session,
          info: {
            id,
            listener: spec.socket,
            upstream: spec.upstream.name,
            shared: spec.upstream.share,
            ...(accepted.peer && {
              uid: accepted.peer.uid,
              gid: accepted.peer.gid,
              pid: accepted.peer.pid,
            }),
            since: Date.now(),
          },
        });
        runtime.clients.open++;
        session.run().catch((error) => {
          log.error("Session failed", { error: String(error) });
        }).finally(() => {
          this.#sessions.delete(session);
          this.#clients.delete(id);
          this.#options.counters?.clientLeft(spec.socket, id);
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
    return dialUpstream(upstream, readonly, {
      logger: this.#log,
      counters: this.#options.counters,
      dialer: this.#options.dialUpstream,
    });
  }
}
