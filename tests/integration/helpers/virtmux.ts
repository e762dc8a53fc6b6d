/**
 * Running the virtmux CLI (`main.ts` of this repository) under `deno run`: a long-lived
 * `virtmux serve`, or one-shot subcommands such as `check-config`, `version` and `stdio`.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  runCommand,
  type RunResult,
  type SpawnedProcess,
  spawnProcess,
  waitForUnixSocket,
} from "./process.ts";
import { V8_FLAGS } from "../../../tools/v8_flags.ts";
import { makeTempDir, removeDir } from "./tmp.ts";

/** Absolute path of the repository's main.ts. */
export const MAIN_TS: string = fileURLToPath(new URL("../../../main.ts", import.meta.url));

/** Options for {@linkcode startVirtmux}. */
export interface StartVirtmuxOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Extra arguments after `serve --config FILE`. */
  args?: string[];
  /**
   * How long until every listen socket must accept.
   *
   * @default {15000}
   */
  timeoutMs?: number;
  /** Sockets to wait for; defaults to every `socket = "..."` in the config. */
  waitForSockets?: string[];
}

/** A running `virtmux serve`. */
export interface Virtmux {
  /** The serve process's pid. */
  pid: number;
  /** The process handle (for signals other than a stop). */
  process: SpawnedProcess;
  /** The temp dir holding the config file and the log. */
  dir: string;
  /** The config file it was started with. */
  configPath: string;
  /** The file its stdout and stderr go to. */
  logFile: string;
  /** Everything it has written to stdout and stderr so far (kept after `stop()`). */
  logText(): Promise<string>;
  /**
   * Sends `signal` to the process group (SIGKILL after 10 s), keeps the log text, and removes the
   * temp dir; later calls return the same result.
   *
   * @param signal the first signal; `"SIGTERM"` by default
   * @returns the exit code
   */
  stop(signal?: Deno.Signal): Promise<{ code: number }>;
}

/**
 * Lists the `socket = "..."` values of a virtmux TOML config, in order.
 *
 * @param configToml the config text
 */
export function listenSockets(configToml: string): string[] {
  return [...configToml.matchAll(/^\s*socket\s*=\s*"([^"]+)"/gm)].map((m) => m[1]);
}

/**
 * Writes `configToml` to a temp file, starts `deno run -A main.ts serve --config FILE`, and waits
 * until every listen socket in the config accepts a connection.
 *
 * @param configToml the config text
 * @param options environment, extra arguments, timeout and sockets to wait for
 * @returns the running proxy; call `stop()` in a `finally`
 * @throws {Error} when a socket is not ready in time or the process exits, with its output
 */
export async function startVirtmux(
  configToml: string,
  options: StartVirtmuxOptions = {},
): Promise<Virtmux> {
  const dir = await makeTempDir("virtmux");
  const configPath = join(dir, "virtmux.toml");
  const logFile = join(dir, "virtmux.log");
  await Deno.writeTextFile(configPath, configToml);
  await Deno.writeTextFile(logFile, "");
  const proc = spawnProcess(Deno.execPath(), {
    args: [
      "run",
      "-A",
      V8_FLAGS,
      MAIN_TS,
      "serve",
      "--config",
      configPath,
      ...(options.args ?? []),
    ],
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", ...options.env },
    logFile,
    name: "virtmux serve",
  });
  let finalLog: string | undefined;
  const logText = async () => finalLog ?? await Deno.readTextFile(logFile).catch(() => "");
  try {
    for (const socket of options.waitForSockets ?? listenSockets(configToml)) {
      await waitForUnixSocket(socket, { process: proc, timeoutMs: options.timeoutMs ?? 15000 });
    }
  } catch (error) {
    await proc.kill({ graceMs: 2000 });
    const text = await logText();
    await removeDir(dir);
    throw new Error(`${(error as Error).message}\n--- virtmux output ---\n${text}`);
  }
  let stopped: Promise<{ code: number }> | undefined;
  return {
    pid: proc.pid,
    process: proc,
    dir,
    configPath,
    logFile,
    logText,
    stop(signal: Deno.Signal = "SIGTERM") {
      stopped ??= (async () => {
        const status = await proc.kill({ signal, graceMs: 10000 });
        finalLog = await logText();
        await removeDir(dir);
        return { code: status.code };
      })();
      return stopped;
    },
  };
}

/** Options for {@linkcode runVirtmux}. */
export interface RunVirtmuxOptions {
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Bytes or text written to stdin, which is then closed. */
  stdin?: string | Uint8Array;
  /**
   * Kill it after this long.
   *
   * @default {30000}
   */
  timeoutMs?: number;
  /** Working directory. */
  cwd?: string;
}

/**
 * Runs one virtmux subcommand to completion: `deno run -A main.ts ...args`.
 *
 * @param args the subcommand and its arguments, e.g. `["check-config", "--config", path]`
 * @param options environment, stdin, timeout and working directory
 * @returns exit code, stdout, stderr and whether it timed out
 */
export function runVirtmux(args: string[], options: RunVirtmuxOptions = {}): Promise<RunResult> {
  return runCommand(Deno.execPath(), ["run", "-A", V8_FLAGS, MAIN_TS, ...args], {
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", ...options.env },
    stdin: options.stdin,
    timeoutMs: options.timeoutMs ?? 30000,
    cwd: options.cwd,
  });
}
