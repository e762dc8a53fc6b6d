/**
 * Carrying out a case's byte plan over real unix sockets (or a network front, over TCP or inside
 * TLS after libvirt's confirmation byte): connect, write, drip, pause, half-close,
 * read (or never read), and check the replies that well-formed traffic must get. Every wait is
 * bounded by the case's deadline; when it passes, the connections are closed.
 *
 * @module
 */

import { MessageStatus, MessageType } from "../src/wire/constants.ts";
import { errorMessage } from "../src/log/error_message.ts";
import { readU32 } from "../src/wire/header.ts";
import type { ConnectionPlan, Expectation, FuzzCase } from "./generators.ts";
import { LIB_VERSION } from "./generators.ts";

/** How one connection of a case ended. */
export type ConnectionEnd =
  | "closed_by_proxy"
  | "closed_by_fuzzer"
  | "connect_error"
  | "write_error"
  | "deadline";

/** What one connection saw. */
export interface ConnectionResult {
  /** How it ended. */
  end: ConnectionEnd;
  /** REPLY frames received. */
  replies: number;
  /** Bytes received. */
  bytes: number;
  /** Replies to well-formed calls that were missing or wrong. */
  mismatches: string[];
  /** The error text, for connect and write errors. */
  error?: string;
}

/** What a case saw. */
export interface CaseResult {
  /** Connections by how they ended. */
  ends: Partial<Record<ConnectionEnd, number>>;
  /** Replies to well-formed calls that were missing or wrong, with the connection's number. */
  mismatches: string[];
  /** Connect errors (the listener refused or was gone). */
  connectErrors: string[];
  /** Wall time in ms. */
  ms: number;
}

/** Where a case connects: a unix socket's path, or a network front. */
export type FuzzTarget = string | {
  /** Plain TCP, or TLS with a client certificate (the fuzz bytes then go inside TLS). */
  transport: "tcp" | "tls";
  /** Address of the front. */
  hostname: string;
  /** Port of the front. */
  port: number;
  /** TLS: the CA certificate and the client certificate and key, PEM text. */
  tls?: { caCert: string; cert: string; key: string };
};

/** Options for {@linkcode runCase}. */
export interface RunCaseOptions {
  /** Longest a case may take, in ms. */
  deadlineMs: number;
}

/**
 * Runs every connection of `fuzzCase` against `path`.
 *
 * @param fuzzCase the case
 * @param path the listener's socket, or a network front
 * @param options the deadline
 */
export async function runCase(
  fuzzCase: FuzzCase,
  path: FuzzTarget,
  options: RunCaseOptions,
): Promise<CaseResult> {
  const began = performance.now();
  const deadline = Date.now() + options.deadlineMs;
  const result: CaseResult = { ends: {}, mismatches: [], connectErrors: [], ms: 0 };
  let next = 0;
  const worker = async () => {
    while (next < fuzzCase.connections.length) {
      const number = next++;
      const outcome = await runConnection(path, fuzzCase.connections[number], deadline);
      result.ends[outcome.end] = (result.ends[outcome.end] ?? 0) + 1;
      for (const m of outcome.mismatches) result.mismatches.push(`connection ${number}: ${m}`);
      if (outcome.end === "connect_error" && result.connectErrors.length < 5) {
        result.connectErrors.push(outcome.error ?? "");
      }
    }
  };
  const workers = Math.max(1, Math.min(fuzzCase.parallel, fuzzCase.connections.length));
  await Promise.all(Array.from({ length: workers }, worker));
  result.ms = performance.now() - began;
  return result;
}

interface ReadState {
  replies: number;
  bytes: number;
  eof: boolean;
  mismatches: string[];
  seen: Set<number>;
  wake: (() => void) | undefined;
}

const TIMEOUT = Symbol("timeout");

/** `promise`, or TIMEOUT once `deadline` (ms since epoch) passes. */
async function until<T>(promise: Promise<T>, deadline: number): Promise<T | typeof TIMEOUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<typeof TIMEOUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMEOUT), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Connects to `target`; over TLS, reads libvirt's confirmation byte first. */
async function connectTarget(target: FuzzTarget): Promise<Deno.Conn> {
  if (typeof target === "string") return await Deno.connect({ transport: "unix", path: target });
  if (target.tls === undefined) {
    return await Deno.connect({ hostname: target.hostname, port: target.port });
  }
  const conn = await Deno.connectTls({
    hostname: target.hostname,
    port: target.port,
    caCerts: [target.tls.caCert],
    cert: target.tls.cert,
    key: target.tls.key,
  });
  const confirmation = new Uint8Array(1);
  if ((await conn.read(confirmation)) !== 1 || confirmation[0] !== 1) {
    conn.close();
    throw new Error("no TLS confirmation byte");
  }
  return conn;
}

async function runConnection(
  path: FuzzTarget,
  plan: ConnectionPlan,
  deadline: number,
): Promise<ConnectionResult> {
  let conn: Deno.Conn;
  try {
    conn = await connectTarget(path);
  } catch (error) {
    return {
      end: "connect_error",
      replies: 0,
      bytes: 0,
      mismatches: [],
      error: errorMessage(error),
    };
  }
  const state: ReadState = {
    replies: 0,
    bytes: 0,
    eof: false,
    mismatches: [],
    seen: new Set(),
    wake: undefined,
  };
  const reading = plan.read === "drain" ? readLoop(conn, state, plan.expect) : Promise.resolve();
  let end: ConnectionEnd = "closed_by_fuzzer";
  let error: string | undefined;
  const waitFor = async (check: () => boolean): Promise<boolean> => {
    while (!check() && !state.eof) {
      const woke = new Promise<void>((resolve) => state.wake = resolve);
      if ((await until(woke, deadline)) === TIMEOUT) return false;
    }
    return check();
  };
  try {
    steps: for (const step of plan.steps) {
      if (state.eof) break;
      switch (step.op) {
        case "write":
          if ((await until(writeAll(conn, step.bytes), deadline)) === TIMEOUT) {
            end = "deadline";
            break steps;
          }
          break;
        case "drip":
          for (let at = 0; at < step.bytes.length; at += step.chunk) {
            if (Date.now() > deadline) {
              end = "deadline";
              break steps;
            }
            await writeAll(conn, step.bytes.subarray(at, at + step.chunk));
            if (step.everyMs > 0) await sleep(step.everyMs);
          }
          break;
        case "sleep":
          await sleep(step.ms);
          break;
        case "await":
          if (plan.read === "drain" && !(await waitFor(() => state.replies >= step.frames))) {
            if (plan.expect !== undefined) {
              state.mismatches.push(
                state.eof
                  ? `proxy closed the connection after ${state.replies} of ${step.frames} replies`
                  : `waited until the deadline for ${step.frames} replies, got ${state.replies}`,
              );
            }
            if (!state.eof) end = "deadline";
            break steps;
          }
          break;
        case "closeWrite":
          await conn.closeWrite();
          break;
      }
    }
    if (plan.holdMs > 0 && end === "closed_by_fuzzer") {
      const holdUntil = Math.min(deadline, Date.now() + plan.holdMs);
      // A draining connection stops holding as soon as the proxy closes it.
      await until(plan.read === "drain" ? reading : new Promise(() => {}), holdUntil);
    }
  } catch (e) {
    end = "write_error";
    error = errorMessage(e);
  }
  if (state.eof && end !== "deadline") end = "closed_by_proxy";
  try {
    conn.close();
  } catch { /* closed */ }
  await reading;
  if (plan.expect !== undefined && state.mismatches.length === 0) {
    for (const e of plan.expect) {
      if (!state.seen.has(e.serial)) state.mismatches.push(`no reply to serial ${e.serial}`);
    }
  }
  return { end, replies: state.replies, bytes: state.bytes, mismatches: state.mismatches, error };
}

/** Reads until EOF, counting REPLY frames and checking them against `expect`. */
async function readLoop(
  conn: Deno.Conn,
  state: ReadState,
  expect: Expectation[] | undefined,
): Promise<void> {
  const bySerial = new Map(expect?.map((e) => [e.serial, e]));
  let buf = new Uint8Array(65536);
  let held = 0;
  try {
    while (true) {
      if (held === buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = await conn.read(buf.subarray(held));
      if (n === null) break;
      state.bytes += n;
      held += n;
      let at = 0;
      while (held - at >= 4) {
        const length = readU32(buf, at);
        if (length < 28) {
          state.mismatches.push(`proxy sent a frame of length ${length}`);
          return;
        }
        if (held - at < length) break;
        const frame = buf.subarray(at, at + length);
        if (readU32(frame, 16) === MessageType.REPLY) {
          state.replies++;
          if (expect !== undefined) checkReply(frame, bySerial, state);
        }
        at += length;
      }
      buf.copyWithin(0, at, held);
      held -= at;
      state.wake?.();
    }
  } catch {
    // Reset by the proxy: the same as EOF here.
  } finally {
    state.eof = true;
    state.wake?.();
  }
}

function checkReply(frame: Uint8Array, bySerial: Map<number, Expectation>, state: ReadState): void {
  const serial = readU32(frame, 20);
  const expected = bySerial.get(serial);
  if (expected === undefined) {
    state.mismatches.push(`reply to serial ${serial}, which was never called`);
    return;
  }
  if (state.seen.has(serial)) {
    state.mismatches.push(`second reply to serial ${serial}`);
    return;
  }
  state.seen.add(serial);
  const procedure = readU32(frame, 12);
  const status = readU32(frame, 24);
  if (procedure !== expected.procedure) {
    state.mismatches.push(`reply to serial ${serial} names procedure ${procedure}`);
  } else if (status !== MessageStatus.OK) {
    state.mismatches.push(
      `procedure ${procedure} (serial ${serial}) failed: ${errorText(frame)}`,
    );
  } else if (expected.check === "libVersion") {
    const version = frame.length >= 36 ? readU32(frame, 28) * 2 ** 32 + readU32(frame, 32) : -1;
    if (version !== LIB_VERSION) {
      state.mismatches.push(`getLibVersion answered ${version}, not ${LIB_VERSION}`);
    }
  } else if (expected.check === "one") {
    const value = frame.length >= 32 ? readU32(frame, 28) : -1;
    if (value !== 1) state.mismatches.push(`procedure ${procedure} answered ${value}, not 1`);
  }
}

/** The message of a `remote_error` reply body, best effort. */
function errorText(frame: Uint8Array): string {
  if (frame.length < 44 || readU32(frame, 36) === 0) return "(no message)";
  const length = Math.min(readU32(frame, 40), frame.length - 44);
  return new TextDecoder().decode(frame.subarray(44, 44 + length));
}
