/**
 * A {@linkcode Channel} over a child process's stdin and stdout: the carrier of the ssh and ext
 * transports, as libvirt's virNetSocketNewConnectCommand (src/rpc/virnetsocket.c) is for its own.
 *
 * The child runs in a process group of its own (`detached: true`), so that closing the channel
 * ends the command and everything it started (ssh's ProxyCommand, `sh -c`, `nc`): a grandchild
 * holding stdout would otherwise keep the stream open after the child is gone. Its stderr is
 * logged line by line under the upstream's name and kept in a bounded tail, which
 * {@linkcode DiagnosticChannel.diagnostics} returns so that a failure before the first reply can
 * tell the client why ("Permission denied (publickey)").
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { rootLogger } from "../log/logger.ts";
import { describeCause } from "./_dial_common.ts";
import { type Channel, DialError } from "./channel.ts";

/**
 * A channel that can say what went wrong beyond "end of file": the child transports (ssh, ext)
 * return one. The proxy calls {@linkcode channelDiagnostics} when an upstream fails before its
 * first reply and puts the text in the error the client sees.
 */
export interface DiagnosticChannel extends Channel {
  /**
   * The last lines the command wrote to stderr, trimmed (at most
   * {@linkcode ChildChannelOptions.stderrTailBytes}), and its exit status once it has exited with
   * a failure; "" when there is nothing to say.
   */
  diagnostics(): string;
}

/** The diagnostics of `channel` when it has any (see {@linkcode DiagnosticChannel}), else "". */
export function channelDiagnostics(channel: Channel): string {
  const candidate = channel as Partial<DiagnosticChannel>;
  return typeof candidate.diagnostics === "function" ? candidate.diagnostics() : "";
}

/** Options for {@linkcode spawnChannel}. */
export interface ChildChannelOptions {
  /** The upstream's name, for logs. */
  name: string;
  /** Where stderr lines and the exit status go. Defaults to the root logger. */
  logger?: Logger;
  /**
   * Bytes of stderr kept for {@linkcode DiagnosticChannel.diagnostics}.
   *
   * @default {4096}
   */
  stderrTailBytes?: number;
  /**
   * Time the command gets to end after SIGTERM before its group gets SIGKILL, in ms.
   *
   * @default {2000}
   */
  killGraceMs?: number;
  /**
   * Size of the internal read buffer (stdout is read into it, then copied to the caller's).
   *
   * @default {65536}
   */
  readBufferBytes?: number;
}

/** The result of a child's run, as {@linkcode ChildChannel.status} resolves it. */
export interface ChildExit {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** The signal that ended it, if one did. */
  signal: Deno.Signal | null;
}

const decoder = new TextDecoder();
/** Longest stderr line logged as one record; longer ones are split. */
const MAX_LOG_LINE = 2048;
/** How long, after stdout ends, a read waits for the rest of stderr and the exit status. */
const STDERR_DRAIN_MS = 500;

/**
 * A running command as a channel. Make one with {@linkcode spawnChannel}.
 *
 * Reads use one BYOB reader on stdout with an internal buffer that is reused for every read (the
 * stream hands its memory back with each result), so a read allocates nothing; the bytes are
 * copied once into the caller's buffer, which is never detached.
 */
export class ChildChannel implements DiagnosticChannel {
  #child: Deno.ChildProcess;
  #name: string;
  #logger: Logger;
  #killGraceMs: number;
  #reader: ReadableStreamBYOBReader;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buffer: ArrayBuffer;
  #pending: Uint8Array | null = null;
  #stdoutDone = false;
  #stderrTail = "";
  #stderrTailBytes: number;
  #stderrDone: Promise<void>;
  #exit: ChildExit | undefined;
  #closed = false;
  #writeClosed = false;
  /** Resolves when the child has exited and been reaped. */
  readonly status: Promise<ChildExit>;

  /** Wraps a spawned child; use {@linkcode spawnChannel} instead. */
  constructor(child: Deno.ChildProcess, options: ChildChannelOptions) {
    this.#child = child;
    this.#name = options.name;
    this.#logger = (options.logger ?? rootLogger).child({ upstream: options.name, pid: child.pid });
    this.#killGraceMs = options.killGraceMs ?? 2000;
    this.#stderrTailBytes = options.stderrTailBytes ?? 4096;
    this.#buffer = new ArrayBuffer(options.readBufferBytes ?? 65536);
    this.#reader = child.stdout.getReader({ mode: "byob" });
    this.#writer = child.stdin.getWriter();
    this.#writer.closed.catch(() => {});
    this.#stderrDone = this.#pumpStderr(child.stderr);
    this.status = child.status.then((status) => {
      this.#exit = { code: status.code, signal: status.signal };
      if (status.success) {
        this.#logger.debug("Upstream command exited", { code: status.code });
      } else if (this.#closed) {
        this.#logger.debug("Upstream command ended", {
          code: status.code,
          signal: status.signal ?? undefined,
        });
      } else {
        this.#logger.warning("Upstream command exited", {
          code: status.code,
          signal: status.signal ?? undefined,
        });
      }
      if (!this.#closed) this.#killGroup("SIGKILL"); // leftovers of a group whose leader is gone
      return this.#exit;
    });
  }

  /** The child's process id, which is also its process group id. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Reads stdout into `buffer`; null once the child's stdout has ended. */
  async read(buffer: Uint8Array): Promise<number | null> {
    if (buffer.length === 0) return 0;
    let chunk = this.#pending;
    if (chunk === null) {
      if (this.#stdoutDone || this.#closed) return null;
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await this.#reader.read(new Uint8Array(this.#buffer));
      } catch (error) {
        if (this.#closed) return null;
        throw error;
      }
      if (result.value) this.#buffer = result.value.buffer as ArrayBuffer;
      if (result.done || !result.value || result.value.length === 0) {
        this.#stdoutDone = true;
        await this.#drainStderr();
        return null;
      }
      chunk = result.value;
    }
    const count = Math.min(chunk.length, buffer.length);
    buffer.set(count === chunk.length ? chunk : chunk.subarray(0, count));
    this.#pending = count === chunk.length ? null : chunk.subarray(count);
    return count;
  }

  /** Writes all of `data` to the child's stdin. */
  async write(data: Uint8Array): Promise<number> {
    if (this.#closed || this.#writeClosed) {
      throw new Deno.errors.BrokenPipe(`Cannot write to upstream "${this.#name}": channel closed`);
    }
    try {
      await this.#writer.write(data);
    } catch (error) {
      throw new Deno.errors.BrokenPipe(
        `Cannot write to upstream "${this.#name}": the command no longer reads its input`,
        { cause: error },
      );
    }
    return data.length;
  }

  /** Closes the child's stdin; its stdout stays readable. */
  async closeWrite(): Promise<void> {
    if (this.#writeClosed || this.#closed) return;
    this.#writeClosed = true;
    try {
      await this.#writer.close();
    } catch { /* the child has gone */ }
  }

  /**
   * Ends the child's whole process group (SIGTERM, then SIGKILL after the grace time or as soon
   * as the leader exits) and reaps it. Safe to call more than once.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader.cancel().catch(() => {});
    this.#writer.abort().catch(() => {});
    if (this.#exit !== undefined) {
      this.#killGroup("SIGKILL");
      return;
    }
    this.#killGroup("SIGTERM");
    const timer = setTimeout(() => this.#killGroup("SIGKILL"), this.#killGraceMs);
    this.status.then(() => {
      clearTimeout(timer);
      this.#killGroup("SIGKILL");
    });
  }

  /** See {@linkcode DiagnosticChannel.diagnostics}. */
  diagnostics(): string {
    const tail = this.#stderrTail.trim();
    const exit = this.#exit;
    if (exit === undefined || exit.code === 0 || this.#closed) return tail;
    const how = exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}`;
    return tail ? `${tail} (command ${how})` : `command ${how}`;
  }

  #killGroup(signal: Deno.Signal): void {
    try {
      Deno.kill(-this.#child.pid, signal);
    } catch { /* the group is gone */ }
  }

  async #drainStderr(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([this.#stderrDone, this.status]),
      new Promise<void>((resolve) => timer = setTimeout(resolve, STDERR_DRAIN_MS)),
    ]);
    clearTimeout(timer);
  }

  async #pumpStderr(stream: ReadableStream<Uint8Array>): Promise<void> {
    let line = "";
    try {
      for await (const chunk of stream) {
        const text = decoder.decode(chunk, { stream: true });
        this.#stderrTail += text;
        if (this.#stderrTail.length > this.#stderrTailBytes) {
          this.#stderrTail = this.#stderrTail.slice(-this.#stderrTailBytes);
        }
        line += text;
        let newline: number;
        while ((newline = line.indexOf("\n")) >= 0) {
          this.#logLine(line.slice(0, newline));
          line = line.slice(newline + 1);
        }
        while (line.length > MAX_LOG_LINE) {
          this.#logLine(line.slice(0, MAX_LOG_LINE));
          line = line.slice(MAX_LOG_LINE);
        }
      }
    } catch { /* cancelled on close */ }
    if (line) this.#logLine(line);
  }

  #logLine(line: string): void {
    const text = line.replace(/\r$/, "");
    if (text.trim()) this.#logger.warning("Upstream command stderr", { stderr: text });
  }
}

/**
 * Runs `argv` (no shell) in its own process group and returns a channel over its stdin and
 * stdout.
 *
 * @throws {Deno.errors.NotFound} and the like when the command cannot be started; callers turn it
 * into a {@linkcode DialError}.
 */
export function spawnChannel(argv: readonly string[], options: ChildChannelOptions): ChildChannel {
  if (argv.length === 0) throw new TypeError("Cannot run upstream command: empty command line");
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  return new ChildChannel(child, options);
}

/**
 * Spawns `argv` as an upstream's channel (the ssh and ext transports), logging the command line.
 *
 * @param what The start of the error text: "Cannot connect to upstream "hv1" (URI)".
 * @throws {DialError} when the command cannot be started.
 */
export function startCommand(
  what: string,
  argv: string[],
  name: string,
  logger: Logger | undefined,
): ChildChannel {
  logger?.debug("Starting upstream command", { upstream: name, argv: argv.join(" ") });
  try {
    return spawnChannel(argv, { name, logger });
  } catch (error) {
    throw new DialError(`${what}: cannot run "${argv[0]}": ${describeCause(error)}`, {
      cause: error,
    });
  }
}
