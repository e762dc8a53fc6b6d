/**
 * Stream throughput: one client reads a DOMAIN_SCREENSHOT stream of 256 KiB STREAM frames from
 * the fast daemon through every path.
 *
 * @module
 */

import { DEFAULT_CHUNK_BYTES } from "../fast_daemon.ts";
import type { StreamResult } from "../load.ts";
import { loadCommand, runLoad } from "../load_runner.ts";
import { shellWords } from "../references.ts";
import { type Figure, type Metric, ratiosOf } from "../report.ts";
import type { Rig } from "../rig.ts";
import { interleave, progress } from "./_interleave.ts";

/** Options for {@linkcode measureStream}. */
export interface StreamOptions {
  /** STREAM frames of 256 KiB. */
  chunks: number;
  /** Samples per path. */
  rounds: number;
}

/** Measures stream throughput through every path of `rig`. */
export async function measureStream(rig: Rig, options: StreamOptions): Promise<Figure> {
  const mbPerSec: Metric = { id: "mbPerSec", label: "MB/s", better: "higher", samples: {} };
  const cpu: Metric = {
    id: "cpuSeconds",
    label: "relay CPU (s)",
    better: "lower",
    samples: {},
    digits: 2,
  };
  const mib = (options.chunks * DEFAULT_CHUNK_BYTES) / 1048576;
  progress(`stream: ${mib} MiB`);
  await interleave(options.rounds, rig.paths, async (path) => {
    const run = await runLoad<StreamResult>([
      "stream",
      "--socket",
      path.socket,
      "--chunks",
      `${options.chunks}`,
    ], { cpuPid: path.pid });
    (mbPerSec.samples[path.id] ??= []).push(run.result.mbPerSec);
    if (run.cpuMicros !== undefined) (cpu.samples[path.id] ??= []).push(run.cpuMicros / 1e6);
  });
  const goals = ["dedicated", "shared"].flatMap((subject) => [
    {
      text: `${subject} ≥ 1.0× HAProxy 64 KiB`,
      metric: "mbPerSec",
      subject,
      reference: "haproxy",
      op: ">=" as const,
      threshold: 1.0,
    },
    {
      text: `${subject} ≥ 0.8× HAProxy splice`,
      metric: "mbPerSec",
      subject,
      reference: "haproxy_splice",
      op: ">=" as const,
      threshold: 0.8,
    },
    {
      text: `${subject} ≥ 50% of direct`,
      metric: "mbPerSec",
      subject,
      reference: "direct",
      op: ">=" as const,
      threshold: 0.5,
    },
  ]);
  return {
    id: "stream",
    title: `Stream throughput, ${mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`} in 256 KiB ` +
      "STREAM frames",
    description: `One connection opens a DOMAIN_SCREENSHOT stream; the fast daemon sends ` +
      `${options.chunks} STREAM frames of ${DEFAULT_CHUNK_BYTES} bytes (status CONTINUE) and an ` +
      "empty CONTINUE; MB/s = payload bytes (10^6) per second from the call to the empty frame. " +
      "Unpinned.",
    columns: rig.paths.map((p) => p.id),
    metrics: [mbPerSec, cpu],
    goals,
    ratios: ratiosOf("mbPerSec", [
      ["haproxy", "direct"],
      ["haproxy_splice", "direct"],
      ["socat", "direct"],
      ["deno_relay", "direct"],
      ["deno_relay", "haproxy"],
      ["dedicated", "deno_relay"],
      ["shared", "deno_relay"],
    ]),
    commands: rig.paths.map((p) =>
      shellWords(loadCommand(["stream", "--socket", p.socket, "--chunks", `${options.chunks}`])) +
      `   # ${p.id}`
    ),
    notes: [
      "A relay that copies (socat, HAProxy without splice, any Deno relay) moves every byte " +
      "through user space twice more than a direct connection, on the same two cores as the " +
      "daemon and the client; HAProxy 64 KiB's own ratio to direct is in the table above.",
    ],
  };
}
