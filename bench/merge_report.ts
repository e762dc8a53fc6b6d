/**
 * `deno task bench --only ID,ID` keeps the figures it did not run: the fresh figures replace
 * theirs in the previous BENCHMARKS.json (or join it, in the full run's order), and the previous
 * run's date, mode and machine block stay, with a {@linkcode Rerun} entry saying which figures were
 * re-run when and what differed on the machine then.
 *
 * @module
 */

import { errorMessage } from "../src/log/error_message.ts";
import type { Figure, Report, Rerun } from "./report.ts";

/** Machine facts that differ on every run, so always worth showing for a re-run. */
const VOLATILE = ["load average at start", "load average at end"];

/**
 * Reads `dir/BENCHMARKS.json`: undefined when there is none.
 *
 * @throws {Error} naming the file when it is not a report (a merge would lose it)
 */
export async function readPreviousReport(dir: string): Promise<Report | undefined> {
  const file = `${dir}/BENCHMARKS.json`;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`Cannot read "${file}": ${errorMessage(error)}`);
  }
  let report: Report;
  try {
    report = JSON.parse(text);
  } catch (error) {
    throw new Error(`"${file}" is not JSON (${errorMessage(error)}); move it away to start afresh`);
  }
  if (!Array.isArray(report?.figures) || typeof report.machine !== "object") {
    throw new Error(`"${file}" has no figures or machine block; move it away to start afresh`);
  }
  return report;
}

/**
 * The figures of `previous` with those of `fresh` merged in: a figure with the same id is replaced
 * where it stands; a previous figure of a run id that ran again but that the run no longer
 * produced is dropped; a new figure goes after the last figure whose run comes no later in
 * `order` (figures without a run id take the one of the figure before them).
 *
 * @param previous the figures kept from the earlier report
 * @param fresh the figures just measured, each with its `run`
 * @param order the run ids in the order a full run measures them
 */
export function mergeFigures(
  previous: readonly Figure[],
  fresh: readonly Figure[],
  order: readonly string[],
): Figure[] {
  const rank = (run: string | undefined) => {
    const at = run === undefined ? -1 : order.indexOf(run);
    return run !== undefined && at < 0 ? order.length : at;
  };
  const ran = new Set(fresh.map((f) => f.run));
  const waiting = new Map(fresh.map((f) => [f.id, f]));
  const out: { figure: Figure; rank: number }[] = [];
  let inherited = -1;
  for (const figure of previous) {
    if (figure.run !== undefined) inherited = rank(figure.run);
    const replacement = waiting.get(figure.id);
    if (replacement !== undefined) {
      waiting.delete(figure.id);
      out.push({ figure: replacement, rank: rank(replacement.run) });
    } else if (figure.run === undefined || !ran.has(figure.run)) {
      out.push({ figure, rank: inherited });
    }
  }
  for (const figure of waiting.values()) {
    const mine = rank(figure.run);
    let at = out.length;
    while (at > 0 && out[at - 1].rank > mine) at--;
    out.splice(at, 0, { figure, rank: mine });
  }
  return out.map((entry) => entry.figure);
}

/**
 * `previous` with the figures, rigs and configs of the `--only` run `fresh` merged in, and a
 * {@linkcode Rerun} entry for it; earlier entries lose the figures it re-ran (and go when empty).
 *
 * @param previous the report read from BENCHMARKS.json
 * @param fresh the report of the `--only` run
 * @param order the run ids in the order a full run measures them
 */
export function mergeReports(
  previous: Report,
  fresh: Report,
  order: readonly string[],
): Report {
  const ids = fresh.figures.map((f) => f.id);
  const machine: Record<string, string> = {};
  for (const [key, value] of Object.entries(fresh.machine)) {
    if (VOLATILE.includes(key) || previous.machine[key] !== value) machine[key] = value;
  }
  const rerun: Rerun = {
    date: fresh.date,
    mode: fresh.mode,
    durationSeconds: fresh.durationSeconds,
    figures: ids,
    machine,
  };
  const reruns = (previous.reruns ?? [])
    .map((r) => ({ ...r, figures: r.figures.filter((id) => !ids.includes(id)) }))
    .filter((r) => r.figures.length > 0);
  return {
    ...previous,
    rigs: { ...previous.rigs, ...fresh.rigs },
    configs: { ...previous.configs, ...fresh.configs },
    figures: mergeFigures(previous.figures, fresh.figures, order),
    reruns: ids.length > 0 ? [...reruns, rerun] : reruns,
  };
}
