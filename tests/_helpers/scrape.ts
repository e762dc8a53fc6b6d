/**
 * Reading Prometheus text in tests: samples by name and labels.
 *
 * @module
 */

/** One sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed scrape. */
export interface Scrape {
  /** Every sample, in order. */
  samples: Sample[];
  /** The value of the one sample with exactly `labels`; 0 when there is none. */
  value(name: string, labels: Record<string, string>): number;
  /** The sum over samples whose labels include `labels`. */
  sum(name: string, labels: Record<string, string>): number;
  /** The label sets of `name`. */
  labelsOf(name: string): Record<string, string>[];
}

/** Parses the text exposition format (HELP/TYPE lines checked for shape, then skipped). */
export function parseScrape(text: string): Scrape {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) {
      if (line.startsWith("#") && !/^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* /.test(line)) {
        throw new SyntaxError(`Bad comment line: ${line}`);
      }
      continue;
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new SyntaxError(`Bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const m of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1]] = m[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    const value = match[3] === "+Inf" ? Infinity : Number(match[3]);
    samples.push({ name: match[1], labels, value });
  }
  const includes = (have: Record<string, string>, want: Record<string, string>) =>
    Object.entries(want).every(([k, v]) => have[k] === v);
  return {
    samples,
    value(name, labels) {
      const found = samples.filter((s) =>
        s.name === name && includes(s.labels, labels) &&
        Object.keys(s.labels).length === Object.keys(labels).length
      );
      if (found.length > 1) throw new Error(`Several samples of ${name} match`);
      return found[0]?.value ?? 0;
    },
    sum(name, labels) {
      return samples.filter((s) => s.name === name && includes(s.labels, labels))
        .reduce((n, s) => n + s.value, 0);
    },
    labelsOf(name) {
      return samples.filter((s) => s.name === name).map((s) => s.labels);
    },
  };
}
