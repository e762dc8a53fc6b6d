/**
 * A client with its own upstream connection (`share = false`, and stdio mode): frames pass through
 * unchanged both ways after their headers are checked. The proxy keeps only the serials of
 * outstanding calls, so that each can be answered with a libvirt error if the upstream goes away.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { type Channel, withDiagnostics } from "../transport/channel.ts";
import {
  CONNECT_RO,
  ErrorCode,
  ErrorDomain,
  MessageType,
  Program,
  RemoteProc,
} from "../wire/constants.ts";
import { encodeErrorReply } from "../wire/error_reply.ts";
import { DEFAULT_PROGRAMS, FrameError } from "../wire/frame_check.ts";
import { FrameReader } from "../wire/frame_reader.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  frameType,
  type Header,
  readHeader,
  readU32,
  writeU32,
} from "../wire/header.ts";
import { ClientClock, type ClientTimeouts } from "./client_clock.ts";
import { InflightCalls } from "./inflight.ts";
import { lingerClose } from "./linger_close.ts";
import { OrderedWriter } from "./ordered_writer.ts";
import type { Policy } from "./policy.ts";

/** Options for {@linkcode DedicatedSession}. */
export interface DedicatedSessionOptions {
  /** Logger carrying the session's context (listener, client, upstream). */
  logger: Logger;
  /** The upstream's name and URI, as error messages show them: `"hv1" (qemu+tls://...)`. */
  upstreamLabel: string;
  /** Largest frame accepted in either direction, length word included. */
  maxFrameBytes: number;
  /** Outstanding calls at which the proxy stops reading the client. */
  maxInflight: number;
  /** Set VIR_CONNECT_RO in the client's CONNECT_OPEN flags. */
  readonly?: boolean;
  /** Programs the client may use. */
  programs?: ReadonlySet<number>;
  /** Procedures the client may call. */
  policy?: Policy;
  /** Client timeouts, checked by {@linkcode DedicatedSession.expired}. */
  timeouts?: ClientTimeouts;
  /**
   * How long to wait for the upstream to finish after the client has closed its side, in ms.
   *
   * @default {5000}
   */
  lingerMs?: number;
}

/**
 * What becomes of a client frame: forwarded (undefined), answered by the proxy with an error, or
 * dropped (stream data after the upstream has gone).
 */
type Verdict = { message: string; code: number } | "drop" | undefined;

/**
 * Relays one client over one upstream connection.
 *
 * {@linkcode run} resolves once both connections are closed; it never rejects. Errors are logged
 * with the session's context and, where the client can be told, answered with a libvirt error.
 */
export class DedicatedSession {
  readonly #client: Channel;
  readonly #clientWriter: OrderedWriter;
  readonly #upstream: Promise<Channel>;
  readonly #options: DedicatedSessionOptions;
  readonly #log: Logger;
  readonly #inflight: InflightCalls;
  readonly #clock = new ClientClock();
  #upstreamChannel: Channel | undefined;
  #closed = false;
  #draining = false;
  /** The client has closed its side: the upstream's end that follows is expected. */
  #clientEnded = false;
  /** The client sent CONNECT_CLOSE: the daemon closing the connection next is expected too. */
  #clientClosing = false;
  /** Set when the upstream ended with no call outstanding: the client's next calls get it. */
  #upstreamGone: string | undefined;
  #closeReason = "";
  #done: () => void = () => {};
  readonly #finished: Promise<void>;

  /** Makes a session for `client` over the upstream connection `upstream` will resolve to. */
  constructor(client: Channel, upstream: Promise<Channel>, options: DedicatedSessionOptions) {
    this.#client = client;
    this.#clientWriter = new OrderedWriter(client);
    this.#upstream = upstream;
    this.#options = options;
    this.#log = options.logger;
    this.#inflight = new InflightCalls(options.maxInflight);
    this.#finished = new Promise((resolve) => this.#done = resolve);
  }

  /** True once the session has closed both connections. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Calls sent upstream and not yet answered. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** Relays until either side ends; resolves when both connections are closed. */
  async run(): Promise<void> {
    let upstream: Channel;
    try {
      upstream = await this.#upstream;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.#log.warning("Upstream connection failed", { error: message });
      await refuseClient(this.#client, message, { logger: this.#log });
      this.#closed = true;
      this.#closeReason = "upstream unreachable";
      this.#done();
      return;
    }
    this.#upstreamChannel = upstream;
    if (this.#closed) {
      upstream.close();
      return;
    }
    this.#log.debug("Upstream connected");
    await Promise.all([this.#pumpClient(upstream), this.#pumpUpstream(upstream)]);
    this.close("finished");
    await this.#finished;
  }

  /**
   * Stops forwarding new calls (they get an error saying the proxy is shutting down) and closes
   * the session once the outstanding ones are answered.
   */
  drain(): void {
    this.#draining = true;
    if (this.#inflight.size === 0) this.close("shutting down");
  }

  /** True once the upstream connection was made. */
  get connected(): boolean {
    return this.#upstreamChannel !== undefined;
  }

  /** Answers every outstanding call with an error saying `message`, then closes. */
  async expire(message: string): Promise<void> {
    if (this.#closed) return;
    try {
      for (const header of this.#inflight.takeAll()) {
        await this.#answer(header, message, ErrorCode.RPC);
      }
    } catch { /* the client is gone */ }
    this.close(message);
  }

  /** Closes both connections at once; pending calls get no reply. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#inflight.takeAll();
    try {
      this.#client.close();
    } catch { /* already closed */ }
    try {
      this.#upstreamChannel?.close();
    } catch { /* already closed */ }
    this.#log.debug("Session closed", { reason });
    this.#done();
  }

  /** Resolves when the session has closed. */
  finished(): Promise<void> {
    return this.#finished;
  }

  /** Why the client has outstayed one of its timeouts at `now`, or undefined. */
  expired(now: number): string | undefined {
    const timeouts = this.#options.timeouts;
    return timeouts === undefined ? undefined : this.#clock.expired(now, timeouts, this.inflight);
  }

  /** Client → upstream: check each frame, note calls, forward runs of frames in one write. */
  async #pumpClient(upstream: Channel): Promise<void> {
    const reader = new FrameReader({
      maxFrameBytes: this.#options.maxFrameBytes,
      programs: this.#options.programs ?? DEFAULT_PROGRAMS,
      direction: "fromClient",
    });
    const inflight = this.#inflight;
    // A large run's write overlaps the next read (its bytes stay put: space(true)).
    let writing: Promise<void> | undefined;
    try {
      while (!this.#closed) {
        const paused = inflight.belowLimit();
        if (paused !== undefined) await paused;
        if (this.#closed) break;
        const space = reader.space(writing !== undefined);
        const n = await this.#client.read(space);
        if (writing !== undefined) await writing;
        writing = undefined;
        if (n === null) {
          if (reader.buffered > 0) {
            this.#log.warning("Client closed the connection in the middle of a frame", {
              bytes: reader.buffered,
            });
          } else {
            this.#log.debug("Client closed the connection");
          }
          await this.#endUpstreamWrite(upstream);
          return;
        }
        reader.commit(n);
        this.#clock.read();
        // Frames returned between two reads lie back to back: forward each run in one write.
        let runStart = -1;
        let runEnd = -1;
        let refused = false;
        let frame: Uint8Array | null;
        try {
          while ((frame = reader.next()) !== null) {
            const verdict = this.#inspect(frame);
            if (verdict === undefined) {
              if (runStart < 0) runStart = frame.byteOffset;
              runEnd = frame.byteOffset + frame.length;
              continue;
            }
            if (runStart >= 0) await this.#forward(upstream, viewOf(space, runStart, runEnd));
            runStart = -1;
            if (verdict === "drop") continue;
            refused = true;
            await this.#answer(readHeader(frame), verdict.message, verdict.code);
          }
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
          if (runStart >= 0) await this.#forward(upstream, viewOf(space, runStart, runEnd));
          await this.#rejectFrame(error);
          return;
        }
        if (runStart >= 0) {
          const run = viewOf(space, runStart, runEnd);
          if (run.length < OVERLAP_BYTES) await this.#forward(upstream, run);
          else writing = this.#forward(upstream, run); // never rejects; awaited after the read
        }
        if (refused && this.#upstreamGone !== undefined) {
          this.close(this.#upstreamGone); // the client has its answer
          return;
        }
        this.#clock.partial = reader.buffered > 0;
        if (this.#draining && inflight.size === 0) {
          await writing;
          this.close("shutting down");
          return;
        }
      }
    } catch (error) {
      this.#failed("client", error);
    }
  }

  /** Upstream → client: check each frame, clear answered calls, forward everything. */
  async #pumpUpstream(upstream: Channel): Promise<void> {
    const reader = new FrameReader({
      maxFrameBytes: this.#options.maxFrameBytes,
      programs: ALL_PROGRAMS,
      direction: "fromServer",
    });
    const inflight = this.#inflight;
    // A large run's write overlaps the next read (its bytes stay put: space(true)).
    let writing: Promise<void> | undefined;
    try {
      while (!this.#closed) {
        const space = reader.space(writing !== undefined);
        const n = await upstream.read(space);
        if (writing !== undefined) await writing;
        writing = undefined;
        if (n === null) {
          await this.#upstreamLost("closed the connection");
          return;
        }
        reader.commit(n);
        let runStart = -1;
        let runEnd = -1;
        let frame: Uint8Array | null;
        try {
          while ((frame = reader.next()) !== null) {
            const type = frameType(frame);
            if (type === MessageType.REPLY || type === MessageType.REPLY_WITH_FDS) {
              inflight.delete(frameSerial(frame));
            }
            if (runStart < 0) runStart = frame.byteOffset;
            runEnd = frame.byteOffset + frame.length;
          }
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
          if (runStart >= 0) await this.#clientWriter.write(viewOf(space, runStart, runEnd));
          this.#log.error("Upstream sent an invalid frame", {
            error: error.message,
            length: error.length,
          });
          await this.#upstreamLost(`sent an invalid frame: ${error.message}`);
          return;
        }
        if (runStart >= 0) {
          const run = viewOf(space, runStart, runEnd);
          if (run.length < OVERLAP_BYTES) await this.#clientWriter.write(run);
          else (writing = this.#clientWriter.write(run)).catch(() => {}); // awaited after the read
        }
        if (this.#draining && inflight.size === 0) {
          await writing;
          this.close("shutting down");
          return;
        }
      }
    } catch (error) {
      this.#failed("upstream", error);
    }
  }

  /** Writes a run of client frames upstream; a failure there is the upstream's, not the client's. */
  async #forward(upstream: Channel, bytes: Uint8Array): Promise<void> {
    if (this.#upstreamGone !== undefined || this.#closed) return;
    try {
      await writeRest(upstream, bytes, 0);
    } catch (error) {
      await this.#upstreamLost(`failed: ${describeError(error)}`);
    }
  }

  /**
   * Looks at a client frame's header: records calls, patches the read-only flag into
   * CONNECT_OPEN, and says whether the proxy must answer or drop it instead of forwarding it.
   */
  #inspect(frame: Uint8Array): Verdict {
    const type = frameType(frame);
    if (this.#upstreamGone !== undefined) {
      return type === MessageType.CALL || type === MessageType.CALL_WITH_FDS
        ? { message: this.#upstreamGone, code: ErrorCode.RPC }
        : "drop";
    }
    if (type === MessageType.CALL) {
      if (this.#draining) {
        return { message: "virtmux is shutting down", code: ErrorCode.RPC };
      }
      const program = frameProgram(frame);
      const procedure = frameProcedure(frame);
      const denied = this.#options.policy?.refusal(program, procedure);
      if (denied !== undefined) return { message: denied, code: ErrorCode.OPERATION_DENIED };
      if (procedure === RemoteProc.CONNECT_OPEN) this.#clock.opened = true;
      if (program === Program.REMOTE && procedure === RemoteProc.CONNECT_CLOSE) {
        this.#clientClosing = true;
      }
      if (
        this.#options.readonly && program === Program.REMOTE &&
        procedure === RemoteProc.CONNECT_OPEN && frame.length >= 32
      ) {
        // remote_connect_open_args ends with `unsigned int flags`.
        const at = frame.length - 4;
        writeU32(frame, at, readU32(frame, at) | CONNECT_RO);
      }
      this.#inflight.add(program, procedure, frameSerial(frame));
      return undefined;
    }
    if (type === MessageType.CALL_WITH_FDS) {
      return {
        message: "Passing file descriptors is not supported through virtmux",
        code: ErrorCode.NO_SUPPORT,
      };
    }
    return undefined;
  }

  /** Sends the client an error reply to the call `header`. */
  async #answer(header: Header, message: string, code: number): Promise<void> {
    await this.#clientWriter.write(
      encodeErrorReply(header, message, { code, domain: ErrorDomain.RPC }),
    );
  }

  /** A client sent a frame that failed a check: answer it if possible, log, close. */
  async #rejectFrame(error: FrameError): Promise<void> {
    this.#log.warning("Closing client after an invalid frame", {
      error: error.message,
      length: error.length,
      limit: this.#options.maxFrameBytes,
    });
    try {
      this.#upstreamChannel?.close();
    } catch { /* closed */ }
    if (error.header !== undefined) {
      try {
        await this.#answer(error.header, `virtmux refused a frame: ${error.message}`, error.code);
        // Let the client finish writing the rest of its frame, or it never reads the answer.
        await lingerClose(this.#client);
      } catch { /* the client is gone already */ }
    }
    this.close(`invalid frame: ${error.message}`);
  }

  /**
   * The upstream went away: answer every outstanding call and close the session; with none
   * outstanding, keep the client a moment so that its next call gets the reason, not a bare EOF.
   */
  async #upstreamLost(cause: string): Promise<void> {
    if (this.#closed || this.#upstreamGone !== undefined) return;
    if ((this.#clientEnded || this.#clientClosing) && this.#inflight.size === 0) {
      this.close("client closed the connection"); // the daemon follows the client's lead
      return;
    }
    const calls = this.#inflight.takeAll();
    const message = withDiagnostics(
      `Upstream ${this.#options.upstreamLabel} ${cause}`,
      this.#upstreamChannel,
    );
    try {
      this.#upstreamChannel?.close();
    } catch { /* closed */ }
    if (calls.length === 0) {
      this.#log.info("Upstream closed", { cause });
      this.#upstreamGone = message;
      const timer = setTimeout(
        () => this.close(`upstream ${cause}`),
        this.#options.lingerMs ?? 5000,
      );
      void this.#finished.then(() => clearTimeout(timer));
      return;
    }
    this.#log.warning("Upstream lost with calls outstanding", { cause, calls: calls.length });
    try {
      for (const header of calls) await this.#answer(header, message, ErrorCode.RPC);
    } catch { /* the client is gone too */ }
    this.close(`upstream ${cause}`);
  }

  /** Client EOF: pass the half-close on, then give the upstream a moment to finish. */
  async #endUpstreamWrite(upstream: Channel): Promise<void> {
    this.#clientEnded = true;
    try {
      await upstream.closeWrite();
    } catch { /* already closed */ }
    const linger = setTimeout(
      () => this.close("client closed; upstream did not finish"),
      this.#options.lingerMs ?? 5000,
    );
    await this.#finished;
    clearTimeout(linger);
  }

  /** A read or write failed: log it unless the session was closing anyway, then close. */
  #failed(side: "client" | "upstream", error: unknown): void {
    if (this.#closed) return;
    const message = describeError(error);
    if (side === "upstream") {
      void this.#upstreamLost(`failed: ${message}`);
      return;
    }
    this.#log.info("Client connection failed", { error: message });
    this.close(`client failed: ${message}`);
  }

  /** Why the session closed, for logs and tests. */
  get closeReason(): string {
    return this.#closeReason;
  }
}

/** Runs of frames at least this long are written while the next read goes on. */
const OVERLAP_BYTES = 65536;

/** Every program, for frames from a daemon (which only answers what a client asked for). */
const ALL_PROGRAMS: ReadonlySet<number> = new Set(Object.values(Program));

/** An error's message without the documentation link some TLS errors end with. */
function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/: https?:\/\/\S+$/, "");
}

/** The bytes from `start` to `end` of the buffer behind `space` (frames are views of it). */
function viewOf(space: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(space.buffer, start, end - start);
}

/** Writes `data` from offset `written` to its end. */
async function writeRest(channel: Channel, data: Uint8Array, written: number): Promise<void> {
  while (written < data.length) written += await channel.write(data.subarray(written));
}

/** Options for {@linkcode refuseClient}. */
export interface RefuseClientOptions {
  /** Where to log. */
  logger: Logger;
  /**
   * The error code in the replies.
   *
   * @default {39} (VIR_ERR_RPC)
   */
  code?: number;
  /**
   * How long to wait for the client's first call, in ms.
   *
   * @default {5000}
   */
  waitMs?: number;
}

/**
 * Answers every call in the client's first read with an error saying `message`, then closes it:
 * how a client learns that its upstream is unreachable or the proxy is full, instead of hanging.
 */
export async function refuseClient(
  client: Channel,
  message: string,
  options: RefuseClientOptions,
): Promise<void> {
  const reader = new FrameReader({ initialBytes: 4096, programs: ALL_PROGRAMS });
  const timer = setTimeout(() => {
    try {
      client.close();
    } catch { /* closed */ }
  }, options.waitMs ?? 5000);
  try {
    const n = await client.read(reader.space());
    if (n !== null) {
      reader.commit(n);
      let frame: Uint8Array | null;
      while ((frame = reader.next()) !== null) {
        const type = frameType(frame);
        if (type !== MessageType.CALL && type !== MessageType.CALL_WITH_FDS) continue;
        const reply = encodeErrorReply(readHeader(frame), message, {
          code: options.code ?? ErrorCode.RPC,
          domain: ErrorDomain.REMOTE,
        });
        await writeRest(client, reply, 0);
      }
    }
  } catch (error) {
    options.logger.debug("Refused client did not take the error", {
      error: error instanceof Error ? error.message : String(error),
    });
  } finally {
    clearTimeout(timer);
    try {
      client.close();
    } catch { /* closed */ }
  }
}
