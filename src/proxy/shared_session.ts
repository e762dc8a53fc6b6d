/**
 * A client of a shared pool (`share = true`). The proxy holds the connection-level handshake
 * itself — AUTH_LIST, the keepalive and FD-passing feature probes, CONNECT_OPEN and CONNECT_CLOSE,
 * the close callback — and answers it from the pool; every other call goes through the pool with
 * only its serial rewritten. DESIGN.md §4 has the table this follows.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import type { Channel } from "../transport/channel.ts";
import {
  CONNECT_NO_ALIASES,
  CONNECT_RO,
  ErrorCode,
  ErrorDomain,
  KeepaliveProc,
  MessageType,
  Program,
  RemoteProc,
} from "../wire/constants.ts";
import { encodeErrorReply } from "../wire/error_reply.ts";
import { DEFAULT_PROGRAMS, FrameError } from "../wire/frame_check.ts";
import { FrameReader } from "../wire/frame_reader.ts";
import { frameProcedure, frameProgram, frameType, readHeader } from "../wire/header.ts";
import {
  decodeOpenArgs,
  encodeOkReply,
  encodeWords,
  PONG_FRAME,
  readFirstInt,
} from "../wire/message.ts";
import { ClientClock, type ClientTimeouts } from "./client_clock.ts";
import { FrameWriter } from "./frame_writer.ts";
import { lingerClose } from "./linger_close.ts";
import type { Policy } from "./policy.ts";
import type { Pool, PoolClient } from "./pool.ts";
import { UpstreamError } from "./upstream_connection.ts";

/** VIR_DRV_FEATURE_PROGRAM_KEEPALIVE. */
const FEATURE_KEEPALIVE = 10;
/** VIR_DRV_FEATURE_FD_PASSING. */
const FEATURE_FD_PASSING = 8;
/** VIR_ERR_INTERNAL_ERROR, what libvirtd answers a second CONNECT_OPEN with. */
const ERR_INTERNAL_ERROR = 1;
/**
 * Replies and events that may wait for a client that is slow to read; past this it is closed,
 * so that it never holds up the upstream connection it shares. One larger frame alone is fine.
 */
const MAX_QUEUED_BYTES = 8 << 20;

/** Options for {@linkcode SharedSession}. */
export interface SharedSessionOptions {
  /** Id for logs. */
  id: number | string;
  /** Logger carrying the session's context. */
  logger: Logger;
  /** Largest frame accepted from the client. */
  maxFrameBytes: number;
  /** Outstanding calls at which the proxy stops reading the client. */
  maxInflight: number;
  /** Every open is read-only. */
  readonly: boolean;
  /** Programs the client may use. */
  programs?: ReadonlySet<number>;
  /** Procedures the client may call. */
  policy?: Policy;
  /** Client timeouts, checked by {@linkcode SharedSession.expired}. */
  timeouts?: ClientTimeouts;
  /** The pool serving an open of `name` with `flags`. */
  poolFor: (name: string | null, flags: number) => Pool;
}

/** Serves one client over a shared pool. {@linkcode run} never rejects. */
export class SharedSession implements PoolClient {
  /** Id for logs. */
  readonly id: number | string;
  readonly #client: Channel;
  readonly #writer: FrameWriter;
  readonly #options: SharedSessionOptions;
  readonly #log: Logger;
  #pool: Pool | undefined;
  readonly #clock = new ClientClock();
  #inflight = 0;
  #wake: (() => void) | undefined;
  #allAnswered: (() => void) | undefined;
  #closed = false;
  #draining = false;
  #closeReason = "";
  #done: () => void = () => {};
  readonly #finished: Promise<void>;

  /** Makes a session for `client`. */
  constructor(client: Channel, options: SharedSessionOptions) {
    this.id = options.id;
    this.#client = client;
    this.#writer = new FrameWriter(client, {
      maxQueuedBytes: MAX_QUEUED_BYTES,
      onError: (error) => this.close(`client failed: ${String(error)}`),
    });
    this.#options = options;
    this.#log = options.logger;
    this.#finished = new Promise((resolve) => this.#done = resolve);
  }

  /** Calls forwarded and not yet answered. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Why the session closed. */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** Resolves when the session has closed. */
  finished(): Promise<void> {
    return this.#finished;
  }

  /** Why the client has outstayed one of its timeouts at `now`, or undefined. */
  expired(now: number): string | undefined {
    const timeouts = this.#options.timeouts;
    return timeouts === undefined ? undefined : this.#clock.expired(now, timeouts, this.#inflight);
  }

  /**
   * Writes a frame from the pool to the client: replies and events are queued (the pool's
   * connection moves on at once), stream data is written in place and waited for.
   */
  deliver(frame: Uint8Array): Promise<void> | undefined {
    if (this.#closed) return undefined;
    const type = frameType(frame);
    if (type === MessageType.REPLY) this.#replied();
    if (type === MessageType.STREAM || type === MessageType.STREAM_HOLE) {
      return this.#writer.write(frame).catch(() => {}); // failures close via onError
    }
    if (!this.#writer.enqueue(frame)) {
      this.#log.warning("Closing client: it does not read its replies", {
        queued: this.#writer.queuedBytes,
        limit: MAX_QUEUED_BYTES,
      });
      this.close(`did not read its replies (${this.#writer.queuedBytes} bytes waiting)`);
    }
    return undefined;
  }

  /** The pool lost state this client depended on: close once its error replies are out. */
  lost(reason: string): void {
    this.#closeWhenFlushed(reason);
  }

  /** Closes once everything queued for the client has been written. */
  #closeWhenFlushed(reason: string): void {
    void this.#writer.flushed().then(() => this.close(reason));
  }

  /** Refuses new calls and closes once outstanding ones are answered. */
  drain(): void {
    this.#draining = true;
    if (this.#inflight === 0) this.#closeWhenFlushed("shutting down");
  }

  /** Answers every outstanding call with an error saying `message`, then closes. */
  async expire(message: string): Promise<void> {
    if (this.#closed) return;
    const pending = this.#pool?.detach(this) ?? [];
    this.#pool = undefined;
    for (const header of pending) this.#error(header, message, ErrorCode.RPC);
    await this.#writer.flushed();
    this.close(message);
  }

  /** Closes the client and detaches it from its pool. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#pool?.detach(this);
    this.#wake?.();
    this.#allAnswered?.();
    try {
      this.#client.close();
    } catch { /* closed */ }
    this.#log.debug("Session closed", { reason });
    this.#done();
  }

  /** Reads and handles the client's frames until it leaves. */
  async run(): Promise<void> {
    const reader = new FrameReader({
      maxFrameBytes: this.#options.maxFrameBytes,
      programs: this.#options.programs ?? DEFAULT_PROGRAMS,
      direction: "fromClient",
    });
    try {
      while (!this.#closed) {
        if (this.#inflight >= this.#options.maxInflight) {
          await new Promise<void>((resolve) => this.#wake = resolve);
          this.#wake = undefined;
          continue;
        }
        const n = await this.#client.read(reader.space());
        if (n === null) {
          if (reader.buffered > 0) {
            this.#log.warning("Client closed the connection in the middle of a frame", {
              bytes: reader.buffered,
            });
          }
          this.close("client closed the connection");
          break;
        }
        reader.commit(n);
        this.#clock.read();
        let frame: Uint8Array | null;
        try {
          while ((frame = reader.next()) !== null) {
            const handled = this.#handle(frame);
            if (handled !== undefined) await handled;
          }
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
          this.#log.warning("Closing client after an invalid frame", {
            error: error.message,
            length: error.length,
            limit: this.#options.maxFrameBytes,
          });
          if (error.header !== undefined) {
            this.#error(error.header, `virtmux refused a frame: ${error.message}`, error.code);
            await this.#writer.flushed();
            // Let the client finish writing the rest of its frame, or it never reads the answer.
            this.#pool?.detach(this);
            this.#pool = undefined;
            await lingerClose(this.#client);
          }
          this.close(`invalid frame: ${error.message}`);
        }
        this.#clock.partial = reader.buffered > 0;
        if (this.#draining && this.#inflight === 0) this.#closeWhenFlushed("shutting down");
      }
    } catch (error) {
      if (!this.#closed) {
        const message = error instanceof Error ? error.message : String(error);
        this.#log.info("Client connection failed", { error: message });
        this.close(`client failed: ${message}`);
      }
    }
    await this.#finished;
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
      switch (frameProcedure(frame)) {
        case RemoteProc.AUTH_LIST:
          // The proxy authenticated upstream itself: this hop needs none.
          return this.#send(encodeOkReply(frame, encodeWords(1, 0)));
        case RemoteProc.CONNECT_SUPPORTS_FEATURE: {
          const feature = readFirstInt(frame);
          if (feature === FEATURE_KEEPALIVE) {
            return this.#send(encodeOkReply(frame, encodeWords(1)));
          }
          if (feature === FEATURE_FD_PASSING || this.#pool === undefined) {
            return this.#send(encodeOkReply(frame, encodeWords(0)));
          }
          break;
        }
        case RemoteProc.CONNECT_OPEN:
          this.#clock.opened = true;
          return this.#open(frame);
        case RemoteProc.CONNECT_CLOSE:
          return this.#connectClose(frame);
        case RemoteProc.CONNECT_REGISTER_CLOSE_CALLBACK:
        case RemoteProc.CONNECT_UNREGISTER_CLOSE_CALLBACK:
          // Answered here: a lost upstream closes this client's socket, which fires it.
          return this.#send(encodeOkReply(frame));
        case RemoteProc.CONNECT_SET_IDENTITY:
          return this.#error(
            readHeader(frame),
            "Setting the identity of a shared upstream connection is not allowed",
            ErrorCode.OPERATION_DENIED,
          );
      }
    }
    const pool = this.#pool;
    if (pool === undefined) {
      return this.#error(
        readHeader(frame),
        "The connection is not open: CONNECT_OPEN must come first",
        ErrorCode.RPC,
      );
    }
    this.#inflight++;
    return pool.submit(this, frame).catch((error) => {
      this.#replied();
      const upstream = error instanceof UpstreamError ? error : undefined;
      return this.#error(
        readHeader(frame),
        error instanceof Error ? error.message : String(error),
        upstream?.code ?? ErrorCode.RPC,
        upstream?.domain,
      );
    });
  }

  async #open(frame: Uint8Array): Promise<void> {
    if (this.#pool !== undefined) {
      return this.#error(readHeader(frame), "connection already open", ERR_INTERNAL_ERROR);
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
      const upstream = error instanceof UpstreamError ? error : undefined;
      return this.#error(
        readHeader(frame),
        error instanceof Error ? error.message : String(error),
        upstream?.code ?? ErrorCode.RPC,
        upstream?.domain,
      );
    }
    pool.unreserve();
    if (this.#closed) return;
    pool.attach(this);
    this.#pool = pool;
    this.#log.debug("Client opened", { name: name ?? "(default)", readonly: (flags & 1) === 1 });
    this.#send(encodeOkReply(frame));
  }

  /** Answers CONNECT_CLOSE once every call before it is answered, then leaves the pool. */
  async #connectClose(frame: Uint8Array): Promise<void> {
    if (this.#inflight > 0) await new Promise<void>((resolve) => this.#allAnswered = resolve);
    this.#pool?.detach(this);
    this.#pool = undefined;
    this.#send(encodeOkReply(frame));
  }

  /** Queues a reply the proxy made itself. */
  #send(reply: Uint8Array): undefined {
    if (!this.#writer.enqueue(reply, true)) {
      this.close(`did not read its replies (${this.#writer.queuedBytes} bytes waiting)`);
    }
    return undefined;
  }

  #replied(): void {
    this.#inflight--;
    if (this.#inflight === 0 && this.#allAnswered !== undefined) {
      const resolve = this.#allAnswered;
      this.#allAnswered = undefined;
      resolve();
    }
    if (this.#wake !== undefined && this.#inflight < this.#options.maxInflight) this.#wake();
    if (this.#draining && this.#inflight === 0) this.#closeWhenFlushed("shutting down");
  }

  #error(
    header: ReturnType<typeof readHeader>,
    message: string,
    code: number,
    domain: number = ErrorDomain.RPC,
  ): undefined {
    return this.#send(encodeErrorReply(header, message, { code, domain }));
  }
}
