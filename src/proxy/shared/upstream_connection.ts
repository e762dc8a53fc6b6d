/**
 * One connection of a shared pool: the proxy's own authenticated, opened session with a daemon.
 * It performs the handshake a libvirt client would (AUTH_LIST, the keepalive probe, CONNECT_OPEN),
 * answers and sends keepalives, hands every other frame to its owner, and allocates the serials
 * that make its callers' calls unique on the wire.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import type { Logger } from "../../log/logger.ts";
import { type Channel, withDiagnostics } from "../../transport/channel.ts";
import { authenticateSasl } from "../../transport/sasl/authenticate.ts";
import { channelIsSecure } from "../../transport/sasl/upstream_login.ts";
import { type HandshakeCall, handshakeCaller } from "../../transport/handshake_call.ts";
import { SaslChannel } from "../../transport/sasl_channel.ts";
import type { LibvirtUri } from "../../uri/uri.ts";
import {
  ALL_PROGRAMS,
  AuthType,
  ErrorCode,
  Feature,
  HEADER_BYTES,
  isReadOnlyOpen,
  KeepaliveProc,
  Program,
  RemoteProc,
} from "../../wire/constants.ts";
import { FrameError } from "../../wire/frame_check.ts";
import { FrameReader } from "../../wire/frame_reader.ts";
import { frameProcedure, frameProgram, readU32 } from "../../wire/header.ts";
import { encodeWords, PING_FRAME, PONG_FRAME } from "../../wire/message.ts";
import { encodeOpenArgs } from "../../wire/open_args.ts";
import { FrameWriter } from "../frame_writer.ts";
import { UpstreamError } from "../upstream_error.ts";

/** Options for {@linkcode UpstreamConnection.open}. */
export interface UpstreamConnectionOptions {
  /** The name to open, as a client sent it (null: the daemon's default). */
  openName: string | null;
  /** CONNECT_OPEN flags (VIR_CONNECT_RO for read-only pools). */
  openFlags: number;
  /** Largest frame accepted from the daemon. */
  maxFrameBytes: number;
  /** Keepalive: ping after this many ms without traffic. */
  keepaliveIntervalMs: number;
  /** Keepalive: declare the daemon dead after this many unanswered pings. */
  keepaliveCount: number;
  /** `"hv1" (qemu+tls://...)`, for messages. */
  label: string;
  /** Logger with the upstream's context. */
  logger: Logger;
  /** Time allowed for the handshake, in ms. */
  timeoutMs: number;
  /** Also ask the daemon its hostname (CONNECT_GET_HOSTNAME), to tell a restart from a move. */
  identify?: boolean;
  /**
   * The upstream whose daemon this is, for a SASL login when the daemon asks for one
   * (credentials from auth.conf as libvirt's client finds it for `uri`); without it such a
   * daemon is refused.
   */
  sasl?: { name: string; uri: LibvirtUri };
}

/** Where an upstream connection sends what it reads and how it reports its end. */
export interface UpstreamHandler {
  /**
   * A frame that is not a keepalive: a REPLY, an event MESSAGE, a STREAM. Valid until the promise
   * returned resolves (or until return, if none).
   */
  onFrame(connection: UpstreamConnection, frame: Uint8Array): Promise<void> | undefined;
  /** The connection ended; `reason` says why in a phrase fit for a client. */
  onClosed(connection: UpstreamConnection, reason: string): void;
}

let nextConnectionId = 1;

/** A pooled connection to one daemon. Make with {@linkcode UpstreamConnection.open}. */
export class UpstreamConnection {
  /** Unique id, for logs. */
  readonly id: number = nextConnectionId++;
  /** The daemon's hostname, when the handshake asked for it (`identify`). */
  hostname: string | undefined;
  /** Replaced by a SaslChannel over it when a SASL login negotiates a security layer. */
  #channel: Channel;
  #writer: FrameWriter;
  readonly #reader: FrameReader;
  readonly #options: UpstreamConnectionOptions;
  readonly #log: Logger;
  #serial = 1;
  /** Makes the handshake's calls; made at the first. */
  #caller: HandshakeCall | undefined;
  #closed = false;
  #keepalive = false;
  #lastReceived = Date.now();
  #missedPings = 0;
  /** True while the reader waits for clients to take what it read: not the daemon's silence. */
  #delivering = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(channel: Channel, options: UpstreamConnectionOptions) {
    this.#channel = channel;
    this.#writer = this.#makeWriter(channel);
    this.#reader = new FrameReader({
      maxFrameBytes: options.maxFrameBytes,
      programs: ALL_PROGRAMS,
      direction: "fromServer",
    });
    this.#options = options;
    this.#log = options.logger;
  }

  /**
   * Performs the client handshake on `channel` and returns the opened connection.
   *
   * @throws {UpstreamError} with the daemon's own error when it refuses, or a description of
   * what went wrong; the channel is closed then.
   */
  static async open(
    channel: Channel,
    options: UpstreamConnectionOptions,
  ): Promise<UpstreamConnection> {
    const connection = new UpstreamConnection(channel, options);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new UpstreamError(
                `Upstream ${options.label} did not finish the handshake within ` +
                  `${options.timeoutMs} ms`,
                ErrorCode.OPERATION_TIMEOUT,
              ),
            ),
          options.timeoutMs,
        );
      });
      await Promise.race([connection.#handshake(), deadline]);
    } catch (error) {
      connection.#closed = true;
      try {
        channel.close();
      } catch { /* closed */ }
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return connection;
  }

  /** True once the connection has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /** A serial no call on this connection uses yet. */
  allocateSerial(inUse: (serial: number) => boolean): number {
    let serial = this.#serial;
    while (inUse(serial)) serial = (serial + 1) >>> 0;
    this.#serial = (serial + 1) >>> 0;
    return serial;
  }

  /** Writes whole frames to the daemon in place, after every earlier write; resolves once done. */
  write(data: Uint8Array): Promise<void> {
    return this.#writer.write(data);
  }

  /**
   * Sends a frame: in place if the connection is idle (resolving once written), else as a copy
   * that goes out with the next write (undefined: `data` may be reused at once).
   */
  send(data: Uint8Array): Promise<void> | undefined {
    return this.#writer.send(data);
  }

  /** Reads and dispatches frames until the connection ends; then tells the handler why. */
  async run(handler: UpstreamHandler): Promise<void> {
    if (this.#keepalive) this.#startKeepalive();
    let reason = "closed the connection";
    // Deliveries of one read overlap the next read (their bytes stay put: space(true)).
    let delivering: Promise<unknown> | undefined;
    try {
      while (!this.#closed) {
        const reading = this.#channel.read(this.#reader.space(delivering !== undefined));
        reading.catch(() => {}); // handled below, after the deliveries
        if (delivering !== undefined) {
          this.#delivering = true;
          await delivering;
          this.#delivering = false;
          delivering = undefined;
        }
        const n = await reading;
        if (n === null) break;
        this.#reader.commit(n);
        this.#lastReceived = Date.now();
        this.#missedPings = 0;
        let pending: Promise<void>[] | undefined;
        let frame: Uint8Array | null;
        while ((frame = this.#reader.next()) !== null) {
          if (frameProgram(frame) === Program.KEEPALIVE) {
            if (frameProcedure(frame) === KeepaliveProc.PING) {
              this.#writer.enqueue(PONG_FRAME, true);
            }
            continue;
          }
          const delivered = handler.onFrame(this, frame);
          if (delivered !== undefined) (pending ??= []).push(delivered);
        }
        // Views of the read buffer stay valid until every delivery has been written.
        if (pending !== undefined) delivering = Promise.all(pending).catch(() => {});
      }
    } catch (error) {
      if (error instanceof FrameError) {
        reason = `sent an invalid frame: ${error.message}`;
        this.#log.error("Upstream sent an invalid frame", { error: error.message });
      } else if (!this.#closed) {
        reason = `failed: ${errorMessage(error)}`;
      }
    }
    if (this.#closeReason !== undefined) reason = this.#closeReason;
    reason = withDiagnostics(reason, this.#channel);
    this.close(reason);
    handler.onClosed(this, reason);
  }

  #closeReason: string | undefined;

  /** Ends the connection; {@linkcode run} then reports `reason` to the handler. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    clearInterval(this.#timer);
    try {
      this.#channel.close();
    } catch { /* closed */ }
    this.#log.info("Upstream connection closed", { connection: this.id, reason });
  }

  #startKeepalive(): void {
    const { keepaliveIntervalMs, keepaliveCount } = this.#options;
    this.#timer = setInterval(() => {
      if (this.#delivering) {
        this.#lastReceived = Date.now(); // we are not reading, so silence proves nothing
        return;
      }
      if (Date.now() - this.#lastReceived < keepaliveIntervalMs) return;
      if (this.#missedPings >= keepaliveCount) {
        this.close(
          `stopped answering keepalives (${keepaliveCount} pings over ` +
            `${(keepaliveCount * keepaliveIntervalMs) / 1000} s)`,
        );
        return;
      }
      this.#missedPings++;
      this.#writer.write(PING_FRAME).catch(() => {});
    }, keepaliveIntervalMs);
    Deno.unrefTimer(this.#timer);
  }

  /** The handshake a libvirt client performs, one call at a time. */
  async #handshake(): Promise<void> {
    const auth = await this.#call(RemoteProc.AUTH_LIST);
    const count = readU32(auth, 28);
    const types = Array.from({ length: count }, (_, i) => readU32(auth, 32 + 4 * i));
    if (types.length > 0 && !types.includes(AuthType.NONE)) {
      if (types.includes(AuthType.POLKIT)) {
        await this.#call(RemoteProc.AUTH_POLKIT);
      } else if (types.includes(AuthType.SASL) && this.#options.sasl) {
        await this.#saslLogin(this.#options.sasl);
      } else {
        const names = types.map((type) =>
          Object.entries(AuthType).find(([, value]) => value === type)?.[0] ?? `type ${type}`
        );
        throw new UpstreamError(
          `Upstream ${this.#options.label} requires ${names.join(" or ")} authentication, ` +
            `which this pool has no credentials for`,
          ErrorCode.NO_SUPPORT,
        );
      }
    }
    const feature = await this.#call(
      RemoteProc.CONNECT_SUPPORTS_FEATURE,
      encodeWords(Feature.PROGRAM_KEEPALIVE),
    );
    this.#keepalive = readU32(feature, 28) === 1;
    await this.#call(
      RemoteProc.CONNECT_OPEN,
      encodeOpenArgs({ name: this.#options.openName, flags: this.#options.openFlags }),
    );
    if (this.#options.identify) {
      const reply = await this.#call(RemoteProc.CONNECT_GET_HOSTNAME);
      this.hostname = readString(reply, HEADER_BYTES);
    }
    this.#log.info("Upstream connection open", {
      connection: this.id,
      name: this.#options.openName ?? "(default)",
      readonly: isReadOnlyOpen(this.#options.openFlags),
    });
  }

  /**
   * Logs in with SASL as libvirt's client would; with a security layer (DIGEST-MD5 or GSSAPI on
   * plain tcp) every later byte goes through it, the frame reader and writer unchanged on top.
   */
  async #saslLogin(sasl: { name: string; uri: LibvirtUri }): Promise<void> {
    let result;
    try {
      result = await authenticateSasl((procedure, body) => this.#call(procedure, body), {
        name: sasl.name,
        uri: sasl.uri,
        channelIsSecure: channelIsSecure(sasl.uri),
      });
    } catch (error) {
      throw UpstreamError.from(error);
    }
    if (result.layer) {
      this.#channel = new SaslChannel(this.#channel, result.layer);
      this.#writer = this.#makeWriter(this.#channel);
    }
    this.#log.info("Upstream SASL login", {
      connection: this.id,
      mechanism: result.mechanism,
      ssf: result.ssf,
    });
  }

  #makeWriter(channel: Channel): FrameWriter {
    return new FrameWriter(channel, {
      maxQueuedBytes: Infinity, // calls are bounded by max_inflight_per_connection
      onError: (error) => this.close(`failed: ${errorMessage(error)}`),
    });
  }

  /** Sends one REMOTE call and waits for its reply (handshake only: nothing else is running). */
  #call(procedure: number, body?: Uint8Array): Promise<Uint8Array> {
    this.#caller ??= handshakeCaller({
      channel: () => this.#channel,
      reader: this.#reader,
      nextSerial: () => this.#serial++,
      refused: (error) =>
        new UpstreamError(
          error.message ?? `Upstream ${this.#options.label} refused the connection`,
          error.code,
          error.domain,
        ),
      closed: () =>
        new UpstreamError(withDiagnostics(
          `Upstream ${this.#options.label} closed the connection during the handshake`,
          this.#channel,
        )),
    });
    return this.#caller(procedure, body);
  }
}

const decoder = new TextDecoder();

/** The XDR string at `offset` of `frame` (a length word, then the bytes), or "" if cut short. */
function readString(frame: Uint8Array, offset: number): string {
  if (frame.length < offset + 4) return "";
  const length = readU32(frame, offset);
  return decoder.decode(frame.subarray(offset + 4, Math.min(frame.length, offset + 4 + length)));
}
