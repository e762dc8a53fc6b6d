/**
 * A client of a shared pool (`share = true`). The proxy holds the connection-level handshake
 * itself — AUTH_LIST, the keepalive and FD-passing feature probes, CONNECT_OPEN and CONNECT_CLOSE,
 * the close callback — and answers it from the pool; every other call goes through the pool with
 * only its serial rewritten. DESIGN.md §4 has the table this follows.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import type { Channel } from "../../transport/channel.ts";
import {
  CONNECT_NO_ALIASES,
  CONNECT_RO,
  ErrorCode,
  ErrorDomain,
  isReadOnlyOpen,
  KeepaliveProc,
  MessageType,
  Program,
} from "../../wire/constants.ts";
import { encodeErrorReply } from "../../wire/error_reply.ts";
import {
  frameProcedure,
  frameProgram,
  frameType,
  type Header,
  readHeader,
} from "../../wire/header.ts";
import { encodeOkReply, PING_FRAME, PONG_FRAME } from "../../wire/message.ts";
import { decodeOpenArgs } from "../../wire/open_args.ts";
import { CallGate } from "../call_gate.ts";
import { ClientReads } from "../client_reads.ts";
import { ClientKeepalive, type KeepaliveSettings } from "../client_keepalive.ts";
import type { SessionObserver } from "../observer.ts";
import { closeQuietly } from "../refuse_client.ts";
import { type ClientSession, SessionLifecycle, type SessionOptions } from "../session.ts";
import { UpstreamError } from "../upstream_error.ts";
import { ClientWrites } from "./client_writes.ts";
import type { Pool } from "./pool.ts";
import { type LocalAnswer, localAnswer } from "./local_answers.ts";
import type { PoolClient } from "./pool_client.ts";

/** Options for {@linkcode SharedSession}. */
export interface SharedSessionOptions extends SessionOptions {
  /** Id for logs. */
  id: number | string;
  /** The pool serving an open of `name` with `flags`. */
  poolFor: (name: string | null, flags: number) => Pool;
  /** Ping the client, as libvirtd would, once it asks about keepalive; undefined: never. */
  keepalive?: KeepaliveSettings;
}

/** Serves one client over a shared pool. {@linkcode run} never rejects. */
export class SharedSession implements ClientSession, PoolClient {
  /** Id for logs. */
  readonly id: number | string;
  readonly #client: Channel;
  readonly #writes: ClientWrites;
  readonly #options: SharedSessionOptions;
  readonly #log;
  readonly #life: SessionLifecycle;
  readonly #calls: CallGate;
  /** Reads the client; its frame limit is the pre-open one until CONNECT_OPEN succeeds. */
  readonly #reads: ClientReads;
  /** Watches the frames; undefined when nothing does. */
  readonly #observer: SessionObserver | undefined;
  #pool: Pool | undefined;
  #allAnswered: (() => void) | undefined;
  #draining = false;
  /** Set once the client asked about keepalive support, when the listener pings clients. */
  #keepalive: ClientKeepalive | undefined;

  /** Makes a session for `client`. */
  constructor(client: Channel, options: SharedSessionOptions) {
    this.id = options.id;
    this.#client = client;
    this.#writes = new ClientWrites(client, this, options);
    this.#options = options;
    this.#log = options.logger;
    this.#life = new SessionLifecycle(options.timeouts);
    this.#calls = new CallGate(options.maxInflight);
    this.#observer = options.observer;
    this.#reads = new ClientReads(client, this.#life.clock, options);
  }

  /** Calls forwarded and not yet answered. */
  get inflight(): number {
    return this.#calls.count;
  }

  /** Why the session closed. */
  get closeReason(): string {
    return this.#life.closeReason;
  }

  /** Resolves when the session has closed. */
  finished(): Promise<void> {
    return this.#life.finished();
  }

  /**
   * Why the client has outstayed one of its timeouts at `now`, or undefined; sends the
   * keepalive pings libvirtd would send, and says when they went unanswered.
   */
  expired(now: number): string | undefined {
    const timedOut = this.#reads.expired(now) ?? this.#life.expired(now, this.#calls.count);
    if (timedOut !== undefined || this.#keepalive === undefined) return timedOut;
    const keepalive = this.#keepalive.tick(now, this.#life.clock.lastByteAt);
    if (keepalive !== "ping") return keepalive;
    this.#send(PING_FRAME);
    return undefined;
  }

  /**
   * Writes a frame from the pool to the client: replies and events are queued (the pool's
   * connection moves on at once), stream data is written in place and waited for.
   */
  deliver(frame: Uint8Array): Promise<void> | undefined {
    if (this.#life.closed) return undefined;
    const watched = this.#observer?.toClient(frame);
    if (watched !== undefined) return watched.then(() => this.#deliver(frame));
    return this.#deliver(frame);
  }

  #deliver(frame: Uint8Array): Promise<void> | undefined {
    const type = frameType(frame);
    if (type === MessageType.REPLY) this.#replied();
    if (type === MessageType.STREAM || type === MessageType.STREAM_HOLE) {
      return this.#writes.write(frame);
    }
    return this.#writes.enqueue(frame);
  }

  /** The pool lost state this client depended on: close once its error replies are out. */
  lost(reason: string): void {
    this.#closeWhenFlushed(reason);
  }

  /** Refuses new calls and closes once outstanding ones are answered. */
  drain(): void {
    this.#draining = true;
    if (this.#calls.count === 0) this.#closeWhenFlushed("shutting down");
  }

  /** Answers every outstanding call with an error saying `message`, then closes. */
  async expire(message: string): Promise<void> {
    if (this.#life.closed) return;
    for (const header of this.#leavePool()) this.#error(header, message, ErrorCode.RPC);
    await this.#writes.flushed();
    this.close(message);
  }

  /** Closes the client and detaches it from its pool. */
  close(reason: string): void {
    if (!this.#life.end(reason)) return;
    this.#reads.close();
    this.#leavePool();
    this.#calls.wake();
    this.#allAnswered?.();
    closeQuietly(this.#client);
    this.#observer?.closed(reason);
    this.#log.debug("Session closed", { reason });
  }

  /** Reads and handles the client's frames until it leaves. */
  async run(): Promise<void> {
    const reads = this.#reads;
    try {
      while (!this.#life.closed) {
        const paused = this.#calls.belowLimit();
        if (paused !== undefined) {
          await paused;
          continue;
        }
        const turn = reads.turn(); // a large frame's budget or turn
        if (turn !== undefined) {
          await turn;
          if (this.#life.closed) break;
        }
        if (!reads.commit(await this.#client.read(reads.space(false)))) {
          this.close("client closed the connection");
          break;
        }
        const handled = reads.frames((frame) => this.#handle(frame), {
          writer: this.#writes.writer,
          release: () => this.#leavePool(),
        });
        const invalid = handled instanceof Promise ? await handled : handled;
        if (invalid !== undefined) this.close(invalid);
        // Every frame handed out was passed on (its handling awaited): a large one's budget is free.
        reads.settle();
        if (this.#draining && this.#calls.count === 0) this.#closeWhenFlushed("shutting down");
      }
    } catch (error) {
      if (!this.#life.closed) {
        const message = errorMessage(error);
        this.#log.info("Client connection failed", { error: message });
        this.close(`client failed: ${message}`);
      }
    }
    reads.dispose(); // the client is gone: free its buffer now, not at the next GC
    await this.#life.finished();
  }

  /** Handles one client frame; a returned promise must settle before the buffer is reused. */
  #handle(frame: Uint8Array): Promise<void> | undefined {
    const program = frameProgram(frame);
    const type = frameType(frame);
    if (program === Program.KEEPALIVE) {
      // Keepalive is hop by hop: the proxy answers the client's pings itself.
      return frameProcedure(frame) === KeepaliveProc.PING ? this.#send(PONG_FRAME) : undefined;
    }
    if (type === MessageType.STREAM || type === MessageType.STREAM_HOLE) {
      return this.#pool?.streamFromClient(this, frame);
    }
    if (type === MessageType.CALL_WITH_FDS) {
      return this.#error(
        readHeader(frame),
        "Passing file descriptors is not supported through virtmux",
        ErrorCode.NO_SUPPORT,
      );
    }
    if (type !== MessageType.CALL) return undefined;
    if (this.#draining) {
      return this.#error(readHeader(frame), "virtmux is shutting down", ErrorCode.RPC);
    }
    const denied = this.#options.policy?.refusal(program, frameProcedure(frame));
    if (denied !== undefined) {
      return this.#error(readHeader(frame), denied, ErrorCode.OPERATION_DENIED);
    }
    if (program === Program.REMOTE) {
      const local = localAnswer(frame, this.#pool !== undefined);
      if (local !== undefined) return this.#answer(frame, local);
    }
    const pool = this.#pool;
    if (pool === undefined) {
      return this.#error(
        readHeader(frame),
        "The connection is not open: CONNECT_OPEN must come first",
        ErrorCode.RPC,
      );
    }
    this.#calls.add();
    let submitted: Promise<void> | undefined;
    try {
      submitted = pool.submit(this, frame);
    } catch (error) {
      return this.#callFailed(frame, error);
    }
    return submitted?.catch((error) => this.#callFailed(frame, error));
  }

  /** Acts on what {@linkcode localAnswer} decided for a connection-level call. */
  #answer(frame: Uint8Array, answer: NonNullable<LocalAnswer>): Promise<void> | undefined {
    switch (answer.kind) {
      case "reply": {
        const settings = this.#options.keepalive;
        if (answer.keepalive && settings !== undefined) {
          this.#keepalive ??= new ClientKeepalive(settings);
        }
        return this.#send(encodeOkReply(frame, answer.body));
      }
      case "error":
        return this.#error(readHeader(frame), answer.message, answer.code);
      case "open":
        this.#life.clock.opened = true;
        return this.#open(frame);
      case "close":
        return this.#connectClose(frame);
    }
  }

  async #open(frame: Uint8Array): Promise<void> {
    if (this.#pool !== undefined) {
      return this.#error(readHeader(frame), "connection already open", ErrorCode.INTERNAL_ERROR);
    }
    let name: string | null;
    let flags: number;
    try {
      ({ name, flags } = decodeOpenArgs(frame));
    } catch (error) {
      return this.#error(readHeader(frame), String(error), ErrorCode.RPC);
    }
    // Only the flags that change what the daemon opens form the pool: read-only and no-aliases.
    flags &= CONNECT_RO | CONNECT_NO_ALIASES;
    if (this.#options.readonly) flags |= CONNECT_RO;
    let pool: Pool | undefined;
    try {
      pool = this.#options.poolFor(name, flags);
      pool.reserve(); // not to be closed for room (max_pools) while this client waits for it
      await pool.ready();
    } catch (error) {
      pool?.unreserve();
      return this.#callError(readHeader(frame), error);
    }
    pool.unreserve();
    if (this.#life.closed) return;
    pool.attach(this);
    this.#pool = pool;
    this.#reads.opened(); // the pre-open limit is lifted
    this.#log.debug("Client opened", {
      name: name ?? "(default)",
      readonly: isReadOnlyOpen(flags),
    });
    this.#send(encodeOkReply(frame));
  }

  /** Answers CONNECT_CLOSE once every call before it is answered, then leaves the pool. */
  async #connectClose(frame: Uint8Array): Promise<void> {
    if (this.#calls.count > 0) {
      await new Promise<void>((resolve) => this.#allAnswered = resolve);
    }
    this.#leavePool();
    this.#send(encodeOkReply(frame));
  }

  /** Leaves the pool; returns the headers of the calls still outstanding there. */
  #leavePool(): Header[] {
    const pending = this.#pool?.detach(this) ?? [];
    this.#pool = undefined;
    return pending;
  }

  /** Closes once everything queued for the client has been written. */
  #closeWhenFlushed(reason: string): void {
    void this.#writes.flushed().then(() => this.close(reason));
  }

  /** Queues a reply the proxy made itself. */
  #send(reply: Uint8Array): undefined {
    void this.#observer?.toClient(reply);
    return this.#writes.enqueue(reply, true);
  }

  #replied(): void {
    this.#calls.done();
    if (this.#calls.count === 0 && this.#allAnswered !== undefined) {
      const resolve = this.#allAnswered;
      this.#allAnswered = undefined;
      resolve();
    }
    if (this.#draining && this.#calls.count === 0) this.#closeWhenFlushed("shutting down");
  }

  /** A forwarded call could not be sent: it counts as answered, with the error. */
  #callFailed(frame: Uint8Array, error: unknown): undefined {
    this.#replied();
    return this.#callError(readHeader(frame), error);
  }

  /** Answers the call `header` with `error`, keeping a daemon's own code and domain. */
  #callError(header: Header, error: unknown): undefined {
    const failure = UpstreamError.from(error);
    return this.#error(header, failure.message, failure.code, failure.domain);
  }

  #error(
    header: Header,
    message: string,
    code: number,
    domain: number = ErrorDomain.RPC,
  ): undefined {
    return this.#send(encodeErrorReply(header, message, { code, domain }));
  }
}
