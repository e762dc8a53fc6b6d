/**
 * A client with its own upstream connection (`share = false`, and stdio mode): frames pass through
 * unchanged both ways after their headers are checked. The proxy keeps only the serials of
 * outstanding calls, so that each can be answered with a libvirt error if the upstream goes away.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import { type Channel, withDiagnostics, writeAll } from "../../transport/channel.ts";
import {
  ALL_PROGRAMS,
  ErrorCode,
  ErrorDomain,
  MessageStatus,
  MessageType,
} from "../../wire/constants.ts";
import { encodeErrorReply } from "../../wire/error_reply.ts";
import { FrameError } from "../../wire/frame_check.ts";
import { FrameReader } from "../../wire/frame_reader.ts";
import { frameSerial, frameStatus, frameType, type Header, readHeader } from "../../wire/header.ts";
import { ClientReads } from "../client_reads.ts";
import { FrameWriter } from "../frame_writer.ts";
import { InflightCalls } from "../inflight.ts";
import { closeQuietly, refuseClient } from "../refuse_client.ts";
import { type ClientSession, SessionLifecycle, type SessionOptions } from "../session.ts";
import { describeError, UpstreamError } from "../upstream_error.ts";
import type { SessionObserver } from "../observer.ts";
import { CallInspector } from "./call_inspector.ts";
import { FrameRuns } from "./frame_runs.ts";

/** Options for {@linkcode DedicatedSession}. */
export interface DedicatedSessionOptions extends SessionOptions {
  /** The upstream's name and URI, as error messages show them: `"hv1" (qemu+tls://...)`. */
  upstreamLabel: string;
  /**
   * How long to wait for the upstream to finish after the client has closed its side, in ms.
   *
   * @default {5000}
   */
  lingerMs?: number;
}

/**
 * How long a client with no call outstanding is kept after its upstream went away, so that a
 * call already on its way gets the reason as an error; then it is closed, and a client waiting
 * only for events (its close callback) learns at once that the daemon is gone.
 */
const UPSTREAM_GONE_MS = 200;

/**
 * Relays one client over one upstream connection.
 *
 * {@linkcode run} resolves once both connections are closed; it never rejects. Errors are logged
 * with the session's context and, where the client can be told, answered with a libvirt error.
 */
export class DedicatedSession implements ClientSession {
  readonly #client: Channel;
  readonly #clientWriter: FrameWriter;
  readonly #upstream: Promise<Channel>;
  readonly #options: DedicatedSessionOptions;
  readonly #log;
  readonly #inflight: InflightCalls;
  readonly #life: SessionLifecycle;
  readonly #inspector: CallInspector;
  /** Watches the frames; undefined when nothing does. */
  readonly #observer: SessionObserver | undefined;
  /** Reads the client; its frame limit is the pre-open one until CONNECT_OPEN succeeds. */
  readonly #clientReads: ClientReads;
  #upstreamChannel: Channel | undefined;
  /** The client has closed its side: the upstream's end that follows is expected. */
  #clientEnded = false;
  /** The session is ending on the client's account (an invalid frame): the upstream's end is ours. */
  #rejecting = false;

  /** Makes a session for `client` over the upstream connection `upstream` will resolve to. */
  constructor(client: Channel, upstream: Promise<Channel>, options: DedicatedSessionOptions) {
    this.#client = client;
    this.#clientWriter = new FrameWriter(client, {
      maxQueuedBytes: Infinity, // only the proxy's own error replies queue; they are bounded by calls
      onError: (error) => this.#failed("client", error),
    });
    this.#upstream = upstream;
    this.#options = options;
    this.#log = options.logger;
    this.#inflight = new InflightCalls(options.maxInflight);
    this.#life = new SessionLifecycle(options.timeouts);
    this.#observer = options.observer;
    this.#inspector = new CallInspector({
      readonly: options.readonly === true,
      policy: options.policy,
      inflight: this.#inflight,
      clock: this.#life.clock,
    });
    this.#clientReads = new ClientReads(client, this.#life.clock, options);
  }

  /** True once the session has closed both connections. */
  get closed(): boolean {
    return this.#life.closed;
  }

  /** Why the session closed, for logs and tests. */
  get closeReason(): string {
    return this.#life.closeReason;
  }

  /** Calls sent upstream and not yet answered. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** True once the upstream connection was made. */
  get connected(): boolean {
    return this.#upstreamChannel !== undefined;
  }

  /** Relays until either side ends; resolves when both connections are closed. */
  async run(): Promise<void> {
    let upstream: Channel;
    try {
      upstream = await this.#upstream;
    } catch (error) {
      const message = errorMessage(error);
      this.#log.warning("Upstream connection failed", { error: message });
      // A daemon's refusal (a failed SASL login: authentication failed) keeps its own code.
      const code = UpstreamError.from(error).code;
      await refuseClient(this.#client, message, { logger: this.#log, code });
      if (this.#life.end("upstream unreachable")) this.#observer?.closed("upstream unreachable");
      return;
    }
    this.#upstreamChannel = upstream;
    if (this.closed) {
      upstream.close();
      return;
    }
    this.#log.debug("Upstream connected");
    await Promise.all([this.#pumpClient(upstream), this.#pumpUpstream(upstream)]);
    this.close("finished");
    await this.#life.finished();
  }

  /**
   * Stops forwarding new calls (they get an error saying the proxy is shutting down) and closes
   * the session once the outstanding ones are answered.
   */
  drain(): void {
    this.#inspector.draining = true;
    if (this.#inflight.size === 0) this.close("shutting down");
  }

  /** Answers every outstanding call with an error saying `message`, then closes. */
  async expire(message: string): Promise<void> {
    if (this.closed) return;
    for (const header of this.#inflight.takeAll()) this.#answer(header, message, ErrorCode.RPC);
    await this.#clientWriter.flushed();
    this.close(message);
  }

  /** Closes both connections at once; pending calls get no reply. */
  close(reason: string): void {
    if (!this.#life.end(reason)) return;
    this.#clientReads.close();
    this.#inflight.takeAll();
    closeQuietly(this.#client);
    closeQuietly(this.#upstreamChannel);
    this.#observer?.closed(reason);
    this.#log.debug("Session closed", { reason });
  }

  /** Resolves when the session has closed. */
  finished(): Promise<void> {
    return this.#life.finished();
  }

  /** Why the client has outstayed one of its timeouts at `now`, or undefined. */
  expired(now: number): string | undefined {
    return this.#clientReads.expired(now) ?? this.#life.expired(now, this.inflight);
  }

  /** Client → upstream: check each frame, note calls, forward runs of frames in one write. */
  async #pumpClient(upstream: Channel): Promise<void> {
    const input = this.#clientReads;
    const inflight = this.#inflight;
    const inspector = this.#inspector;
    // A long run's write overlaps the next read (frame_runs.ts); #forward never rejects.
    const runs = new FrameRuns((bytes) => this.#forward(upstream, bytes));
    // Made once: nothing is allocated per read on the common path.
    let refused = false;
    const handle = (frame: Uint8Array) => {
      const verdict = inspector.inspect(frame);
      if (verdict === undefined) return runs.add(frame);
      return runs.flush().then(() => {
        if (verdict === "drop") return;
        refused = true;
        this.#answer(readHeader(frame), verdict.message, verdict.code);
      });
    };
    const onInvalid = {
      writer: this.#clientWriter,
      release: () => {
        this.#rejecting = true;
        closeQuietly(this.#upstreamChannel);
      },
      before: () => runs.flush(),
    };
    try {
      while (!this.closed) {
        const paused = inflight.belowLimit();
        if (paused !== undefined) await paused;
        if (this.closed) break;
        const turn = input.turn(); // a large frame's budget or turn
        if (turn !== undefined) {
          await turn;
          if (this.closed) break;
        }
        const n = await this.#client.read(input.space(runs.writing));
        const writing = runs.takeWriting();
        if (writing !== undefined) await writing;
        if (!input.commit(n)) {
          if (input.buffered === 0) this.#log.debug("Client closed the connection");
          await this.#endUpstreamWrite(upstream);
          return;
        }
        refused = false;
        const handled = input.frames(handle, onInvalid);
        const invalid = handled instanceof Promise ? await handled : handled;
        if (invalid !== undefined) {
          this.close(invalid);
          return;
        }
        const flushed = runs.flushOverlapped();
        if (flushed !== undefined) await flushed;
        // Passed on whole (large_frames.ts says why): a large frame's budget is back once written.
        if (input.largeArrived) await runs.takeWriting();
        input.finishLarge();
        if (refused && inspector.upstreamGone !== undefined) {
          await this.#clientWriter.flushed();
          this.close(inspector.upstreamGone); // the client has its answer
          return;
        }
        input.settle();
        if (inspector.draining && inflight.size === 0) {
          await runs.takeWriting();
          await this.#clientWriter.flushed();
          this.close("shutting down");
          return;
        }
      }
    } catch (error) {
      this.#failed("client", error);
    } finally {
      await runs.takeWriting();
      input.dispose(); // the client is gone: free its buffer now, not at the next GC
    }
  }

  /** Upstream → client: check each frame, clear answered calls, forward everything. */
  async #pumpUpstream(upstream: Channel): Promise<void> {
    const reader = new FrameReader({
      maxFrameBytes: this.#options.maxFrameBytes,
      programs: ALL_PROGRAMS,
      direction: "fromServer",
    });
    // A long run's write overlaps the next read (frame_runs.ts).
    const runs = new FrameRuns((bytes) => this.#clientWriter.write(bytes));
    try {
      while (!this.closed) {
        const n = await upstream.read(reader.space(runs.writing));
        const writing = runs.takeWriting();
        if (writing !== undefined) await writing;
        if (n === null) {
          await this.#upstreamLost("closed the connection");
          return;
        }
        reader.commit(n);
        let frame: Uint8Array | null;
        try {
          while ((frame = reader.next()) !== null) {
            const type = frameType(frame);
            if (type === MessageType.REPLY || type === MessageType.REPLY_WITH_FDS) {
              this.#inflight.delete(frameSerial(frame));
              if (this.#inspector.openSerial >= 0) this.#openAnswered(frame);
            }
            const watched = this.#observer?.toClient(frame);
            if (watched !== undefined) await watched;
            runs.add(frame);
          }
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
          await runs.flush();
          this.#log.error("Upstream sent an invalid frame", {
            error: error.message,
            length: error.length,
          });
          await this.#upstreamLost(`sent an invalid frame: ${error.message}`);
          return;
        }
        const flushed = runs.flushOverlapped();
        if (flushed !== undefined) await flushed;
        if (this.#inspector.draining && this.#inflight.size === 0) {
          await runs.takeWriting();
          this.close("shutting down");
          return;
        }
      }
    } catch (error) {
      this.#failed("upstream", error);
    }
  }

  /** A reply while CONNECT_OPEN is outstanding: once it succeeds, lift the pre-open limit. */
  #openAnswered(reply: Uint8Array): void {
    if (frameSerial(reply) !== this.#inspector.openSerial) return;
    this.#inspector.openSerial = -1;
    if (frameStatus(reply) === MessageStatus.OK) {
      this.#clientReads.opened();
    }
  }

  /** Writes a run of client frames upstream; a failure there is the upstream's, not the client's. */
  async #forward(upstream: Channel, bytes: Uint8Array): Promise<void> {
    if (this.#inspector.upstreamGone !== undefined || this.closed) return;
    try {
      await writeAll(upstream, bytes);
    } catch (error) {
      await this.#upstreamLost(`failed: ${describeError(error)}`);
    }
  }

  /** Queues an error reply to the call `header` for the client. */
  #answer(header: Header, message: string, code: number): void {
    const reply = encodeErrorReply(header, message, { code, domain: ErrorDomain.RPC });
    void this.#observer?.toClient(reply);
    this.#clientWriter.enqueue(reply, true);
  }

  /**
   * The upstream went away: answer every outstanding call and close the session; with none
   * outstanding, keep the client a moment ({@linkcode UPSTREAM_GONE_MS}) so that a call on its
   * way gets the reason, not a bare EOF.
   */
  async #upstreamLost(cause: string): Promise<void> {
    if (this.closed || this.#rejecting || this.#inspector.upstreamGone !== undefined) return;
    if ((this.#clientEnded || this.#inspector.clientClosing) && this.#inflight.size === 0) {
      this.close("client closed the connection"); // the daemon follows the client's lead
      return;
    }
    const calls = this.#inflight.takeAll();
    const message = withDiagnostics(
      `Upstream ${this.#options.upstreamLabel} ${cause}`,
      this.#upstreamChannel,
    );
    closeQuietly(this.#upstreamChannel);
    if (calls.length === 0) {
      this.#log.info("Upstream closed", { cause });
      this.#inspector.upstreamGone = message;
      const timer = setTimeout(() => this.close(`upstream ${cause}`), UPSTREAM_GONE_MS);
      void this.#life.finished().then(() => clearTimeout(timer));
      return;
    }
    this.#log.warning("Upstream lost with calls outstanding", { cause, calls: calls.length });
    for (const header of calls) this.#answer(header, message, ErrorCode.RPC);
    await this.#clientWriter.flushed();
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
    await this.#life.finished();
    clearTimeout(linger);
  }

  /** A read or write failed: log it unless the session was closing anyway, then close. */
  #failed(side: "client" | "upstream", error: unknown): void {
    if (this.closed) return;
    const message = describeError(error);
    if (side === "upstream") {
      void this.#upstreamLost(`failed: ${message}`);
      return;
    }
    this.#log.info("Client connection failed", { error: message });
    this.close(`client failed: ${message}`);
  }
}
