/**
 * Child processes for integration tests: each is spawned detached, in its own process group, so a
 * kill reaches its grandchildren too (a grandchild that holds stdout would otherwise keep the pipe
 * open after its parent died). Every spawned child is registered, so a test can check that nothing
 * it started is still running.
 *
 * @module
 */

/** Options for {@linkcode spawnProcess}. */
export interface SpawnOptions {
  /** Arguments after the command. */
  args?: string[];
  /** Variables added to (or overriding) the inherited environment. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /**
   * `"piped"` makes `child.stdin` writable; close it when done.
   *
   * @default {"null"}
   */
  stdin?: "null" | "piped";
  /** A file that stdout and stderr are appended to; without it both are discarded. */
  logFile?: string;
  /** A short name for messages; defaults to the command's basename. */
  name?: string;
}

/** Options for {@linkcode SpawnedProcess.kill}. */
export interface KillOptions {
  /**
   * The first signal sent to the whole group.
   *
   * @default {"SIGTERM"}
   */
  signal?: Deno.Signal;
  /**
   * How long the group gets to exit before SIGKILL.
   *
   * @default {5000}
   */
  graceMs?: number;
}

const registry = new Set<SpawnedProcess>();

/** A child process leading its own process group, registered until it and its group are gone. */
export class SpawnedProcess {
  /** Short name for messages. */
  readonly name: string;
  /** The child's pid, which is also its process group id. */
  readonly pid: number;
  /** The underlying Deno child (stdin is usable when spawned with `stdin: "piped"`). */
  readonly child: Deno.ChildProcess;
  /** Resolves when the group leader exits. */
  readonly status: Promise<Deno.CommandStatus>;
  #exitStatus: Deno.CommandStatus | undefined;
  #pumps: Promise<void>[];

  /** Wraps a spawned child; use {@linkcode spawnProcess} rather than calling this. */
  constructor(name: string, child: Deno.ChildProcess, pumps: Promise<void>[]) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.#pumps = pumps;
    this.status = child.status.then((status) => {
      this.#exitStatus = status;
      return status;
    });
    registry.add(this);
  }

  /** The leader's exit status, once it has exited. */
  get exitStatus(): Deno.CommandStatus | undefined {
    return this.#exitStatus;
  }

  /** True once the group leader has exited and been reaped. */
  get exited(): boolean {
    return this.#exitStatus !== undefined;
  }

  /** Pids of live (non-zombie) processes still in this child's process group. */
  groupMembers(): number[] {
    return processGroupMembers(this.pid);
  }

  /**
   * Sends a signal to the whole process group; a group that is already gone is not an error.
   *
   * @param signal the signal to send
   */
  signal(signal: Deno.Signal): void {
    signalGroup(this.pid, signal);
  }

  /**
   * Stops the child, its process group and every descendant that moved to a group of its own
   * (sshd, for one, puts each connection in a new session): `signal` to all those groups, then
   * SIGKILL to whatever is still there after `graceMs`. Also waits for the output pumps, so no
   * resource outlives the call.
   *
   * @param options the first signal and the grace period
   * @returns the leader's exit status
   */
  async kill(options: KillOptions = {}): Promise<Deno.CommandStatus> {
    const { signal = "SIGTERM", graceMs = 5000 } = options;
    const table = processTable();
    const ownGroup = table.find((p) => p.pid === Deno.pid)?.pgrp;
    const groups = new Set([this.pid]);
    for (const pid of descendantsIn(table, this.pid)) {
      const group = table.find((p) => p.pid === pid)!.pgrp;
      if (group !== ownGroup) groups.add(group);
    }
    const gone = () => this.exited && [...groups].every((g) => processGroupMembers(g).length === 0);
    if (!gone()) {
      for (const group of groups) signalGroup(group, signal);
      if (!(await pollUntil(gone, graceMs))) {
        for (const group of groups) signalGroup(group, "SIGKILL");
        await pollUntil(gone, 5000);
      }
    }
    const status = await this.status;
    await Promise.all(this.#pumps);
    if (this.#groupGone()) registry.delete(this);
    return status;
  }

  #groupGone(): boolean {
    return this.exited && processGroupMembers(this.pid).length === 0;
  }
}

/**
 * Spawns `command` detached, in a new process group, and registers it.
 *
 * @param command the program (a path, or a name looked up in PATH)
 * @param options arguments, environment, stdin mode and log file
 * @returns the running child
 */
export function spawnProcess(command: string, options: SpawnOptions = {}): SpawnedProcess {
  const name = options.name ?? command.split("/").pop()!;
  const logged = options.logFile !== undefined;
  const child = new Deno.Command(command, {
    args: options.args ?? [],
    env: { RUST_BACKTRACE: "0", ...options.env },
    cwd: options.cwd,
    stdin: options.stdin ?? "null",
    stdout: logged ? "piped" : "null",
    stderr: logged ? "piped" : "null",
    detached: true,
  }).spawn();
  const pumps: Promise<void>[] = [];
  if (logged) {
    for (const stream of [child.stdout, child.stderr]) {
      pumps.push(pumpToFile(stream, options.logFile!));
    }
  }
  return new SpawnedProcess(name, child, pumps);
}

async function pumpToFile(stream: ReadableStream<Uint8Array>, path: string): Promise<void> {
  // Written chunk by chunk (pipeTo buffers until the stream ends), so logs are readable live.
  const file = await Deno.open(path, { write: true, create: true, append: true });
  try {
    for await (const chunk of stream) {
      let written = 0;
      while (written < chunk.length) written += await file.write(chunk.subarray(written));
    }
  } catch {
    // A broken pipe only ends the log early.
  } finally {
    file.close();
  }
}

/** Registered children whose leader is still running or whose group still has members. */
export function leftoverProcesses(): SpawnedProcess[] {
  return [...registry].filter((p) => !p.exited || p.groupMembers().length > 0);
}

/**
 * Throws when any registered child (or anything left in its process group) is still running.
 *
 * @throws {Error} naming each leftover by name and pid
 */
export function assertNoLeftoverProcesses(): void {
  const left = leftoverProcesses();
  if (left.length > 0) {
    const names = left.map((p) =>
      `"${p.name}" (pid ${p.pid}, group ${p.groupMembers().join(",")})`
    );
    throw new Error(`Cannot finish cleanly: processes still running: ${names.join(", ")}`);
  }
}

/** Kills every registered child's group (for `finally` blocks after a failure). */
export async function killAllProcesses(): Promise<void> {
  await Promise.all([...registry].map((p) => p.kill({ graceMs: 2000 })));
}

/**
 * Sends a signal to process group `pgid`; ESRCH (no such group) is ignored.
 *
 * @param pgid the process group id (the leader's pid)
 * @param signal the signal to send
 */
export function signalGroup(pgid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pgid, signal);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound) && !isNoSuchProcess(error)) throw error;
  }
}

function isNoSuchProcess(error: unknown): boolean {
  return error instanceof Error && /ESRCH|No such process/i.test(error.message);
}

/**
 * True when `pid` names a live process (present in /proc and not a zombie).
 *
 * @param pid the process id
 */
export function isAlive(pid: number): boolean {
  const state = procState(pid);
  return state !== undefined && state.state !== "Z";
}

/** One row of the process table, from /proc/PID/stat. */
export interface ProcessInfo {
  /** Process id. */
  pid: number;
  /** Parent process id. */
  ppid: number;
  /** Process group id. */
  pgrp: number;
  /** One-letter state (`R`, `S`, `Z`, ...). */
  state: string;
}

/** Every process currently in /proc, zombies included. */
export function processTable(): ProcessInfo[] {
  const rows: ProcessInfo[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const info = procState(Number(entry.name));
    if (info) rows.push(info);
  }
  return rows;
}

/**
 * Pids of the live descendants of `pid` (children, their children, ...), whatever their group.
 *
 * @param pid the ancestor
 */
export function descendants(pid: number): number[] {
  return descendantsIn(processTable(), pid);
}

function descendantsIn(table: ProcessInfo[], pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const row of table) {
      if (row.ppid === parent && row.state !== "Z") {
        found.push(row.pid);
        queue.push(row.pid);
      }
    }
  }
  return found;
}

/**
 * Pids of live processes whose process group is `pgid`, found by scanning /proc.
 *
 * @param pgid the process group id
 */
export function processGroupMembers(pgid: number): number[] {
  return processTable().filter((p) => p.pgrp === pgid && p.state !== "Z").map((p) => p.pid);
}

function procState(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // The command name is in parentheses and may itself contain spaces or parentheses.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { pid, state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function pollUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

/** Options for {@linkcode waitFor} and the helpers built on it. */
export interface WaitOptions {
  /**
   * How long to wait in all.
   *
   * @default {15000}
   */
  timeoutMs?: number;
  /**
   * Pause between checks.
   *
   * @default {25}
   */
  intervalMs?: number;
  /** A child whose exit ends the wait early with an error (it would never become ready). */
  process?: SpawnedProcess;
}

/**
 * Polls `check` until it returns true, the deadline passes, or `options.process` exits.
 *
 * @param what what is awaited, for the error message
 * @param check returns (or resolves to) true when ready
 * @param options deadline, interval and the child being waited on
 * @throws {Error} on timeout or when the child exits first
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  options: WaitOptions = {},
): Promise<void> {
  const { timeoutMs = 15000, intervalMs = 25, process } = options;
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (await check()) return;
    if (process?.exited) {
      const code = process.exitStatus!.code;
      throw new Error(`Cannot wait for ${what}: "${process.name}" exited with code ${code}`);
    }
    if (Date.now() >= deadline) {
      throw new Error(`Cannot wait for ${what}: not ready after ${timeoutMs} ms`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Waits until a file or socket exists at `path`.
 *
 * @param path the path to watch
 * @param options deadline and the child being waited on
 */
export function waitForPath(path: string, options: WaitOptions = {}): Promise<void> {
  return waitFor(`"${path}"`, () => exists(path), options);
}

/**
 * Waits until a unix socket at `path` accepts a connection (the connection is closed at once).
 *
 * @param path the socket path
 * @param options deadline and the child being waited on
 */
export function waitForUnixSocket(path: string, options: WaitOptions = {}): Promise<void> {
  return waitFor(`unix socket "${path}"`, () => canConnect({ transport: "unix", path }), options);
}

/**
 * Waits until 127.0.0.1:`port` accepts a TCP connection (the connection is closed at once).
 *
 * @param port the TCP port
 * @param options deadline and the child being waited on
 */
export function waitForTcpPort(port: number, options: WaitOptions = {}): Promise<void> {
  return waitFor(
    `TCP port 127.0.0.1:${port}`,
    () => canConnect({ hostname: "127.0.0.1", port, transport: "tcp" }),
    options,
  );
}

async function canConnect(
  address: Deno.ConnectOptions | Deno.UnixConnectOptions,
): Promise<boolean> {
  try {
    const conn = await Deno.connect(address as Deno.ConnectOptions);
    conn.close();
    return true;
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Options for {@linkcode runCommand}. */
export interface RunOptions {
  /** Variables added to (or overriding) the inherited environment. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Bytes or text written to stdin, which is then closed; without it stdin is /dev/null. */
  stdin?: string | Uint8Array;
  /**
   * Kill the whole group after this long.
   *
   * @default {30000}
   */
  timeoutMs?: number;
}

/** What a one-shot command produced. */
export interface RunResult {
  /** Exit code (128 + signal number when killed by a signal). */
  code: number;
  /** Standard output as text. */
  stdout: string;
  /** Standard error as text. */
  stderr: string;
  /** True when the command was killed for running past `timeoutMs`. */
  timedOut: boolean;
}

/**
 * Runs a command to completion in its own process group, collecting its output; on timeout the
 * whole group is killed and the result says so.
 *
 * @param command the program
 * @param args its arguments
 * @param options environment, stdin and timeout
 * @returns exit code, stdout, stderr and whether it timed out
 */
export async function runCommand(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const { timeoutMs = 30000 } = options;
  const child = new Deno.Command(command, {
    args,
    env: { RUST_BACKTRACE: "0", ...options.env },
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const spawned = new SpawnedProcess(command.split("/").pop()!, child, []);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    spawned.kill({ graceMs: 2000 }).catch(() => {});
  }, timeoutMs);
  try {
    const stdin = options.stdin;
    const writing = stdin === undefined ? Promise.resolve() : writeAndClose(child.stdin, stdin);
    const [stdout, stderr] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      writing,
    ]);
    const status = await spawned.status;
    return { code: status.code, stdout, stderr, timedOut };
  } finally {
    clearTimeout(timer);
    await spawned.kill({ graceMs: 2000 });
  }
}

async function writeAndClose(
  stream: WritableStream<Uint8Array>,
  data: string | Uint8Array,
): Promise<void> {
  const writer = stream.getWriter();
  try {
    await writer.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
    await writer.close();
  } catch {
    // The child may exit without reading its input; its status tells the story.
  }
}
