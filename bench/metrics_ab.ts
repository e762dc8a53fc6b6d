/**
 * The cost of metrics, A/B: the small-call figure (bench/figures/small_calls.ts: N connections,
 * each M sequential CONNECT_GET_LIB_VERSION calls against bench/fast_daemon.ts) through two
 * virtmux processes that differ only in `[metrics]` and `[control]`: one with both off (no
 * session observer at all), one with `/metrics` served, the control socket on and a scrape
 * every second during its runs. Dedicated and shared paths, interleaved; prints medians.
 *
 * `deno run -A bench/metrics_ab.ts [--rounds 7] [--conns 16] [--calls 3000]`
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeTempDir, removeDir } from "../tests/integration/helpers/tmp.ts";
import { spawnProcess, waitForUnixSocket } from "../tests/integration/helpers/process.ts";
import { freePort } from "../tests/integration/helpers/ports.ts";
import { V8_FLAGS } from "../tools/v8_flags.ts";
import type { CallsResult } from "./load.ts";
import { runLoad } from "./load_runner.ts";
import { startFastDaemon, virtmuxConfig } from "./references.ts";
import { interleave, progress } from "./figures/_interleave.ts";

const MAIN_TS = new URL("../main.ts", import.meta.url).pathname;

interface Column {
  id: string;
  socket: string;
  pid: number;
  port?: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string", default: "7" },
      conns: { type: "string", default: "16" },
      calls: { type: "string", default: "3000" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("Usage: deno run -A bench/metrics_ab.ts [--rounds N] [--conns N] [--calls N]");
    return;
  }
  const rounds = Number(values.rounds);
  const conns = Number(values.conns);
  const calls = Number(values.calls);
  const dir = await makeTempDir("metrics-ab");
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const daemon = await startFastDaemon({ dir });
    stops.push(() => daemon.stop());
    const uri = `test+unix:///default?socket=${daemon.socket}`;
    const columns: Column[] = [];
    for (const metrics of [false, true]) {
      const sub = join(dir, metrics ? "on" : "off");
      await Deno.mkdir(sub);
      const port = metrics ? freePort() : undefined;
      const config = virtmuxConfig({
        dir: sub,
        upstreams: [
          { name: "dedicated", uri, share: false },
          { name: "shared", uri, share: true },
        ],
      }) + (metrics
        ? `[metrics]\nlisten = "127.0.0.1:${port}"\n[control]\nsocket = "auto"\n`
        : `[control]\nsocket = ""\n`);
      const file = join(sub, "virtmux.toml");
      await Deno.writeTextFile(file, config);
      const proc = spawnProcess(Deno.execPath(), {
        args: ["run", "-A", V8_FLAGS, MAIN_TS, "serve", "--config", file],
        logFile: join(sub, "virtmux.log"),
        name: `virtmux ${metrics ? "on" : "off"}`,
      });
      stops.push(() => proc.kill({ graceMs: 3000 }));
      for (const name of ["dedicated", "shared"]) {
        const socket = join(sub, `${name}.sock`);
        await waitForUnixSocket(socket, { process: proc, timeoutMs: 20000 });
        columns.push({ id: `${name} ${metrics ? "on" : "off"}`, socket, pid: proc.pid, port });
      }
    }
    const samples: Record<string, { callsPerSec: number[]; p50Us: number[]; cpuUs: number[] }> = {};
    progress(`metrics A/B: ${conns} connections × ${calls} calls, ${rounds} rounds`);
    await interleave(rounds, columns, async (column) => {
      let scraping = true;
      const scraper = column.port === undefined ? Promise.resolve() : (async () => {
        while (scraping) {
          await fetch(`http://127.0.0.1:${column.port}/metrics`).then((r) => r.text());
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      })();
      const run = await runLoad<CallsResult>([
        "calls",
        "--socket",
        column.socket,
        "--conns",
        `${conns}`,
        "--calls",
        `${calls}`,
      ], { cpuPid: column.pid });
      scraping = false;
      await scraper;
      const entry = samples[column.id] ??= { callsPerSec: [], p50Us: [], cpuUs: [] };
      entry.callsPerSec.push(run.result.callsPerSec);
      entry.p50Us.push(run.result.p50Us);
      if (run.cpuMicros !== undefined) entry.cpuUs.push(run.cpuMicros / run.result.calls);
    });
    console.log("| path | calls/s (median) | p50 µs | relay CPU µs/call | samples calls/s |");
    console.log("|---|---|---|---|---|");
    for (const column of columns) {
      const s = samples[column.id];
      console.log(
        `| ${column.id} | ${median(s.callsPerSec).toFixed(0)} | ${median(s.p50Us).toFixed(0)} | ${
          median(s.cpuUs).toFixed(1)
        } | ${s.callsPerSec.map((v) => v.toFixed(0)).join(", ")} |`,
      );
    }
    if (columns[0].port === undefined) {
      const on = columns.find((c) => c.port !== undefined)!;
      const text = await (await fetch(`http://127.0.0.1:${on.port}/metrics`)).text();
      const lines = text.split("\n").filter((l) => l.startsWith("virtmux_calls_total"));
      console.log(`\nscrape after the run (${text.length} bytes), calls:\n${lines.join("\n")}`);
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await removeDir(dir);
  }
}

if (import.meta.main) await main();
