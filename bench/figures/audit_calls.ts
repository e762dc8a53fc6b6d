/**
 * Small-call throughput with the audit log on against audit off, same run, interleaved: four
 * `virtmux serve` processes, each with one dedicated listener to the same fast daemon: one with
 * no `[audit]`, and three with every call at level `none`, `metadata` and `request_response`
 * (sealing on, the default block backpressure). The load is the small-call figure's: N
 * connections of sequential CONNECT_GET_LIB_VERSION calls.
 *
 * Run alone: `deno run -A bench/figures/audit_calls.ts [--rounds N] [--calls M]` prints the figure
 * as JSON; `deno task bench -- --only audit` puts it in BENCHMARKS.md.
 *
 * @module
 */

import { join } from "node:path";
import { keyId } from "../../src/audit/log/chain.ts";
import { formatKeyState, newInitialKey, writeNewKeyFile } from "../../src/audit/log/key_file.ts";
import { makeTempDir, removeDir } from "../../tests/integration/helpers/tmp.ts";
import type { CallsResult } from "../load.ts";
import { loadCommand, runLoad } from "../load_runner.ts";
import { type Relay, shellWords, startFastDaemon, startVirtmux } from "../references.ts";
import { evaluate, type Figure, type Metric, ratiosOf } from "../report.ts";
import { interleave, progress } from "./_interleave.ts";

/** The columns: audit off, and on at two levels. */
const MODES = ["audit_off", "none", "metadata", "request_response"] as const;
type Mode = typeof MODES[number];

/** Options for {@linkcode measureAuditCalls}. */
export interface AuditCallsOptions {
  /** Connections. */
  conns: number;
  /** Timed calls per connection. */
  calls: number;
  /** Samples per column. */
  rounds: number;
}

/** The `[audit]` section of a mode; empty for audit off. */
async function auditConfig(mode: Mode, dir: string): Promise<string> {
  if (mode === "audit_off") return "";
  const key = newInitialKey();
  const state = join(dir, `${mode}.state`);
  await writeNewKeyFile(state, formatKeyState({ keyId: keyId(key), epoch: 0, key }));
  return [
    "[audit]",
    "enabled = true",
    `path = "${join(dir, mode, "audit.jsonl")}"`,
    `key_state = "${state}"`,
    "[[audit.rule]]",
    `level = "${mode}"`,
    "",
  ].join("\n");
}

function metric(id: string, label: string, better: "higher" | "lower", digits = 0): Metric {
  return { id, label, better, samples: {}, digits };
}

/** Samples small-call throughput through the four virtmux processes, interleaved. */
export async function measureAuditCalls(options: AuditCallsOptions): Promise<Figure> {
  const dir = await makeTempDir("bench-audit");
  const started: Relay[] = [];
  const metrics = {
    callsPerSec: metric("callsPerSec", "calls/s", "higher"),
    p50Us: metric("p50Us", "p50 round trip (µs)", "lower"),
    cpuUsPerCall: metric("cpuUsPerCall", "virtmux CPU per call, schedstat (µs)", "lower", 1),
  };
  const commands: string[] = [];
  const configs: string[] = [];
  try {
    const daemon = await startFastDaemon({ dir });
    started.push(daemon);
    const paths: { mode: Mode; socket: string; pid: number }[] = [];
    for (const mode of MODES) {
      const extraConfig = await auditConfig(mode, dir);
      const virtmux = await startVirtmux({
        dir,
        id: `virtmux_${mode}`,
        upstreams: [{
          name: mode,
          uri: `test+unix:///default?socket=${daemon.socket}`,
          share: false,
        }],
        extraConfig,
      });
      started.push(virtmux);
      paths.push({ mode, socket: virtmux.sockets[mode], pid: virtmux.pid });
      configs.push(`${mode}: ${virtmux.command}`);
    }
    const args = (socket: string) => [
      "calls",
      "--socket",
      socket,
      "--conns",
      `${options.conns}`,
      "--calls",
      `${options.calls}`,
    ];
    for (const path of paths) {
      commands.push(`${shellWords(loadCommand(args(path.socket)))}   # ${path.mode}`);
    }
    progress(
      `audit: ${options.conns} connections × ${options.calls} calls, ${options.rounds} rounds`,
    );
    await interleave(options.rounds, paths, async (path) => {
      const run = await runLoad<CallsResult>(args(path.socket), { cpuPid: path.pid });
      const push = (m: Metric, v: number) => (m.samples[path.mode] ??= []).push(v);
      push(metrics.callsPerSec, run.result.callsPerSec);
      push(metrics.p50Us, run.result.p50Us);
      if (run.cpuMicros !== undefined) push(metrics.cpuUsPerCall, run.cpuMicros / run.result.calls);
    });
  } finally {
    for (const relay of started.reverse()) await relay.stop().catch(() => {});
    await removeDir(dir);
  }
  return {
    id: "audit",
    title: `Audit on vs off, small calls, ${options.conns} connections, dedicated, fast upstream`,
    description: `${options.conns} connections, each ${options.calls} sequential ` +
      "CONNECT_GET_LIB_VERSION calls through one dedicated listener of four `virtmux serve` " +
      "processes to the same bench/fast_daemon.ts: no [audit]; [audit] with every call at " +
      "none, at metadata, at request_response. Audit on: a record per call (call and reply joined), " +
      "sealed every 5 s, block backpressure, fdatasync every 100 ms, peer credentials read " +
      "per client. Samples interleaved.",
    columns: [...MODES],
    metrics: [metrics.callsPerSec, metrics.p50Us, metrics.cpuUsPerCall],
    goals: [
      {
        text: "metadata ≥ 0.7× audit off (calls/s)",
        metric: "callsPerSec",
        subject: "metadata",
        reference: "audit_off",
        op: ">=",
        threshold: 0.7,
      },
      {
        text: "request_response ≥ 0.5× audit off (calls/s)",
        metric: "callsPerSec",
        subject: "request_response",
        reference: "audit_off",
        op: ">=",
        threshold: 0.5,
      },
    ],
    ratios: [
      ...ratiosOf("callsPerSec", [["metadata", "audit_off"], ["request_response", "audit_off"]]),
      ...ratiosOf("cpuUsPerCall", [["metadata", "audit_off"], [
        "request_response",
        "audit_off",
      ]]),
    ],
    commands: [...commands, ...configs],
    notes: [
      "none: audit on with every call at level none, so only connects and disconnects are " +
      "written: what reading peer credentials (node:net sockets) and the tap's bookkeeping cost " +
      "alone.",
      "On a shared machine the CPU per call is the steadier measure: with the relay CPU-bound, " +
      "throughput follows its inverse.",
    ],
  };
}

if (import.meta.main) {
  const value = (flag: string, fallback: number) => {
    const at = Deno.args.indexOf(flag);
    return at >= 0 ? Number(Deno.args[at + 1]) : fallback;
  };
  const figure = await measureAuditCalls({
    conns: value("--conns", 16),
    calls: value("--calls", 3000),
    rounds: value("--rounds", 5),
  });
  console.log(JSON.stringify(evaluate(figure), null, 2));
}
