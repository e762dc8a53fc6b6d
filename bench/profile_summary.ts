/**
 * Summarizes a V8 `.cpuprofile` (from `deno run --cpu-prof`): self time per function, and total
 * (inclusive) time for functions of this repository. Used to find where virtmux spends a figure's
 * CPU: `deno run -A bench/profile_summary.ts FILE.cpuprofile [TOP]`.
 *
 * @module
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One row of a summary. */
export interface ProfileRow {
  /** `function url:line`. */
  name: string;
  /** Share of all samples, in percent. */
  percent: number;
}

/** A profile's self-time and inclusive-time tables, top `top` rows each. */
export interface ProfileSummary {
  /** Self time per function. */
  self: ProfileRow[];
  /** Inclusive time per function of this repository (src/). */
  inclusive: ProfileRow[];
}

function label(node: ProfileNode): string {
  const frame = node.callFrame;
  const url = frame.url.replace(/^file:\/\/.*?\/(src|bench)\//, "$1/").replace(/^ext:/, "ext:");
  return `${frame.functionName || "(anonymous)"} ${url ? `${url}:${frame.lineNumber + 1}` : ""}`
    .trim();
}

/** Summarizes a parsed profile. */
export function summarize(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const weight = profile.timeDeltas[i] ?? 0;
    total += weight;
    const node = byId.get(profile.samples[i])!;
    self.set(label(node), (self.get(label(node)) ?? 0) + weight);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const name = label(byId.get(id)!);
      if (!name.includes("src/") || seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + weight);
    }
  }
  const rows = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, t]) => ({
      name,
      percent: (100 * t) / total,
    }));
  return { self: rows(self), inclusive: rows(inclusive) };
}

if (import.meta.main) {
  const [file, top] = Deno.args;
  const summary = summarize(JSON.parse(await Deno.readTextFile(file)), Number(top ?? 25));
  console.log("self time:");
  for (const row of summary.self) {
    console.log(`${row.percent.toFixed(1).padStart(6)}%  ${row.name}`);
  }
  console.log("\ninclusive time (src/):");
  for (const row of summary.inclusive) {
    console.log(`${row.percent.toFixed(1).padStart(6)}%  ${row.name}`);
  }
}
