/**
 * Running the load generator (bench/load.ts) as a child process from the bench, optionally pinned,
 * and reading a proxy's CPU time around exactly the timed part of the run.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { cpuDelta, treeCpuMicros } from "./procstat.ts";

/** Absolute path of bench/load.ts. */
export const LOAD_TS: string = fileURLToPath(new URL("./load.ts", import.meta.url));

/** Options for {@linkcode runLoad}. */
export interface RunLoadOptions {
  /** Command prefix, e.g. `["taskset", "-c", "0"]`. */
  prefix?: string[];
  /** Pid whose process tree's CPU time is read before and after the timed part. */
  cpuPid?: number;
  /**
   * Kill the load generator after this long.
   *
   * @default {300000}
   */
  timeoutMs?: number;
}

/** What {@linkcode runLoad} returns: the generator's JSON result plus the proxy's CPU µs. */
export interface LoadRun<T> {
  /** The generator's result line. */
  result: T;
  /**
   * CPU µs the `cpuPid` tree spent in the timed part, from schedstat (ns resolution); undefined
   * without `cpuPid`.
   */
  cpuMicros?: number;
  /** The same from /proc/PID/stat utime+stime (10 ms ticks per process). */
  cpuStatMicros?: number;
}

/** The deno command line that runs the load generator with `args`. */
export function loadCommand(args: string[], prefix: string[] = []): string[] {
  return [...prefix, Deno.execPath(), "run", "-A", LOAD_TS, ...args];
}

/**
 * Runs `deno run -A bench/load.ts ...args --sync` and returns its result; with `cpuPid`, also the
 * CPU time that process tree spent between the generator's "ready" and its result.
 *
 * @throws {Error} when the generator fails or prints an error
 */
export async function runLoad<T>(
  args: string[],
  options: RunLoadOptions = {},
): Promise<LoadRun<T>> {
  const [command, ...rest] = loadCommand([...args, "--sync"], options.prefix);
  const child = new Deno.Command(command, {
    args: rest,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, options.timeoutMs ?? 300000);
  const stderr = new Response(child.stderr).text();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const nextLine = async (): Promise<Record<string, unknown>> => {
    while (!text.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Load generator ended early: ${(await stderr).trim()}`);
      text += value;
    }
    const at = text.indexOf("\n");
    const line = text.slice(0, at);
    text = text.slice(at + 1);
    const parsed = JSON.parse(line);
    if (parsed.error) throw new Error(`Load generator failed: ${parsed.error}`);
    return parsed;
  };
  try {
    const ready = await nextLine();
    if (ready.phase !== "ready") throw new Error(`Load generator said ${JSON.stringify(ready)}`);
    const pid = options.cpuPid;
    const before = pid === undefined ? undefined : treeCpuMicros(pid, "schedstat");
    const beforeStat = pid === undefined ? undefined : treeCpuMicros(pid, "stat");
    await writer.write(new TextEncoder().encode("go\n"));
    const result = await nextLine() as T;
    const after = pid === undefined ? undefined : treeCpuMicros(pid, "schedstat");
    const afterStat = pid === undefined ? undefined : treeCpuMicros(pid, "stat");
    await writer.close();
    await child.status;
    return {
      result,
      cpuMicros: before && after ? cpuDelta(before, after) : undefined,
      cpuStatMicros: beforeStat && afterStat ? cpuDelta(beforeStat, afterStat) : undefined,
    };
  } finally {
    clearTimeout(timer);
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await reader.cancel().catch(() => {});
    await stderr.catch(() => "");
  }
}

/** Options for {@linkcode runLoadOnce}. */
export interface RunLoadOnceOptions {
  /** Command prefix, e.g. `["taskset", "-c", "0"]`. */
  prefix?: string[];
  /**
   * Kill the load generator after this long.
   *
   * @default {300000}
   */
  timeoutMs?: number;
}

/**
 * Runs a load mode without the sync handshake (`seq`) and returns its JSON result line.
 *
 * @throws {Error} when it fails
 */
export async function runLoadOnce<T>(
  args: string[],
  options: RunLoadOnceOptions = {},
): Promise<T> {
  const [command, ...rest] = loadCommand(args, options.prefix);
  const child = new Deno.Command(command, {
    args: rest,
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
  }, options.timeoutMs ?? 300000);
  try {
    const output = await child.output();
    const text = new TextDecoder().decode(output.stdout).trim();
    const parsed = JSON.parse(text.split("\n").pop() || "{}");
    if (parsed.error || !output.success) {
      throw new Error(
        `Load generator failed: ${parsed.error ?? new TextDecoder().decode(output.stderr)}`,
      );
    }
    return parsed as T;
  } finally {
    clearTimeout(timer);
  }
}

/** A long-lived group of idle clients (`load.ts idle`), kept open until {@linkcode release}. */
export interface IdleClients {
  /** Clients that opened. */
  opened: number;
  /** Clients that failed to open. */
  failed: number;
  /** The first failure, if any. */
  firstError: string;
  /** The generator's pid. */
  pid: number;
  /** Closes every client and waits for the generator to exit. */
  release(): Promise<void>;
}

/**
 * Starts `load.ts idle --count N` and waits until every client has opened (or failed).
 *
 * @throws {Error} when the generator dies first
 */
export async function holdIdleClients(
  args: string[],
  options: RunLoadOnceOptions = {},
): Promise<IdleClients> {
  const [command, ...rest] = loadCommand(args, options.prefix);
  const child = new Deno.Command(command, {
    args: rest,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      throw new Error("Idle-client generator ended before it was ready");
    }
    text += value;
  }
  const ready = JSON.parse(text.slice(0, text.indexOf("\n")));
  if (ready.error) {
    await child.status;
    throw new Error(`Idle-client generator failed: ${ready.error}`);
  }
  return {
    opened: ready.opened,
    failed: ready.failed,
    firstError: ready.firstError,
    pid: child.pid,
    async release() {
      await writer.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 30000);
      await child.status;
      clearTimeout(timer);
      await reader.cancel().catch(() => {});
    },
  };
}
