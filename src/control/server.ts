/**
 * The control socket: a unix socket, mode 0600, on which the owner of the process (or root)
 * asks a running `virtmux serve` for its status and clients, or has a client disconnected. Each
 * connection carries one request and one response (src/control/protocol.ts). Besides the mode,
 * the peer's uid is checked with SO_PEERCRED.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import type { Logger } from "../log/logger.ts";
import type { ServerSnapshot } from "../proxy/server_snapshot.ts";
import type { Channel } from "../transport/channel.ts";
import { closeQuietly } from "../proxy/refuse_client.ts";
import { writeAll } from "../transport/channel.ts";
import { listenUnix, type UnixSocketListener } from "../transport/unix_listener.ts";
import {
  type ControlRequest,
  type ControlResponse,
  MAX_REQUEST_BYTES,
  parseRequest,
} from "./protocol.ts";

/** What the control socket acts on: the running server. */
export interface ControlTarget {
  /** The server's state now. */
  snapshot(): ServerSnapshot;
  /** Closes client `id`; false when no such client. */
  disconnect(id: number, reason: string): boolean;
  /** Calls made so far by client `id`, when counted. */
  callsOf?(id: number): number | undefined;
}

/** Options for {@linkcode ControlServer.listen}. */
export interface ControlServerOptions {
  /** The server acted on. */
  target: ControlTarget;
  /** Logger. */
  logger: Logger;
  /** The uid allowed besides root. @default {Deno.uid()} */
  ownerUid?: number;
}

/** How long a control client may take to send its request. */
const REQUEST_TIMEOUT_MS = 5000;

/** A listening control socket. */
export class ControlServer {
  readonly #socket: UnixSocketListener;
  readonly #options: ControlServerOptions;
  readonly #owner: number;
  readonly #accepting: Promise<void>;

  private constructor(socket: UnixSocketListener, options: ControlServerOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#owner = options.ownerUid ?? Deno.uid() ?? 0;
    this.#accepting = this.#acceptLoop();
  }

  /**
   * Binds the control socket at `path` (mode 0600, its directory made 0700 if missing).
   *
   * @throws {Error} naming the path when it cannot be bound (a live virtmux already holds it).
   */
  static async listen(path: string, options: ControlServerOptions): Promise<ControlServer> {
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 }).catch(() => {});
    const socket = await listenUnix(path, {
      mode: 0o600,
      peerCredentials: true,
      logger: options.logger,
    });
    options.logger.info("Control socket listening", { socket: path });
    return new ControlServer(socket, options);
  }

  /** The socket's path. */
  get path(): string {
    return this.#socket.path;
  }

  /** Stops accepting and removes the socket file. */
  async close(): Promise<void> {
    this.#socket.remove();
    this.#socket.close();
    await this.#accepting;
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const accepted of this.#socket.clients()) {
        const peer = accepted.peer;
        if (peer === undefined || (peer.uid !== 0 && peer.uid !== this.#owner)) {
          this.#options.logger.warning("Control client refused", {
            uid: peer?.uid,
            pid: peer?.pid,
            reason: peer === undefined ? accepted.peerError : "not the owner or root",
          });
          void this.#respond(accepted.channel, {
            ok: false,
            error: `virtmux's control socket is for uid ${this.#owner} and root only`,
          });
          continue;
        }
        void this.#serve(accepted.channel, peer.uid, peer.pid);
      }
    } catch { /* closed */ }
  }

  async #serve(channel: Channel, uid: number, pid: number): Promise<void> {
    let response: ControlResponse;
    try {
      const request = parseRequest(await readLine(channel));
      this.#options.logger.debug("Control request", { command: request.command, uid, pid });
      response = this.#handle(request, uid, pid);
    } catch (error) {
      response = { ok: false, error: errorMessage(error) };
    }
    await this.#respond(channel, response);
  }

  #handle(request: ControlRequest, uid: number, pid: number): ControlResponse {
    const target = this.#options.target;
    switch (request.command) {
      case "status":
        return { ok: true, status: this.#snapshot() };
      case "clients":
        return { ok: true, clients: this.#snapshot().clients };
      case "client-disconnect": {
        const reason = `disconnected by virtmux client-disconnect (uid ${uid}, pid ${pid})`;
        if (!target.disconnect(request.id, reason)) {
          return { ok: false, error: `No client with id ${request.id} is connected` };
        }
        return { ok: true, disconnected: request.id };
      }
    }
  }

  #snapshot(): ServerSnapshot {
    const target = this.#options.target;
    const snapshot = target.snapshot();
    if (target.callsOf !== undefined) {
      for (const client of snapshot.clients) {
        const calls = target.callsOf(client.id);
        if (calls !== undefined) client.calls = calls;
      }
    }
    return snapshot;
  }

  async #respond(channel: Channel, response: ControlResponse): Promise<void> {
    try {
      await writeAll(channel, new TextEncoder().encode(JSON.stringify(response) + "\n"));
    } catch { /* the client left */ }
    closeQuietly(channel);
  }
}

/** Reads one line (up to {@linkcode MAX_REQUEST_BYTES}) within the request timeout. */
async function readLine(channel: Channel): Promise<string> {
  const buffer = new Uint8Array(MAX_REQUEST_BYTES);
  let length = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`No control request within ${REQUEST_TIMEOUT_MS / 1000} s`)),
      REQUEST_TIMEOUT_MS,
    );
  });
  try {
    while (true) {
      const newline = buffer.subarray(0, length).indexOf(10);
      if (newline >= 0) return new TextDecoder().decode(buffer.subarray(0, newline));
      if (length === buffer.length) {
        throw new RangeError(`Control request exceeds ${MAX_REQUEST_BYTES} bytes`);
      }
      const n = await Promise.race([channel.read(buffer.subarray(length)), timeout]);
      if (n === null) return new TextDecoder().decode(buffer.subarray(0, length));
      length += n;
    }
  } finally {
    clearTimeout(timer);
  }
}
