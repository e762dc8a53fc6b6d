/**
 * The fuzzer's tally and its final summary: cases per kind and how their connections ended,
 * crashes, wrong answers to the good clients, replies to well-formed fuzz traffic that were
 * missing or wrong, the proxy's memory, and whether it still serves at the end.
 *
 * @module
 */

import type { FuzzCase, Kind } from "./generators.ts";
import type { GoodClientStats, GoodFailure } from "./good_clients.ts";
import type { CaseResult } from "./runner.ts";

/** Counters of one kind of case. */
export interface KindTally {
  /** Cases run. */
  cases: number;
  /** Connections opened (attempted). */
  connections: number;
  /** Connections by how they ended. */
  ends: Record<string, number>;
}

/** A notable case: enough to replay it. */
export interface Finding {
  /** The case index (`--seed S --replay N`). */
  index: number;
  /** Its kind. */
  kind: Kind;
  /** Its listener. */
  target: string;
  /** Its description. */
  description: string;
  /** What was wrong. */
  problems: string[];
}

/** Everything the run found; printed at the end and written as JSON with `--json`. */
export interface Summary {
  /** The run's seed. */
  seed: number;
  /** Seconds the fuzzing ran. */
  seconds: number;
  /** Cases per kind. */
  kinds: Partial<Record<Kind, KindTally>>;
  /** Cases in all. */
  totalCases: number;
  /** Connections in all. */
  totalConnections: number;
  /** Times the virtmux process died (must be 0). */
  crashes: number;
  /** What the crash left in the log. */
  crashLog?: string;
  /** Wrong answers to the good clients: wrong values, libvirt errors, stalls (must be 0). */
  wrongAnswers: number;
  /** The good clients' failures, first 50. */
  goodFailures: GoodFailure[];
  /** The good clients' counters. */
  goodClients: GoodClientStats[];
  /** Well-formed fuzz calls whose replies were missing or wrong. */
  fuzzReplyMismatches: number;
  /** Connections the listeners refused. */
  connectErrors: number;
  /** Cases with mismatches or connect errors, first 50. */
  findings: Finding[];
  /** virtmux's resident memory, in MiB. */
  rss: { startMiB: number; peakMiB: number; endMiB: number; limitMiB: number };
  /** Open file descriptors of virtmux after warm-up and at the end, after a quiet period. */
  fds: { start: number; end: number };
  /** Connections the daemon held from virtmux at the end (virt-admin), or -1 if unknown. */
  upstreamClientsAtEnd: number;
  /** Whether virtmux answered python-libvirt correctly on both listeners at the end. */
  servingAtEnd: boolean;
  /** Why not, when it did not. */
  servingProblems: string[];
  /** Whether the run passed: no crash, no wrong answer, serving, memory under the limit. */
  passed: boolean;
}

/** Collects results while the run goes on. */
export class Tally {
  readonly kinds: Partial<Record<Kind, KindTally>> = {};
  readonly findings: Finding[] = [];
  totalCases = 0;
  totalConnections = 0;
  fuzzReplyMismatches = 0;
  connectErrors = 0;

  /** Adds one finished case. */
  add(fuzzCase: FuzzCase, result: CaseResult): void {
    const tally = this.kinds[fuzzCase.kind] ??= { cases: 0, connections: 0, ends: {} };
    tally.cases++;
    tally.connections += fuzzCase.connections.length;
    for (const [end, n] of Object.entries(result.ends)) {
      tally.ends[end] = (tally.ends[end] ?? 0) + n;
    }
    this.totalCases++;
    this.totalConnections += fuzzCase.connections.length;
    this.fuzzReplyMismatches += result.mismatches.length;
    this.connectErrors += result.ends.connect_error ?? 0;
    const problems = [...result.mismatches, ...result.connectErrors.map((e) => `connect: ${e}`)];
    if (problems.length > 0 && this.findings.length < 50) {
      this.findings.push({
        index: fuzzCase.index,
        kind: fuzzCase.kind,
        target: fuzzCase.target,
        description: fuzzCase.description,
        problems: problems.slice(0, 5),
      });
    }
  }
}

/** The summary as the text printed at the end of a run. */
export function formatSummary(s: Summary): string {
  const lines: string[] = [];
  lines.push("=== virtmux fuzz summary ===");
  lines.push(
    `seed ${s.seed}, ${s.seconds.toFixed(1)} s, ${s.totalCases} cases, ` +
      `${s.totalConnections} connections`,
  );
  lines.push("cases per kind:");
  for (const [kind, t] of Object.entries(s.kinds)) {
    const ends = Object.entries(t!.ends).map(([e, n]) => `${e} ${n}`).join(", ");
    lines.push(
      `  ${kind.padEnd(16)} ${String(t!.cases).padStart(6)} cases, ` +
        `${String(t!.connections).padStart(7)} connections (${ends})`,
    );
  }
  lines.push("good clients:");
  for (const g of s.goodClients) {
    lines.push(
      `  ${g.name.padEnd(22)} ${g.rounds} rounds, ${g.ok} right, slowest ` +
        `${Math.round(g.maxMs)} ms, ${g.restarts} restarts`,
    );
  }
  for (const f of s.goodFailures.slice(0, 20)) {
    lines.push(
      `  ! ${f.client} at ${f.atSeconds} s: ${f.what}: ${f.message} ` +
        `(cases running: ${f.cases.join(",") || "none"})`,
    );
  }
  if (s.findings.length > 0) {
    lines.push("fuzz cases with missing or wrong replies, or refused connections:");
    for (const f of s.findings.slice(0, 20)) {
      lines.push(`  case ${f.index} [${f.kind} → ${f.target}] ${f.description}`);
      for (const p of f.problems) lines.push(`      ${p}`);
    }
  }
  lines.push(`crashes:                 ${s.crashes}`);
  lines.push(`wrong answers (good):    ${s.wrongAnswers}`);
  lines.push(`fuzz reply mismatches:   ${s.fuzzReplyMismatches}`);
  lines.push(`connect errors:          ${s.connectErrors}`);
  lines.push(
    `RSS MiB:                 start ${s.rss.startMiB.toFixed(1)}, peak ` +
      `${s.rss.peakMiB.toFixed(1)}, end ${s.rss.endMiB.toFixed(1)} (limit ${s.rss.limitMiB})`,
  );
  lines.push(`open fds:                start ${s.fds.start}, end ${s.fds.end}`);
  lines.push(`upstream clients at end: ${s.upstreamClientsAtEnd}`);
  lines.push(
    `serving at end:          ${s.servingAtEnd ? "yes" : "NO"}` +
      (s.servingProblems.length > 0 ? ` (${s.servingProblems.join("; ")})` : ""),
  );
  if (s.crashLog) lines.push(`crash log tail:\n${s.crashLog}`);
  lines.push(`result:                  ${s.passed ? "PASS" : "FAIL"} (seed ${s.seed})`);
  return lines.join("\n");
}
