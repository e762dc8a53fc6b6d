import assert from "node:assert/strict";
import { join } from "node:path";
import { mergeFigures, mergeReports, readPreviousReport } from "../../bench/merge_report.ts";
import { type Figure, type Report, reportMarkdown } from "../../bench/report.ts";
import { makeTempDir, removeDir } from "../integration/helpers/tmp.ts";

const ORDER = ["upstream", "calls", "memory", "attack", "front", "sasl"];

function figure(id: string, run: string | undefined, value = 1): Figure {
  return {
    id,
    title: `Figure ${id}`,
    description: "",
    columns: ["direct"],
    metrics: [{ id: "x", label: "x", better: "higher", samples: { direct: [value] } }],
    goals: [{ text: `goal of ${id}`, metric: "x", subject: "direct", op: ">=", threshold: 2 }],
    commands: [],
    notes: [],
    ...(run === undefined ? {} : { run }),
  };
}

function report(date: string, figures: Figure[], load: string): Report {
  return {
    date,
    mode: "full",
    durationSeconds: 700,
    machine: { cores: "2", deno: "2.9.6", "load average at start": load },
    rigs: { [`rig of ${date}`]: { virtmux: "deno run -A main.ts serve" } },
    configs: { "virtmux.toml": date },
    figures,
  };
}

const ids = (figures: Figure[]) => figures.map((f) => f.id);

Deno.test("a re-run figure replaces the previous one where it stands", () => {
  const previous = [figure("up", "upstream"), figure("c16", "calls"), figure("mem", "memory")];
  const merged = mergeFigures(previous, [figure("c16", "calls", 5)], ORDER);
  assert.deepEqual(ids(merged), ["up", "c16", "mem"]);
  assert.deepEqual(merged[1].metrics[0].samples.direct, [5]);
  assert.equal(merged[0], previous[0]);
});

Deno.test("new figures go where the full run puts them", () => {
  const previous = [figure("up", "upstream"), figure("mem", "memory"), figure("sasl", "sasl")];
  const merged = mergeFigures(previous, [figure("c16", "calls"), figure("front", "front")], ORDER);
  assert.deepEqual(ids(merged), ["up", "c16", "mem", "front", "sasl"]);
});

Deno.test("figures without a run id (older reports) keep their order; new ones follow", () => {
  const previous = [figure("up", undefined), figure("attack", undefined)];
  const merged = mergeFigures(previous, [figure("sasl", "sasl"), figure("front", "front")], ORDER);
  assert.deepEqual(ids(merged), ["up", "attack", "front", "sasl"]);
  const replaced = mergeFigures(previous, [figure("up", "upstream", 9)], ORDER);
  assert.deepEqual(ids(replaced), ["up", "attack"]);
  assert.equal(replaced[0].run, "upstream");
});

Deno.test("a figure its run no longer produces is dropped; other runs' figures stay", () => {
  const previous = [figure("c16", "calls"), figure("c100", "calls"), figure("mem", "memory")];
  const merged = mergeFigures(previous, [figure("c16", "calls")], ORDER);
  assert.deepEqual(ids(merged), ["c16", "mem"]);
});

Deno.test("mergeReports keeps the previous machine block and records the re-run", () => {
  const previous = report("2026-01-01", [figure("up", "upstream"), figure("front", "front")], "1");
  const fresh = report("2026-01-02", [figure("front", "front", 3)], "4");
  fresh.machine.deno = "2.9.7";
  fresh.configs = { "virtmux.toml (front)": "x" };
  const merged = mergeReports(previous, fresh, ORDER);
  assert.equal(merged.date, "2026-01-01");
  assert.deepEqual(merged.machine, previous.machine);
  assert.deepEqual(merged.reruns, [{
    date: "2026-01-02",
    mode: "full",
    durationSeconds: 700,
    figures: ["front"],
    machine: { deno: "2.9.7", "load average at start": "4" },
  }]);
  assert.deepEqual(Object.keys(merged.rigs), ["rig of 2026-01-01", "rig of 2026-01-02"]);
  assert.deepEqual(Object.keys(merged.configs), ["virtmux.toml", "virtmux.toml (front)"]);
  assert.deepEqual(merged.figures[1].metrics[0].samples.direct, [3]);

  // A later re-run of the same figure takes it from the earlier entry, which then goes.
  const again = mergeReports(merged, report("2026-01-03", [figure("front", "front")], "2"), ORDER);
  assert.deepEqual(again.reruns!.map((r) => [r.date, r.figures]), [["2026-01-03", ["front"]]]);
  const other = mergeReports(merged, report("2026-01-03", [figure("up", "upstream")], "2"), ORDER);
  assert.deepEqual(other.reruns!.map((r) => r.date), ["2026-01-02", "2026-01-03"]);
});

Deno.test("the merged report's markdown sums up every figure's goals and names the re-run", () => {
  const previous = report("2026-01-01", [figure("up", "upstream", 3)], "1");
  const merged = mergeReports(previous, report("2026-01-02", [figure("sasl", "sasl")], "4"), ORDER);
  const markdown = reportMarkdown(merged);
  assert.match(markdown, /\| Figure up \| goal of up \|/);
  assert.match(markdown, /\| Figure sasl \| goal of sasl \|/);
  assert.match(markdown, /^- 2026-01-02, mode \*\*full\*\*, 700 s: sasl; machine then: /m);
  assert.ok(markdown.indexOf("### Figure up") < markdown.indexOf("### Figure sasl"));
});

Deno.test("readPreviousReport: none is undefined, a broken file is an error naming it", async () => {
  const dir = await makeTempDir("bench-merge");
  try {
    assert.equal(await readPreviousReport(dir), undefined);
    await Deno.writeTextFile(join(dir, "BENCHMARKS.json"), "{");
    await assert.rejects(readPreviousReport(dir), /BENCHMARKS\.json" is not JSON/);
    await Deno.writeTextFile(join(dir, "BENCHMARKS.json"), "{}");
    await assert.rejects(readPreviousReport(dir), /no figures or machine block/);
    const good = report("2026-01-01", [figure("up", "upstream")], "1");
    await Deno.writeTextFile(join(dir, "BENCHMARKS.json"), JSON.stringify(good));
    assert.deepEqual(await readPreviousReport(dir), good);
  } finally {
    await removeDir(dir);
  }
});
