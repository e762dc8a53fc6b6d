/**
 * The bench's results: figures with raw samples per path, their medians, goals with ratios and
 * verdicts; written as BENCHMARKS.md (tables) and BENCHMARKS.json (everything, for comparison
 * across runs).
 *
 * @module
 */

import { MISSES_EXPLAINED } from "./misses.ts";
import { PATH_LABELS, type PathId } from "./rig.ts";

/** One measured quantity of a figure, sampled per path. */
export interface Metric {
  /** Key, e.g. `callsPerSec`. */
  id: string;
  /** Row heading, e.g. `calls/s`. */
  label: string;
  /** Which direction is better. */
  better: "higher" | "lower";
  /** Raw samples per path id, in the order taken. */
  samples: Partial<Record<string, number[]>>;
  /** Median per path id, filled by {@linkcode evaluate}. */
  medians?: Partial<Record<string, number>>;
  /** Decimal places in the markdown table. */
  digits?: number;
}

/** A goal: a ratio of two medians, or one median, against a threshold. */
export interface Goal {
  /** What the issue asks, in words. */
  text: string;
  /** The metric's id. */
  metric: string;
  /** The path judged. */
  subject: string;
  /** The path compared with; absent for an absolute goal. */
  reference?: string;
  /** `reference / subject` instead of `subject / reference` ("× faster" from times). */
  invert?: boolean;
  /** Comparison with the threshold. */
  op: ">=" | "<=";
  /** The threshold of the ratio (or of the value, for an absolute goal). */
  threshold: number;
  /** The ratio or value found, filled by {@linkcode evaluate}. */
  value?: number;
  /** Whether the goal is met, filled by {@linkcode evaluate}. */
  met?: boolean;
}

/** An informational ratio of two medians of one metric (no goal attached). */
export interface Ratio {
  /** The metric's id. */
  metric: string;
  /** The numerator path. */
  subject: string;
  /** The denominator path. */
  reference: string;
  /** The ratio found, filled by {@linkcode evaluate}. */
  value?: number;
}

/** One figure: a table and its goals. */
export interface Figure {
  /** Key, e.g. `small_calls_16`. */
  id: string;
  /** Heading. */
  title: string;
  /** What was run and how, one paragraph. */
  description: string;
  /** Column path ids in order. */
  columns: string[];
  /** The measured quantities. */
  metrics: Metric[];
  /** The goals judged on this figure. */
  goals: Goal[];
  /** Further ratios worth reading, without goals. */
  ratios?: Ratio[];
  /** The exact commands that produced the samples (beyond the rig's processes). */
  commands: string[];
  /** Remarks shown under the table. */
  notes: string[];
  /** Set when the figure was not measured, saying why. */
  notMeasured?: string;
  /** The `--only` id whose run produced it (bench/plan.ts's RUN_ORDER). */
  run?: string;
}

/** Figures re-run with `--only` and merged into an earlier report. */
export interface Rerun {
  /** When the re-run started (ISO 8601). */
  date: string;
  /** `--quick` or full. */
  mode: "quick" | "full";
  /** Seconds the re-run took. */
  durationSeconds: number;
  /** The ids of the figures it measured (still shown from it). */
  figures: string[];
  /** Machine facts of the re-run that differ from the report's machine block (load included). */
  machine: Record<string, string>;
}

/** A figure measured on processes of its own (not a rig), with the processes and config files it started. */
export interface FigureRun {
  /** The figure, evaluated. */
  figure: Figure;
  /** Processes started, with their command lines. */
  commands: Record<string, string>;
  /** Config files written, by name. */
  configs: Record<string, string>;
}

/** Everything a run produced. */
export interface Report {
  /** When the run started (ISO 8601). */
  date: string;
  /** `--quick` or full. */
  mode: "quick" | "full";
  /** Seconds the whole run took. */
  durationSeconds: number;
  /** Machine facts. */
  machine: Record<string, string>;
  /** Processes started by the bench, by rig, with their exact command lines. */
  rigs: Record<string, Record<string, string>>;
  /** Config files written (HAProxy, virtmux), by name. */
  configs: Record<string, string>;
  /** The figures. */
  figures: Figure[];
  /** Figures re-run since `date` with `--only`, oldest first; absent when none was. */
  reruns?: Rerun[];
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Fills medians, goal values and verdicts in place. */
export function evaluate(figure: Figure): Figure {
  for (const metric of figure.metrics) {
    metric.medians = {};
    for (const [path, values] of Object.entries(metric.samples)) {
      if (values && values.length > 0) metric.medians[path] = median(values);
    }
  }
  for (const ratio of figure.ratios ?? []) {
    const medians = figure.metrics.find((m) => m.id === ratio.metric)?.medians;
    const subject = medians?.[ratio.subject];
    const reference = medians?.[ratio.reference];
    ratio.value = subject !== undefined && reference !== undefined
      ? subject / reference
      : undefined;
  }
  for (const goal of figure.goals) {
    const metric = figure.metrics.find((m) => m.id === goal.metric);
    const subject = metric?.medians?.[goal.subject];
    const reference = goal.reference === undefined ? undefined : metric?.medians?.[goal.reference];
    if (subject === undefined || (goal.reference !== undefined && reference === undefined)) {
      goal.value = undefined;
      goal.met = undefined;
      continue;
    }
    goal.value = reference === undefined
      ? subject
      : goal.invert
      ? reference / subject
      : subject / reference;
    goal.met = goal.op === ">=" ? goal.value >= goal.threshold : goal.value <= goal.threshold;
  }
  return figure;
}

/** Column headings of ids that are not rig paths. */
const EXTRA_LABELS: Record<string, string> = {
  direct_unix: "direct, unix socket (floor)",
  libvirtd_tls: "libvirtd tls",
  tls_dedicated: "virtmux tls front, dedicated",
  tls_shared: "virtmux tls front, shared",
  libvirtd_tcp: "libvirtd tcp",
  tcp_dedicated: "virtmux tcp front, dedicated",
  tcp_shared: "virtmux tcp front, shared",
  direct_sasl: "direct, tcp + SASL",
};

function label(path: string): string {
  return PATH_LABELS[path as PathId] ?? EXTRA_LABELS[path] ?? path;
}

/** Ratios of `metric` for each [subject, reference] pair. */
export function ratiosOf(metric: string, pairs: [string, string][]): Ratio[] {
  return pairs.map(([subject, reference]) => ({ metric, subject, reference }));
}

function format(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

/** One goal as a table row: goal, ratio or value, verdict. */
export function goalRow(goal: Goal): string {
  const verdict = goal.met === undefined ? "not measured" : goal.met ? "**met**" : "**missed**";
  const what = goal.reference === undefined
    ? `${label(goal.subject)} = ${format(goal.value, 2)}`
    : `${label(goal.subject)} ${goal.invert ? "vs" : "/"} ${label(goal.reference)} = ${
      format(goal.value, 2)
    }×`;
  return `| ${goal.text} | ${what} | ${
    goal.op === ">=" ? "≥" : "≤"
  } ${goal.threshold} | ${verdict} |`;
}

/** The markdown section of one figure. */
export function figureMarkdown(figure: Figure): string {
  const out = [`### ${figure.title}`, "", figure.description, ""];
  if (figure.notMeasured !== undefined) {
    out.push(`**Not measured:** ${figure.notMeasured}`, "");
    return out.join("\n");
  }
  const columns = figure.columns;
  out.push(`| median (n) | ${columns.map(label).join(" | ")} |`);
  out.push(`|---|${columns.map(() => "---:").join("|")}|`);
  for (const metric of figure.metrics) {
    const cells = columns.map((c) => {
      const n = metric.samples[c]?.length ?? 0;
      return n === 0 ? "–" : `${format(metric.medians?.[c], metric.digits)} (${n})`;
    });
    out.push(`| ${metric.label} | ${cells.join(" | ")} |`);
  }
  out.push("");
  if (figure.goals.length > 0) {
    out.push("| goal | ratio / value (medians) | target | verdict |", "|---|---|---|---|");
    for (const goal of figure.goals) out.push(goalRow(goal));
    out.push("");
  }
  const ratios = (figure.ratios ?? []).filter((r) => r.value !== undefined);
  if (ratios.length > 0) {
    out.push("| other ratios (medians) | |", "|---|---:|");
    for (const ratio of ratios) {
      const metric = figure.metrics.find((m) => m.id === ratio.metric)!;
      out.push(
        `| ${metric.label}: ${label(ratio.subject)} / ${label(ratio.reference)} | ${
          format(ratio.value, 2)
        }× |`,
      );
    }
    out.push("");
  }
  for (const note of figure.notes) out.push(`- ${note}`);
  if (figure.commands.length > 0) {
    out.push("", "Commands:", "", "```sh", ...figure.commands, "```");
  }
  out.push("");
  return out.join("\n");
}

/** The line saying which figures a `--only` re-run replaced, when, and on what machine state. */
export function rerunLine(rerun: Rerun): string {
  const facts = Object.entries(rerun.machine).map(([k, v]) => `${k} ${v}`).join("; ");
  return `- ${rerun.date}, mode **${rerun.mode}**, ${Math.round(rerun.durationSeconds)} s: ` +
    rerun.figures.join(", ") + (facts ? `; machine then: ${facts}` : "");
}

/** The whole BENCHMARKS.md. */
export function reportMarkdown(report: Report): string {
  const goals = report.figures.flatMap((f) => f.goals.map((g) => ({ figure: f, goal: g })));
  const met = goals.filter((g) => g.goal.met === true).length;
  const missed = goals.filter((g) => g.goal.met === false).length;
  const out = [
    "# virtmux benchmarks",
    "",
    `Run: ${report.date}, mode **${report.mode}**, ${Math.round(report.durationSeconds)} s. ` +
    `Goals: ${met} met, ${missed} missed, ${goals.length - met - missed} not measured. ` +
    "Generated by `deno task bench" + (report.mode === "quick" ? " -- --quick" : "") +
    "`; raw samples, medians, ratios and verdicts are in BENCHMARKS.json.",
    "",
    ...(report.reruns?.length
      ? [
        "Figures re-run since with `--only` (the others are from the run above):",
        "",
        ...report.reruns.map(rerunLine),
        "",
      ]
      : []),
    "## Machine",
    "",
    "| | |",
    "|---|---|",
    ...Object.entries(report.machine).map(([k, v]) => `| ${k} | ${v.replaceAll("|", "\\|")} |`),
    "",
    "## Summary of goals",
    "",
    "| figure | goal | ratio / value (medians) | target | verdict |",
    "|---|---|---|---|---|",
    ...goals.map(({ figure, goal }) => `| ${figure.title} ${goalRow(goal)}`),
    ...report.figures.filter((f) => f.notMeasured !== undefined).map((f) =>
      `| ${f.title} | – | – | – | not measured: ${f.notMeasured} |`
    ),
    "",
    "## Where the misses come from",
    "",
    ...MISSES_EXPLAINED,
    "",
    "## Method",
    "",
    "- Every figure runs all its paths in the same run, interleaved round by round (A B C … A B C …, " +
    "the order rotated each round), and reports medians; raw samples are in BENCHMARKS.json.",
    "- Paths: **direct** to the daemon's socket; **socat** `-b 65536` with `fork`; **HAProxy** " +
    "(`mode tcp`, `nbthread 1`, `tune.bufsize 65536`) and **HAProxy splice** (plus " +
    "`option splice-request`, `option splice-response`, `tune.pipesize 262144`); **virtmux " +
    "dedicated** (`share = false`) and **virtmux shared** (`share = true`), both listeners in one " +
    "`deno run -A main.ts serve` process; on fast-upstream figures also a **plain Deno relay** " +
    "(bench/deno_relay.ts: read into a reused 64 KiB buffer, write, nothing else), the floor " +
    "for any relay written for this runtime.",
    "- The fast upstream is `bench/fast_daemon.ts`: canned replies, streams at memory speed. The real " +
    "upstream is a private libvirtd 9.0 (test driver) started as in the integration tests.",
    "- Load: `bench/load.ts` (raw wire protocol; every connection does AUTH_LIST + CONNECT_OPEN " +
    "first, then sequential CONNECT_GET_LIB_VERSION calls, one outstanding per connection). " +
    "CPU per call is utime+stime from /proc/PID/stat of the relay process (socat: the parent " +
    "and its per-connection children) read right before and after the timed part, divided by the " +
    "calls; /proc's tick is 10 ms, so samples carry ±10 ms.",
    "- Pinned figures start every process of the figure (daemon, relays, virtmux, load generator) " +
    "under `taskset -c 0`.",
    "",
    "## Figures",
    "",
    ...report.figures.map(figureMarkdown),
    "## Processes and configs",
    "",
  ];
  for (const [rig, commands] of Object.entries(report.rigs)) {
    out.push(`Rig **${rig}**:`, "", "```sh", ...Object.values(commands), "```", "");
  }
  for (const [name, text] of Object.entries(report.configs)) {
    out.push(`${name} (paths vary per run):`, "", "```", text.trimEnd(), "```", "");
  }
  out.push(
    "## How to reproduce",
    "",
    "```sh",
    "deno task bench               # full run, about 17 minutes; writes BENCHMARKS.md and BENCHMARKS.json",
    "deno task bench -- --quick    # about 2 minutes, fewer and shorter samples",
    "deno task bench -- --only stream,latency   # a subset (ids: bench/plan.ts); the rest kept from BENCHMARKS.json",
    "```",
    "",
    "Needs libvirtd, virsh, virt-admin, python3-libvirt (/usr/bin/python3), socat, haproxy, sshd, " +
      "saslpasswd2 (sasl2-bin), " +
      "openssl, taskset and prlimit; run as root (sshd and the open-file limit for 10,000 " +
      "clients). The machine should be otherwise idle; on a shared VM, compare ratios, not " +
      "absolute numbers, and prefer the pinned small-message figures.",
    "",
  );
  return out.join("\n");
}

/** Writes BENCHMARKS.md and BENCHMARKS.json into `dir`. */
export async function writeReport(report: Report, dir: string): Promise<void> {
  for (const figure of report.figures) evaluate(figure);
  await Deno.writeTextFile(`${dir}/BENCHMARKS.md`, portable(reportMarkdown(report), dir));
  await Deno.writeTextFile(
    `${dir}/BENCHMARKS.json`,
    portable(JSON.stringify(report, null, 2) + "\n", dir),
  );
}

/**
 * Makes recorded commands rerunnable anywhere and free of this machine's paths: the Deno binary
 * becomes `deno`, the repository `.`, and per-run temp directories `$TMP`.
 */
export function portable(text: string, repoRoot: string): string {
  const root = repoRoot.replace(/\/+$/, "");
  return text
    .replaceAll(Deno.execPath(), "deno")
    .replaceAll(root + "/", "./")
    .replaceAll(root, ".")
    .replace(/\/tmp\/virtmux-[A-Za-z0-9_-]+/g, "$TMP");
}
