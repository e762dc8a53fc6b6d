/**
 * A scripted fake libvirt daemon for unit tests of the shared pool: it listens on a unix socket in
 * a temp dir (so a pool's `dial` can open several connections), performs the server side of the
 * handshake, answers keepalive pings, and answers every other CALL after a seeded random delay
 * with a body that echoes the call's, so a test can tell whose reply a client received.
 *
 * What it knows of the protocol (facts from DESIGN.md §5):
 * - AUTH_LIST (66) → `{count, types...}` (default `{1, 0}`: auth none); AUTH_POLKIT (70) → OK;
 * - SUPPORTS_FEATURE (60) → 1 for 10 (keepalive), 14 and 15, else 0;
 * - CONNECT_OPEN (1) → OK, or a `remote_error` when configured;
 * - CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY (316) → `{int callbackID}`, unique daemon-wide;
 *   its DEREGISTER_ANY (317, `{int callbackID}`) removes it (an error for an unknown id);
 * - DOMAIN_SCREENSHOT (211), a readstream: REPLY OK (echoing the body), N STREAM CONTINUE frames
 *   (the call's body then the chunk index), an empty CONTINUE (EOF), then on the client's
 *   STREAM OK a STREAM OK (the finish handshake); a client STREAM ERROR is an abort;
 * - events: {@linkcode FakeDaemon.emitEvent} sends DOMAIN_EVENT_CALLBACK_LIFECYCLE (318), a
 *   MESSAGE with serial 1, body `callbackID` + the registration call's body + extra bytes.
 *
 * @module
 */

import { encodeErrorReply } from "../../src/wire/error_reply.ts";
import { KeepaliveProc, MessageStatus, MessageType, Program } from "../../src/wire/constants.ts";
import { readHeader, readU32 } from "../../src/wire/header.ts";
import { concat, frame, FrameSource, words } from "./frames.ts";

/** A small seeded PRNG (mulberry32): `next()` in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Procedures the fake treats specially. */
export const FakeProc = {
  CONNECT_OPEN: 1,
  CONNECT_CLOSE: 2,
  CONNECT_GET_HOSTNAME: 59,
  SUPPORTS_FEATURE: 60,
  AUTH_LIST: 66,
  AUTH_POLKIT: 70,
  SCREENSHOT: 211,
  CALLBACK_REGISTER_ANY: 316,
  CALLBACK_DEREGISTER_ANY: 317,
  EVENT_CALLBACK_LIFECYCLE: 318,
} as const;

/** An error the fake answers CONNECT_OPEN with. */
export interface FakeOpenError {
  code: number;
  domain: number;
  message: string;
}

/** Options for {@linkcode FakeDaemon.start}. */
export interface FakeDaemonOptions {
  /** Seed of the reply delays. */
  seed?: number;
  /** Reply delay of ordinary calls, a uniform range in ms. Default [0, 0]. */
  delayMs?: [number, number];
  /** The auth types AUTH_LIST reports. Default [0] (none). */
  authTypes?: number[];
  /** The answer to SUPPORTS_FEATURE(10). Default true. */
  keepalive?: boolean;
  /** Refuse CONNECT_OPEN with this error. */
  openError?: FakeOpenError;
  /** STREAM data frames a screenshot sends before EOF. Default 2. */
  streamChunks?: number;
  /** Answer keepalive pings. Default true. */
  answerPings?: boolean;
  /** Answer nothing at all (a hung daemon). */
  silent?: boolean;
  /** The answer to CONNECT_GET_HOSTNAME. Default "fake". */
  hostname?: string;
  /** Close every connection as soon as it is accepted (a daemon that is away). */
  down?: boolean;
}

/** A CALL a connection received, in arrival order. */
export interface ReceivedCall {
  /** Arrival order across the whole daemon. */
  seq: number;
  program: number;
  procedure: number;
  serial: number;
  /** The whole frame, copied. */
  frame: Uint8Array;
}

interface Registration {
  connection: FakeConnection;
  program: number;
  body: Uint8Array;
  active: boolean;
}

/** The daemon side of one client connection. */
export class FakeConnection {
  /** 1-based, in accept order. */
  readonly id: number;
  /** Every frame received, copied, in order. */
  readonly frames: Uint8Array[] = [];
  /** Every CALL received, in order. */
  readonly calls: ReceivedCall[] = [];
  /** Keepalive PINGs and PONGs received. */
  pings = 0;
  pongs = 0;
  /** Calls received and not yet answered. */
  outstanding = 0;
  /** The most calls outstanding at once. */
  maxOutstanding = 0;
  /** The calls outstanding when there were most. */
  atMaxOutstanding: ReceivedCall[] = [];
  /** Calls not yet answered, by serial. */
  readonly unanswered = new Map<number, ReceivedCall>();
  /** Serials a CALL reused while an earlier CALL with it was unanswered. */
  readonly duplicateSerials: number[] = [];
  /** The CONNECT_OPEN body, once opened. */
  openBody: Uint8Array | undefined;
  /** Stream serials whose client sent STREAM OK / STREAM ERROR. */
  readonly streamFinishes: number[] = [];
  readonly streamAborts: number[] = [];
  /** Callback ids deregistered on this connection, in order. */
  readonly deregistered: number[] = [];
  /** True once either side closed. */
  closed = false;
  readonly #conn: Deno.Conn;
  readonly #daemon: FakeDaemon;
  #writing: Promise<void> = Promise.resolve();
  #closedResolve!: () => void;
  /** Resolves when the connection has closed. */
  readonly done: Promise<void>;

  constructor(id: number, conn: Deno.Conn, daemon: FakeDaemon) {
    this.id = id;
    this.#conn = conn;
    this.#daemon = daemon;
    this.done = new Promise((resolve) => this.#closedResolve = resolve);
  }

  /** Serials of the CALLs received, in order. */
  get serials(): number[] {
    return this.calls.map((c) => c.serial);
  }

  /** CALLs received after the handshake (neither AUTH_LIST, SUPPORTS_FEATURE nor CONNECT_OPEN). */
  get userCalls(): ReceivedCall[] {
    return this.calls.filter((c) =>
      c.program !== Program.REMOTE ||
      (c.procedure !== FakeProc.AUTH_LIST && c.procedure !== FakeProc.SUPPORTS_FEATURE &&
        c.procedure !== FakeProc.CONNECT_OPEN && c.procedure !== FakeProc.AUTH_POLKIT &&
        c.procedure !== FakeProc.CONNECT_GET_HOSTNAME)
    );
  }

  /** Writes a frame after every earlier one; errors (a closed socket) are ignored. */
  send(bytes: Uint8Array): Promise<void> {
    this.#writing = this.#writing.then(async () => {
      if (this.closed) return;
      try {
        let written = 0;
        while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
      } catch {
        this.close();
      }
    });
    return this.#writing;
  }

  /** Closes the connection from the daemon's side. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.#conn.close();
    } catch { /* closed */ }
    this.#closedResolve();
  }

  /** Reads and answers frames until the connection ends. */
  async serve(): Promise<void> {
    const source = new FrameSource(this.#conn);
    while (!this.closed) {
      const bytes = await source.next();
      if (bytes === null) break;
      this.frames.push(bytes);
      this.#daemon.handle(this, bytes);
    }
    this.close();
  }

  /** Counts a call answered. */
  answered(serial: number): void {
    this.unanswered.delete(serial);
    this.outstanding--;
  }

  /** Counts a call received. */
  received(call: ReceivedCall): void {
    this.calls.push(call);
    if (this.unanswered.has(call.serial)) this.duplicateSerials.push(call.serial);
    this.unanswered.set(call.serial, call);
    this.outstanding++;
    if (this.outstanding > this.maxOutstanding) {
      this.maxOutstanding = this.outstanding;
      this.atMaxOutstanding = [...this.unanswered.values()];
    }
  }
}

/** The fake daemon. Make with {@linkcode FakeDaemon.start}; end with {@linkcode FakeDaemon.stop}. */
export class FakeDaemon {
  /** The socket path. */
  readonly path: string;
  /** Every connection accepted, in order. */
  readonly connections: FakeConnection[] = [];
  /** Options; tests may change them between calls. */
  options: FakeDaemonOptions;
  /** Successful CONNECT_OPENs. */
  opens = 0;
  readonly #dir: string;
  readonly #listener: Deno.Listener;
  readonly #random: () => number;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #registrations = new Map<number, Registration>();
  readonly #streams = new Map<FakeConnection, Set<number>>();
  readonly #serving: Promise<void>[] = [];
  #held: (() => void)[] | undefined;
  #nextCallbackId = 1;
  #seq = 0;
  #accepting: Promise<void>;
  #stopped = false;

  private constructor(dir: string, options: FakeDaemonOptions) {
    this.#dir = dir;
    this.path = `${dir}/libvirt-sock`;
    this.options = options;
    this.#random = mulberry32(options.seed ?? 1);
    this.#listener = Deno.listen({ transport: "unix", path: this.path });
    this.#accepting = this.#accept();
  }

  /** Starts a daemon listening in a fresh temp dir. */
  static async start(options: FakeDaemonOptions = {}): Promise<FakeDaemon> {
    const dir = await Deno.makeTempDir({ prefix: "virtmux-fake-" });
    return new FakeDaemon(dir, options);
  }

  /** Opens a client connection to the daemon: a pool's `dial`. */
  dial(): Promise<Deno.UnixConn> {
    return Deno.connect({ transport: "unix", path: this.path });
  }

  /** Connections still open. */
  get open(): FakeConnection[] {
    return this.connections.filter((c) => !c.closed);
  }

  /** Callback ids registered and not deregistered. */
  get activeCallbacks(): number[] {
    return [...this.#registrations].filter(([, r]) => r.active).map(([id]) => id);
  }

  /** The body of the registration call that got `callbackId`, or undefined. */
  registrationBody(callbackId: number): Uint8Array | undefined {
    return this.#registrations.get(callbackId)?.body;
  }

  /** Every CALL received on any connection, in arrival order. */
  get allCalls(): ReceivedCall[] {
    return this.connections.flatMap((c) => c.calls).sort((a, b) => a.seq - b.seq);
  }

  /** Every CALL after the handshakes, in arrival order. */
  get userCalls(): ReceivedCall[] {
    return this.connections.flatMap((c) => c.userCalls).sort((a, b) => a.seq - b.seq);
  }

  /** From now on, replies to ordinary calls are held until {@linkcode releaseOne}/{@linkcode release}. */
  hold(): void {
    this.#held ??= [];
  }

  /** Replies held now. */
  get heldCount(): number {
    return this.#held?.length ?? 0;
  }

  /** Sends the oldest held reply; false when none is held. */
  releaseOne(): boolean {
    const next = this.#held?.shift();
    next?.();
    return next !== undefined;
  }

  /** Sends every held reply and stops holding. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const send of held) send();
  }

  /**
   * Sends an event for `callbackId` on the connection that registered it, even when it was
   * deregistered since (an event racing the deregistration). Resolves true once written, false
   * when the id was never registered or its connection is closed.
   */
  async emitEvent(callbackId: number, extra: Uint8Array = new Uint8Array(0)): Promise<boolean> {
    const registration = this.#registrations.get(callbackId);
    if (registration === undefined || registration.connection.closed) return false;
    await registration.connection.send(frame({
      program: registration.program,
      procedure: FakeProc.EVENT_CALLBACK_LIFECYCLE,
      type: MessageType.MESSAGE,
      serial: 1,
      body: concat(words(callbackId), registration.body, extra),
    }));
    return true;
  }

  /** Sends a keepalive PING on every open connection. */
  async ping(): Promise<void> {
    await Promise.all(this.open.map((c) =>
      c.send(frame({
        program: Program.KEEPALIVE,
        procedure: KeepaliveProc.PING,
        type: MessageType.MESSAGE,
      }))
    ));
  }

  /** Closes every connection now, mid-call or not, as a crashing daemon would; keeps listening. */
  kill(): void {
    for (const connection of this.connections) connection.close();
  }

  /**
   * Kills every connection and forgets every registration, as a restarted daemon would; its
   * callback IDs start again at `firstCallbackId`.
   */
  restart(firstCallbackId = 1): void {
    this.kill();
    this.#registrations.clear();
    this.#nextCallbackId = firstCallbackId;
  }

  /** Closes everything and removes the temp dir. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#held = undefined;
    try {
      this.#listener.close();
    } catch { /* closed */ }
    this.kill();
    await this.#accepting;
    await Promise.all(this.#serving);
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  async #accept(): Promise<void> {
    while (!this.#stopped) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return;
      }
      if (this.options.down) {
        conn.close();
        continue;
      }
      const connection = new FakeConnection(this.connections.length + 1, conn, this);
      this.connections.push(connection);
      this.#serving.push(connection.serve().catch(() => connection.close()));
    }
  }

  /** Handles one frame from `connection` (called by the connection's read loop). */
  handle(connection: FakeConnection, bytes: Uint8Array): void {
    if (this.options.silent) return;
    const { length: _length, ...header } = readHeader(bytes);
    const body = bytes.subarray(28);
    if (header.program === Program.KEEPALIVE) {
      if (header.procedure === KeepaliveProc.PING) {
        connection.pings++;
        if (this.options.answerPings ?? true) {
          void connection.send(frame({
            program: Program.KEEPALIVE,
            procedure: KeepaliveProc.PONG,
            type: MessageType.MESSAGE,
          }));
        }
      } else {
        connection.pongs++;
      }
      return;
    }
    if (header.type === MessageType.STREAM) {
      const open = this.#streams.get(connection);
      if (!open?.has(header.serial)) return;
      open.delete(header.serial);
      if (header.status === MessageStatus.OK) {
        connection.streamFinishes.push(header.serial);
        void connection.send(frame({ ...header, type: MessageType.STREAM, body: undefined }));
      } else {
        connection.streamAborts.push(header.serial);
      }
      return;
    }
    if (header.type !== MessageType.CALL) return;
    connection.received({
      seq: this.#seq++,
      program: header.program,
      procedure: header.procedure,
      serial: header.serial,
      frame: bytes,
    });
    const reply = (replyBody?: Uint8Array) =>
      frame({ ...header, type: MessageType.REPLY, status: MessageStatus.OK, body: replyBody });
    const answer = (bytes: Uint8Array) => {
      connection.answered(header.serial);
      return connection.send(bytes);
    };
    if (header.program === Program.REMOTE) {
      switch (header.procedure) {
        case FakeProc.AUTH_LIST: {
          const types = this.options.authTypes ?? [0];
          void answer(reply(words(types.length, ...types)));
          return;
        }
        case FakeProc.AUTH_POLKIT:
          void answer(reply(words(1)));
          return;
        case FakeProc.SUPPORTS_FEATURE: {
          const feature = readU32(bytes, 28);
          const yes = feature === 10
            ? (this.options.keepalive ?? true)
            : [14, 15].includes(feature);
          void answer(reply(words(yes ? 1 : 0)));
          return;
        }
        case FakeProc.CONNECT_OPEN: {
          const refusal = this.options.openError;
          if (refusal !== undefined) {
            void answer(encodeErrorReply({ ...header, length: 0 }, refusal.message, refusal));
            return;
          }
          connection.openBody = body.slice();
          this.opens++;
          void answer(reply());
          return;
        }
        case FakeProc.CONNECT_CLOSE:
          void answer(reply());
          return;
        case FakeProc.CONNECT_GET_HOSTNAME: {
          const name = new TextEncoder().encode(this.options.hostname ?? "fake");
          void answer(reply(concat(words(name.length), name, new Uint8Array(-name.length & 3))));
          return;
        }
      }
    }
    this.#later(() => {
      if (connection.closed) return;
      if (header.program === Program.REMOTE) {
        switch (header.procedure) {
          case FakeProc.CALLBACK_REGISTER_ANY: {
            const id = this.#nextCallbackId++;
            this.#registrations.set(id, {
              connection,
              program: header.program,
              body: body.slice(),
              active: true,
            });
            void answer(reply(words(id)));
            return;
          }
          case FakeProc.CALLBACK_DEREGISTER_ANY: {
            const id = readU32(bytes, 28) | 0;
            const registration = this.#registrations.get(id);
            if (registration?.active && registration.connection === connection) {
              registration.active = false;
              connection.deregistered.push(id);
              void answer(reply());
            } else {
              void answer(
                encodeErrorReply({ ...header, length: 0 }, `callback ID ${id} not registered`, {
                  code: 8,
                  domain: 10,
                }),
              );
            }
            return;
          }
          case FakeProc.SCREENSHOT: {
            let open = this.#streams.get(connection);
            if (open === undefined) this.#streams.set(connection, open = new Set());
            open.add(header.serial);
            const data = (i: number) =>
              frame({
                ...header,
                type: MessageType.STREAM,
                status: MessageStatus.CONTINUE,
                body: i < 0 ? undefined : concat(body, words(i)),
              });
            void answer(reply(body));
            const chunks = this.options.streamChunks ?? 2;
            for (let i = 0; i < chunks; i++) void connection.send(data(i));
            void connection.send(data(-1));
            return;
          }
        }
      }
      void answer(reply(body));
    });
  }

  /** Runs `send` after the configured delay, or holds it. */
  #later(send: () => void): void {
    if (this.#held !== undefined) {
      this.#held.push(send);
      return;
    }
    const [low, high] = this.options.delayMs ?? [0, 0];
    const ms = low + Math.floor(this.#random() * (high - low + 1));
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      send();
    }, ms);
    this.#timers.add(timer);
  }
}
