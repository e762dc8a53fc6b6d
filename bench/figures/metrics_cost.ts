/**
 * The cost of metrics, A/B: the small-call load (N connections, each M sequential
 * CONNECT_GET_LIB_VERSION calls against bench/fast_daemon.ts) through two virtmux processes that
 * differ only in `[metrics]` and `[control]`: one with both off (no session observer at all), one
 * with `/metrics` served, the control socket on and a scrape every second during its samples.
 * Dedicated and shared paths, all four columns interleaved round by round.
 *
 * Run alone: `deno run -A bench/figures/metrics_cost.ts [ROUNDS] [CONNS] [CALLS]` prints the
 * figure as JSON.
 *
 * @module
 */

import { join } from "node:path";
import { freePort } from "../../tests/integration/helpers/ports.ts";
import { spawnProcess, waitForUnixSocket } from "../../tests/integration/helpers/process.ts";
import { makeTempDir, removeDir } from "../../tests/integration/helpers/tmp.ts";
import { V8_FLAGS } from "../../tools/v8_flags.ts";
import type { CallsResult } from "../load.ts";
import { runLoad } from "../load_runner.ts";
import { startFastDaemon, virtmuxConfig } from "../references.ts";
import { evaluate, type FigureRun, type Metric, ratiosOf } from "../report.ts";
import { interleave, progress } from "./_interleave.ts";

const MAIN_TS = new URL("../../main.ts", import.meta.url).pathname;

/** Options for {@linkcode measureMetricsCost}. */
export interface MetricsCostOptions {
  /** Samples per column. */
  rounds: number;
  /** Client connections per sample. */
  conns: number;
  /** Sequential calls per connection per sample. */
  calls: number;
}

/** One column: a path of one of the two virtmux processes. */
interface Column {
  id: string;
  socket: string;
  pid: number;
  /** The metrics port of the process with metrics on. */
  port?: number;
}

/** The config of the virtmux with metrics `on` or off, upstreams on the fast daemon `uri`. */
function config(dir: string, uri: string, port: number | undefined): string {
  const upstreams = [
    { name: "dedicated", uri, share: false },
    { name: "shared", uri, share: true },
  ];
  return virtmuxConfig({ dir, upstreams }) +
    (port === undefined
      ? `[control]\nsocket = ""\n`
      : `[metrics]\nlisten = "127.0.0.1:${port}"\n[control]\nsocket = "auto"\n`);
}

/** Scrapes `/metrics` on `port` once a second until the returned stop is called. */
function scrapeEverySecond(port: number): () => Promise<void> {
  let scraping = true;
  const loop = (async () => {
    while (scraping) {
      await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return () => {
    scraping = false;
    return loop;
  };
}

/** Measures small calls through virtmux with metrics off and on, dedicated and shared. */
export async function measureMetricsCost(options: MetricsCostOptions): Promise<FigureRun> {
  const metric = (id: string, label: string, better: "higher" | "lower", digits = 0): Metric => ({
    id,
    label,
    better,
    samples: {},
    digits,
  });
  const rate = metric("callsPerSec", "calls/s", "higher");
  const p50 = metric("p50Us", "p50 (µs)", "lower");
  const cpu = metric("cpuUsPerCall", "relay CPU per call (µs)", "lower", 1);
  const dir = await makeTempDir("metrics-cost");
  const stops: (() => Promise<unknown>)[] = [];
  const commands: Record<string, string> = {};
  const configs: Record<string, string> = {};
  try {
    const daemon = await startFastDaemon({ dir });
    stops.push(() => daemon.stop());
    commands["fast daemon"] = `deno run -A ./bench/fast_daemon.ts --socket ${daemon.socket}`;
    const uri = `test+unix:///default?socket=${daemon.socket}`;
    const columns: Column[] = [];
    for (const on of [false, true]) {
      const sub = join(dir, on ? "on" : "off");
      await Deno.mkdir(sub);
      const port = on ? freePort() : undefined;
      const text = config(sub, uri, port);
      const file = join(sub, "virtmux.toml");
      await Deno.writeTextFile(file, text);
      configs[`virtmux.toml (metrics ${on ? "on" : "off"})`] = text;
      const proc = spawnProcess(Deno.execPath(), {
        args: ["run", "-A", V8_FLAGS, MAIN_TS, "serve", "--config", file],
        logFile: join(sub, "virtmux.log"),
        name: `virtmux metrics ${on ? "on" : "off"}`,
      });
      stops.push(() => proc.kill({ graceMs: 3000 }));
      commands[`virtmux, metrics ${on ? "on" : "off"}`] =
        `deno run -A ${V8_FLAGS} ./main.ts serve --config ${file}`;
      for (const name of ["dedicated", "shared"]) {
        const socket = join(sub, `${name}.sock`);
        await waitForUnixSocket(socket, { process: proc, timeoutMs: 20000 });
        columns.push({ id: `${name}_${on ? "on" : "off"}`, socket, pid: proc.pid, port });
      }
    }
    progress(
      `metrics cost: ${options.conns} connections × ${options.calls} calls, ` +
        `${options.rounds} rounds × ${columns.length} columns`,
    );
    await interleave(options.rounds, columns, async (column) => {
      const stopScraping = column.port === undefined ? undefined : scrapeEverySecond(column.port);
      const run = await runLoad<CallsResult>([
        "calls",
        "--socket",
        column.socket,
        "--conns",
        `${options.conns}`,
        "--calls",
        `${options.calls}`,
      ], { cpuPid: column.pid });
      await stopScraping?.();
      (rate.samples[column.id] ??= []).push(run.result.callsPerSec);
      (p50.samples[column.id] ??= []).push(run.result.p50Us);
      if (run.cpuMicros !== undefined) {
        (cpu.samples[column.id] ??= []).push(run.cpuMicros / run.result.calls);
      }
    });
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await removeDir(dir);
  }
  const pairs: [string, string][] = [["dedicated_on", "dedicated_off"], [
    "shared_on",
    "shared_off",
  ]];
  const figure = evaluate({
    id: "metrics_cost",
    title: "Metrics on vs off, small calls, fast upstream",
    description: `Per sample, ${options.conns} connections each make ${options.calls} ` +
      "sequential CONNECT_GET_LIB_VERSION calls (bench/load.ts calls) against the fast daemon, " +
      "through one of two virtmux processes that differ only in `[metrics]` and `[control]`: " +
      "off (no metrics, no control socket: no session observer at all) or on (`/metrics` " +
      "served and scraped every second during the sample, the control socket on). Relay CPU " +
      "is the virtmux process's user+system time over the sample divided by the calls. All " +
      "four columns interleaved round by round. The issue asks that counting cost nothing " +
      "measurable on the hot path; on this shared machine calls/s swings widely between " +
      "samples, so CPU per call is the figure that resolves it.",
    columns: ["dedicated_off", "dedicated_on", "shared_off", "shared_on"],
    metrics: [rate, p50, cpu],
    goals: pairs.map(([subject, reference]) => ({
      text: `${subject.split("_")[0]}: relay CPU per call with metrics on ≤ 1.05× off`,
      metric: "cpuUsPerCall",
      subject,
      reference,
      op: "<=" as const,
      threshold: 1.05,
    })),
    ratios: ratiosOf("callsPerSec", pairs),
    commands: [
      `deno run -A bench/load.ts calls --socket SOCKET --conns ${options.conns} --calls ` +
      `${options.calls}`,
      `deno run -A bench/figures/metrics_cost.ts ${options.rounds} ${options.conns} ` +
      `${options.calls}   # this figure alone, as JSON`,
    ],
    notes: [],
  });
  return { figure, commands, configs };
}

/** Runs the figure alone and prints it as JSON. */
async function main(): Promise<void> {
  const [rounds = "7", conns = "16", calls = "3000"] = Deno.args;
  const run = await measureMetricsCost({
    rounds: Number(rounds),
    conns: Number(conns),
    calls: Number(calls),
  });
  console.log(JSON.stringify(run.figure, null, 1));
}

if (import.meta.main) await main();
