/**
 * One-shot `virsh -c URI list --all` runs, timed from spawn to exit: through the unix paths of a
 * real-libvirtd rig, and over ssh and tls directly versus through a warm virtmux shared pool.
 *
 * @module
 */

import { runCommand } from "../../tests/integration/helpers/process.ts";
import { shellWords } from "../references.ts";
import { type Figure, type Goal, type Metric, ratiosOf } from "../report.ts";
import { interleave, progress } from "./_interleave.ts";

/** A URI to time virsh against. */
export interface VirshTarget {
  /** Column id (a path id). */
  id: string;
  /** The `-c` URI. */
  uri: string;
}

/** Options for {@linkcode measureVirsh}. */
export interface VirshFigureOptions {
  /** Figure id. */
  id: string;
  /** Figure title. */
  title: string;
  /** Figure description. */
  description: string;
  /** Columns. */
  targets: VirshTarget[];
  /** Samples per target. */
  rounds: number;
  /** Goals on the `seconds` metric. */
  goals: Goal[];
  /** Notes. */
  notes?: string[];
  /** Informational ratios of `ms`, [subject, reference] pairs. */
  ratios?: [string, string][];
}

/** Runs `virsh -c uri list --all` once; returns wall seconds. */
export async function timeVirsh(uri: string): Promise<number> {
  const began = performance.now();
  const result = await runCommand("virsh", ["-c", uri, "list", "--all"], {
    env: { LC_ALL: "C" },
    timeoutMs: 60000,
  });
  const seconds = (performance.now() - began) / 1000;
  if (result.code !== 0 || !/\btest\b/.test(result.stdout)) {
    throw new Error(`virsh -c ${uri} list --all failed (${result.code}): ${result.stderr.trim()}`);
  }
  return seconds;
}

/** Times one-shot virsh runs against every target, interleaved, after one warm-up run each. */
export async function measureVirsh(options: VirshFigureOptions): Promise<Figure> {
  const ms: Metric = {
    id: "ms",
    label: "ms per `virsh list --all`",
    better: "lower",
    samples: {},
    digits: 1,
  };
  progress(`virsh: ${options.title}`);
  for (const target of options.targets) await timeVirsh(target.uri); // warm pools and caches
  await interleave(options.rounds, options.targets, async (target) => {
    (ms.samples[target.id] ??= []).push((await timeVirsh(target.uri)) * 1000);
  });
  return {
    id: options.id,
    title: options.title,
    description: options.description,
    columns: options.targets.map((t) => t.id),
    metrics: [ms],
    goals: options.goals,
    ratios: ratiosOf("ms", options.ratios ?? []),
    commands: options.targets.map((t) =>
      shellWords(["virsh", "-c", t.uri, "list", "--all"]) + `   # ${t.id}`
    ),
    notes: options.notes ?? [],
  };
}
