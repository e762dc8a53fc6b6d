/**
 * Small calls through every path of a fast-daemon rig: N connections, each M sequential
 * CONNECT_GET_LIB_VERSION calls. One set of samples yields three figures: throughput,
 * round-trip latency, and the relay's CPU per forwarded call.
 *
 * @module
 */

import type { CallsResult } from "../load.ts";
import { loadCommand, runLoad } from "../load_runner.ts";
import { shellWords } from "../references.ts";
import { type Figure, type Metric, ratiosOf } from "../report.ts";
import type { Rig } from "../rig.ts";
import { interleave, progress } from "./_interleave.ts";

/** Options for {@linkcode measureSmallCalls}. */
export interface SmallCallsOptions {
  /** Connections. */
  conns: number;
  /** Timed calls per connection. */
  calls: number;
  /** Samples per path. */
  rounds: number;
  /** Command prefix for the load generator (the rig's own). */
  prefix?: string[];
  /** "pinned" or "unpinned", for titles. */
  placement: string;
}

/** Raw samples of one small-call run set. */
export interface SmallCallSamples {
  /** Options used. */
  options: SmallCallsOptions;
  /** Per-metric samples by path. */
  metrics: Record<"callsPerSec" | "p50Us" | "p99Us" | "cpuUsPerCall" | "cpuStatUsPerCall", Metric>;
  /** Paths in column order. */
  columns: string[];
  /** The load command per path. */
  commands: string[];
}

function metric(id: string, label: string, better: "higher" | "lower", digits = 0): Metric {
  return { id, label, better, samples: {}, digits };
}

/** Samples small calls through every path of `rig`, interleaved. */
export async function measureSmallCalls(
  rig: Rig,
  options: SmallCallsOptions,
): Promise<SmallCallSamples> {
  const metrics = {
    callsPerSec: metric("callsPerSec", "calls/s", "higher"),
    p50Us: metric("p50Us", "p50 round trip (µs)", "lower"),
    p99Us: metric("p99Us", "p99 round trip (µs)", "lower"),
    cpuUsPerCall: metric("cpuUsPerCall", "relay CPU per call, schedstat (µs)", "lower", 1),
    cpuStatUsPerCall: metric("cpuStatUsPerCall", "relay CPU per call, stat (µs)", "lower", 1),
  };
  const commands: string[] = [];
  for (const path of rig.paths) {
    commands.push(
      shellWords(loadCommand(
        [
          "calls",
          "--socket",
          path.socket,
          "--conns",
          `${options.conns}`,
          "--calls",
          `${options.calls}`,
        ],
        options.prefix,
      )) + `   # ${path.id}`,
    );
  }
  progress(
    `small calls: ${options.conns} connections × ${options.calls} calls, ${options.placement}`,
  );
  await interleave(options.rounds, rig.paths, async (path) => {
    const run = await runLoad<CallsResult>([
      "calls",
      "--socket",
      path.socket,
      "--conns",
      `${options.conns}`,
      "--calls",
      `${options.calls}`,
    ], { prefix: options.prefix, cpuPid: path.pid });
    const push = (m: Metric, v: number) => (m.samples[path.id] ??= []).push(v);
    push(metrics.callsPerSec, run.result.callsPerSec);
    push(metrics.p50Us, run.result.p50Us);
    push(metrics.p99Us, run.result.p99Us);
    if (run.cpuMicros !== undefined) push(metrics.cpuUsPerCall, run.cpuMicros / run.result.calls);
    if (run.cpuStatMicros !== undefined) {
      push(metrics.cpuStatUsPerCall, run.cpuStatMicros / run.result.calls);
    }
  });
  return { options, metrics, columns: rig.paths.map((p) => p.id), commands };
}

/** The throughput figure of a sample set, with its goals. */
export function throughputFigure(samples: SmallCallSamples): Figure {
  const { conns, calls, placement } = samples.options;
  return {
    id: `small_calls_${conns}_${placement}`,
    title: `Small-call throughput, ${conns} connections, fast upstream, ${placement}`,
    description: `${conns} connections, each ${calls} sequential CONNECT_GET_LIB_VERSION calls ` +
      "(one outstanding per connection) after AUTH_LIST + CONNECT_OPEN and 50 warm-up calls; " +
      `upstream: bench/fast_daemon.ts.`,
    columns: samples.columns,
    metrics: [samples.metrics.callsPerSec, samples.metrics.p50Us, samples.metrics.p99Us],
    goals: [
      {
        text: "dedicated ≥ 1.2× socat (calls/s)",
        metric: "callsPerSec",
        subject: "dedicated",
        reference: "socat",
        op: ">=",
        threshold: 1.2,
      },
      {
        text: "shared ≥ 1.0× HAProxy 64 KiB (calls/s)",
        metric: "callsPerSec",
        subject: "shared",
        reference: "haproxy",
        op: ">=",
        threshold: 1.0,
      },
    ],
    ratios: ratiosOf("callsPerSec", [
      ["dedicated", "socat"],
      ["dedicated", "haproxy"],
      ["shared", "socat"],
      ["shared", "haproxy"],
      ["haproxy", "socat"],
      ["deno_relay", "socat"],
      ["deno_relay", "haproxy"],
      ["dedicated", "deno_relay"],
      ["shared", "deno_relay"],
    ]),
    commands: samples.commands,
    notes: [],
  };
}

/** The CPU-per-call figure of a sample set, with its goals. */
export function cpuFigure(samples: SmallCallSamples): Figure {
  const { conns, placement } = samples.options;
  return {
    id: `cpu_per_call_${conns}_${placement}`,
    title: `CPU per forwarded small call, ${conns} connections, ${placement}`,
    description: "CPU time of the relay process (socat: parent plus its per-connection " +
      "children; virtmux: the deno process, all threads) right before and after the timed calls " +
      "of the throughput figure, divided by the calls. Two readings: utime+stime from " +
      "/proc/PID/stat (10 ms ticks, rounded per process, so socat's many short children read " +
      "low) and sum_exec_runtime from /proc/PID/task/*/schedstat (ns); the goal is judged on " +
      "schedstat.",
    columns: samples.columns.filter((c) => c !== "direct"),
    metrics: [samples.metrics.cpuUsPerCall, samples.metrics.cpuStatUsPerCall],
    goals: ["dedicated", "shared"].map((subject) => ({
      text: `${subject} ≤ 1.5× HAProxy's µs/call`,
      metric: "cpuUsPerCall",
      subject,
      reference: "haproxy",
      op: "<=" as const,
      threshold: 1.5,
    })),
    ratios: ratiosOf("cpuUsPerCall", [
      ["deno_relay", "haproxy"],
      ["dedicated", "deno_relay"],
      ["shared", "deno_relay"],
      ["dedicated", "haproxy_splice"],
      ["shared", "haproxy_splice"],
    ]),
    commands: [],
    notes: [
      "The plain Deno relay row is the runtime's floor: the CPU a Deno process spends on the " +
      "same four socket operations per call (two reads, two writes) with no framing at all.",
    ],
  };
}

/** The single-connection latency figure of a one-connection sample set, with its goals. */
export function latencyFigure(samples: SmallCallSamples): Figure {
  const { calls, placement } = samples.options;
  return {
    id: `latency_${placement}`,
    title: `Single-connection round-trip latency, fast upstream, ${placement}`,
    description: `One connection, ${calls} sequential CONNECT_GET_LIB_VERSION calls; each ` +
      "sample's p50 and p99 over its calls, then the median over samples.",
    columns: samples.columns,
    metrics: [samples.metrics.p50Us, samples.metrics.p99Us, samples.metrics.callsPerSec],
    goals: ["dedicated", "shared"].flatMap((subject) =>
      (["p50Us", "p99Us"] as const).map((m) => ({
        text: `${subject} ${m === "p50Us" ? "p50" : "p99"} ≤ 1.2× socat`,
        metric: m,
        subject,
        reference: "socat",
        op: "<=" as const,
        threshold: 1.2,
      }))
    ),
    ratios: [
      ...ratiosOf("p50Us", [["deno_relay", "socat"], ["haproxy", "socat"]]),
      ...ratiosOf("p99Us", [["deno_relay", "socat"], ["haproxy", "socat"]]),
    ],
    commands: samples.commands,
    notes: [],
  };
}
