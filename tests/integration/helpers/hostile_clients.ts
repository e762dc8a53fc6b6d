/**
 * Clients that try to make a proxy (or a daemon) hold memory: they open a connection properly and
 * then push the header and part or all of a big frame, at full speed or a trickle, and hold. Used
 * by the memory-limit integration test and the attack figure of the benchmark. One body buffer is
 * shared by every client, so that a thousand of them cost the attacker little.
 *
 * @module
 */

import { MessageStatus, MessageType, RemoteProc } from "../../../src/wire/constants.ts";
import { readHeader } from "../../../src/wire/header.ts";
import { concat, frame, FrameSource, words } from "../../_helpers/frames.ts";

const encoder = new TextEncoder();
/** REMOTE_PROC_DOMAIN_DEFINE_XML: a call whose argument may be large. */
const DOMAIN_DEFINE_XML = 11;

/** CONNECT_OPEN of `name`, serial 1. */
export function openFrame(name = "test:///default"): Uint8Array {
  const raw = encoder.encode(name);
  const padded = new Uint8Array((raw.length + 3) & ~3);
  padded.set(raw);
  return frame({
    procedure: RemoteProc.CONNECT_OPEN,
    serial: 1,
    body: concat(words(1, raw.length), padded, words(0)),
  });
}

/** The header of a CALL whose whole frame is `length` bytes (DOMAIN_DEFINE_XML, serial 7). */
export function bigCallHeader(length: number): Uint8Array {
  return frame({ procedure: DOMAIN_DEFINE_XML, serial: 7, length });
}

/** Connects to `socket` and opens `test:///default`; rejects unless the open succeeds. */
export async function openedConnection(socket: string): Promise<Deno.UnixConn> {
  const conn = await Deno.connect({ transport: "unix", path: socket });
  try {
    await writeAll(conn, openFrame());
    const reply = await new FrameSource(conn).next();
    if (reply === null) {
      throw new Error(`"${socket}" closed the connection before answering the open`);
    }
    const header = readHeader(reply);
    if (header.type !== MessageType.REPLY || header.status !== MessageStatus.OK) {
      throw new Error(`Open through "${socket}" failed: status ${header.status}`);
    }
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** Writes all of `data`. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

/** Options for {@linkcode pushBigFrame}. */
export interface PushOptions {
  /** The frame's declared length, length word included. */
  frameBytes: number;
  /** How many of its bytes to send (header included); the rest never comes. */
  sendBytes: number;
  /** A shared body buffer of at least `sendBytes - 28` bytes. */
  body: Uint8Array;
  /** Bytes per write and pause between writes, for a trickle; full speed when absent. */
  trickle?: { chunk: number; everyMs: number };
  /** Stops the push early. */
  signal?: AbortSignal;
}

/**
 * Sends the header and `sendBytes - 28` body bytes of a big frame on `conn`. Resolves when they
 * are written or the connection failed (closed by the proxy: "closed"); never rejects.
 */
export async function pushBigFrame(conn: Deno.Conn, options: PushOptions): Promise<string> {
  const body = options.body.subarray(0, options.sendBytes - 28);
  try {
    await writeAll(conn, bigCallHeader(options.frameBytes));
    if (options.trickle === undefined) {
      const chunk = 1 << 20;
      for (let at = 0; at < body.length && !options.signal?.aborted; at += chunk) {
        await writeAll(conn, body.subarray(at, at + chunk));
      }
    } else {
      const { chunk, everyMs } = options.trickle;
      for (let at = 0; at < body.length && !options.signal?.aborted; at += chunk) {
        await writeAll(conn, body.subarray(at, at + chunk));
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    }
    return options.signal?.aborted ? "aborted" : "sent";
  } catch {
    return "closed";
  }
}

/** Resolves to "eof" when the proxy closes `conn`, or "timeout" after `ms`. */
export async function waitForClose(conn: Deno.Conn, ms: number): Promise<"eof" | "timeout"> {
  const buffer = new Uint8Array(65536);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) =>
    timer = setTimeout(() => resolve("timeout"), ms)
  );
  try {
    while (true) {
      const n = await Promise.race([conn.read(buffer).catch(() => null), timeout]);
      if (n === "timeout") return "timeout";
      if (n === null) return "eof";
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Resident memory of process `pid` in bytes (VmRSS), or undefined once it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const kib = status.match(/^VmRSS:\s+(\d+) kB/m)?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** Samples the RSS of `pid` every `everyMs` until stopped; `peak` is the largest seen. */
export class RssSampler {
  /** Largest RSS seen, in bytes. */
  peak = 0;
  readonly #timer: ReturnType<typeof setInterval>;

  /** Starts sampling `pid`. */
  constructor(pid: number, everyMs = 50) {
    const sample = () => {
      const rss = rssBytes(pid);
      if (rss !== undefined && rss > this.peak) this.peak = rss;
    };
    sample();
    this.#timer = setInterval(sample, everyMs);
  }

  /** Stops sampling; returns the peak in bytes. */
  stop(): number {
    clearInterval(this.#timer);
    return this.peak;
  }
}
