/**
 * The watchdog: well-behaved python-libvirt clients that keep asking the proxy questions whose
 * answers are known (getLibVersion, listAllDomains, lookupByName('test').info()) while the fuzzer
 * runs, one JSON line per round. A wrong answer, a libvirt error, or silence longer than the
 * stall limit is a failure, recorded with the cases that were running at that moment.
 *
 * @module
 */

import { PYTHON } from "../tests/integration/helpers/python.ts";
import { SpawnedProcess } from "../tests/integration/helpers/process.ts";
import { LIB_VERSION } from "./generators.ts";

/** The python loop: argv is URI, mode ("persistent" | "reconnect"), pause in seconds, rounds. */
export const WATCHDOG_PY = `
import json, sys, time
import libvirt

uri, mode, pause, rounds = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
expected_version = ${LIB_VERSION}
libvirt.registerErrorHandler(lambda ctx, err: None, None)
conn = None
done = 0
while rounds <= 0 or done < rounds:
    done += 1
    began = time.monotonic()
    record = {"ok": True}
    try:
        if conn is None:
            conn = libvirt.open(uri)
        problems = []
        version = conn.getLibVersion()
        if version != expected_version:
            problems.append("getLibVersion answered %r, not %d" % (version, expected_version))
        names = [d.name() for d in conn.listAllDomains()]
        if "test" not in names:
            problems.append("listAllDomains answered %r, without 'test'" % (names,))
        info = conn.lookupByName("test").info()
        state, max_mem, memory, vcpus = info[0], info[1], info[2], info[3]
        if not (1 <= state <= 7) or max_mem <= 0 or memory <= 0 or memory > max_mem or vcpus < 1:
            problems.append("lookupByName('test').info() answered %r" % (info,))
        if problems:
            record = {"ok": False, "wrong": "; ".join(problems)}
    except libvirt.libvirtError as error:
        record = {"ok": False, "error": str(error)}
        try:
            if conn is not None:
                conn.close()
        except libvirt.libvirtError:
            pass
        conn = None
    if mode == "reconnect" and conn is not None:
        try:
            conn.close()
        except libvirt.libvirtError as error:
            record = {"ok": False, "error": "close: " + str(error)}
        conn = None
    record["ms"] = round((time.monotonic() - began) * 1000, 1)
    print(json.dumps(record), flush=True)
    time.sleep(pause)
`;

/** One failure a good client saw. */
export interface GoodFailure {
  /** Which client. */
  client: string;
  /** Seconds since the run began. */
  atSeconds: number;
  /** "wrong" (a wrong answer), "error" (a libvirt error) or "stall" (no answer in time). */
  what: "wrong" | "error" | "stall";
  /** The text. */
  message: string;
  /** Case indices running at that moment. */
  cases: number[];
}

/** Counters of one good client. */
export interface GoodClientStats {
  /** `dedicated/persistent` and the like. */
  name: string;
  /** Rounds answered. */
  rounds: number;
  /** Rounds with every answer right. */
  ok: number;
  /** Slowest round, in ms. */
  maxMs: number;
  /** Times the python process was restarted after a stall. */
  restarts: number;
}

/** Options for {@linkcode GoodClients}. */
export interface GoodClientsOptions {
  /** Clients to run: a name and a libvirt URI each. */
  clients: { name: string; uri: string; mode: "persistent" | "reconnect" }[];
  /** Pause between rounds, in seconds. */
  pauseSeconds: number;
  /** A round taking longer than this is a stall, in ms. */
  stallMs: number;
  /** The case indices running now, for failure reports. */
  running: () => number[];
  /** When the run began (performance.now()). */
  startedAt: number;
}

interface Runner {
  stats: GoodClientStats;
  uri: string;
  mode: string;
  process: SpawnedProcess | undefined;
  lastLineAt: number;
  reading: Promise<void>;
}

/** A set of python watchdog loops; {@linkcode GoodClients.stop} ends them. */
export class GoodClients {
  readonly #options: GoodClientsOptions;
  readonly #runners: Runner[] = [];
  readonly failures: GoodFailure[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopping = false;

  /** Prepares the clients; {@linkcode start} runs them. */
  constructor(options: GoodClientsOptions) {
    this.#options = options;
  }

  /** Counters per client. */
  get stats(): GoodClientStats[] {
    return this.#runners.map((r) => r.stats);
  }

  /** Failures of kind "wrong", "error" or "stall". */
  count(what: GoodFailure["what"]): number {
    return this.failures.filter((f) => f.what === what).length;
  }

  /** Starts every client and the stall check. */
  start(): void {
    for (const client of this.#options.clients) {
      const runner: Runner = {
        stats: { name: client.name, rounds: 0, ok: 0, maxMs: 0, restarts: 0 },
        uri: client.uri,
        mode: client.mode,
        process: undefined,
        lastLineAt: performance.now(),
        reading: Promise.resolve(),
      };
      this.#runners.push(runner);
      this.#spawn(runner);
    }
    this.#timer = setInterval(() => this.#checkStalls(), 500);
  }

  /** Waits until every client has completed at least `rounds` more rounds, or `timeoutMs`. */
  async settle(rounds: number, timeoutMs: number): Promise<boolean> {
    const target = this.#runners.map((r) => r.stats.rounds + rounds);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#runners.every((r, i) => r.stats.rounds >= target[i])) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  }

  /** Stops every client. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    await Promise.all(this.#runners.map(async (r) => {
      await r.process?.kill({ graceMs: 1000 });
      await r.reading;
    }));
  }

  #spawn(runner: Runner): void {
    const child = new Deno.Command(PYTHON, {
      args: [
        "-c",
        WATCHDOG_PY,
        runner.uri,
        runner.mode,
        String(this.#options.pauseSeconds),
        "0",
      ],
      env: { LC_ALL: "C", PYTHONDONTWRITEBYTECODE: "1", RUST_BACKTRACE: "0" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    const process = new SpawnedProcess(`watchdog ${runner.stats.name}`, child, []);
    runner.process = process;
    runner.lastLineAt = performance.now();
    const stderr = new Response(child.stderr).text();
    runner.reading = (async () => {
      let pending = "";
      const decoder = new TextDecoder();
      try {
        for await (const chunk of child.stdout) {
          pending += decoder.decode(chunk, { stream: true });
          let newline: number;
          while ((newline = pending.indexOf("\n")) >= 0) {
            this.#line(runner, pending.slice(0, newline));
            pending = pending.slice(newline + 1);
          }
        }
      } catch { /* killed */ }
      const status = await process.status;
      const text = (await stderr).trim();
      if (!this.#stopping && runner.process === process) {
        this.#fail(runner, "error", `python exited with ${status.code}: ${text.slice(-500)}`);
        runner.stats.restarts++;
        this.#spawn(runner);
      }
    })();
  }

  #line(runner: Runner, line: string): void {
    runner.lastLineAt = performance.now();
    let record: { ok: boolean; wrong?: string; error?: string; ms: number };
    try {
      record = JSON.parse(line);
    } catch {
      this.#fail(runner, "error", `unreadable line: ${line.slice(0, 200)}`);
      return;
    }
    runner.stats.rounds++;
    runner.stats.maxMs = Math.max(runner.stats.maxMs, record.ms);
    if (record.ok) runner.stats.ok++;
    else if (record.wrong !== undefined) this.#fail(runner, "wrong", record.wrong);
    else this.#fail(runner, "error", record.error ?? "unknown error");
  }

  #checkStalls(): void {
    const now = performance.now();
    for (const runner of this.#runners) {
      if (runner.process === undefined || now - runner.lastLineAt < this.#options.stallMs) continue;
      this.#fail(
        runner,
        "stall",
        `no answer for ${Math.round((now - runner.lastLineAt) / 1000)} s; restarted`,
      );
      runner.stats.restarts++;
      const old = runner.process;
      runner.process = undefined;
      void old.kill({ graceMs: 500 }).then(() => {
        if (!this.#stopping) this.#spawn(runner);
      });
    }
  }

  #fail(runner: Runner, what: GoodFailure["what"], message: string): void {
    this.failures.push({
      client: runner.stats.name,
      atSeconds: Math.round((performance.now() - this.#options.startedAt) / 100) / 10,
      what,
      message,
      cases: this.#options.running(),
    });
  }
}

/**
 * Runs one round of the watchdog against `uri` and says whether every answer was right.
 *
 * @returns undefined when right, else what went wrong
 */
export async function checkOnce(uri: string, timeoutMs = 30000): Promise<string | undefined> {
  const command = new Deno.Command(PYTHON, {
    args: ["-c", WATCHDOG_PY, uri, "reconnect", "0", "1"],
    env: { LC_ALL: "C", PYTHONDONTWRITEBYTECODE: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const process = new SpawnedProcess("watchdog check", command, []);
  const timer = setTimeout(() => void process.kill({ graceMs: 500 }), timeoutMs);
  try {
    const [out, err] = await Promise.all([
      new Response(command.stdout).text(),
      new Response(command.stderr).text(),
    ]);
    const status = await process.status;
    const line = out.trim().split("\n").at(-1) ?? "";
    try {
      const record = JSON.parse(line);
      return record.ok ? undefined : (record.wrong ?? record.error);
    } catch {
      return `python exited with ${status.code}: ${err.trim().slice(-300) || "(no output)"}`;
    }
  } finally {
    clearTimeout(timer);
    await process.kill({ graceMs: 500 });
  }
}
