/**
 * A small Prometheus registry: metric families rendered in the text exposition format (0.0.4)
 * at scrape time. Counting is a number added to a field or an array slot; nothing is formatted,
 * allocated or looked up by name until someone scrapes. Other parts (the audit log) add their
 * own families with {@linkcode MetricsRegistry.counter} or {@linkcode MetricsRegistry.family}.
 *
 * @module
 */

import { formatSample, type Labels } from "./text_format.ts";

/** The Prometheus metric types virtmux uses. */
export type MetricType = "counter" | "gauge" | "histogram";

/** A family of samples under one name: its help, type and how to render its samples. */
export interface MetricFamily {
  /** The metric name, e.g. `virtmux_calls_total`. */
  readonly name: string;
  /** One line of help. */
  readonly help: string;
  /** Its type. */
  readonly type: MetricType;
  /** Appends the family's sample lines (no HELP/TYPE) to `out`. */
  render(out: string[]): void;
}

/** One labelled series of a {@linkcode Counter}: add to it as often as needed. */
export interface CounterChild {
  /** Adds `by` (default 1). */
  inc(by?: number): void;
  /** The current value. */
  readonly value: number;
}

/** A counter family with fixed label names; children are made once per label set. */
export class Counter implements MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type = "counter";
  readonly #labelNames: readonly string[];
  readonly #children = new Map<string, { labels: string[]; child: Child }>();

  /** A counter called `name` with the labels `labelNames`. */
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    this.name = name;
    this.help = help;
    this.#labelNames = labelNames;
  }

  /** The series for `values` (one per label name, in order), made on first use. */
  labels(...values: string[]): CounterChild {
    if (values.length !== this.#labelNames.length) {
      throw new RangeError(
        `Cannot label "${this.name}": ${values.length} values for ${this.#labelNames.length} labels`,
      );
    }
    const key = values.join("\u0000");
    let entry = this.#children.get(key);
    if (entry === undefined) {
      entry = { labels: values, child: new Child() };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  /** Adds `by` to the series without labels. */
  inc(by = 1): void {
    this.labels().inc(by);
  }

  /** Appends the sample lines. */
  render(out: string[]): void {
    for (const { labels, child } of this.#children.values()) {
      out.push(formatSample(this.name, zip(this.#labelNames, labels), child.value));
    }
  }
}

class Child implements CounterChild {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

/** A family whose samples a function produces at scrape time (gauges read from live state). */
export class CollectedFamily implements MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly #collect: (out: string[], name: string) => void;

  /** `collect` appends sample lines, usually through {@linkcode formatSample}. */
  constructor(
    name: string,
    help: string,
    type: MetricType,
    collect: (out: string[], name: string) => void,
  ) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#collect = collect;
  }

  /** Appends the sample lines. */
  render(out: string[]): void {
    this.#collect(out, this.name);
  }
}

/** The metric families of a process, rendered in the order they were added. */
export class MetricsRegistry {
  readonly #families = new Map<string, MetricFamily>();

  /**
   * Adds `family`; returns it.
   *
   * @throws {Error} when a family of that name exists.
   */
  family<F extends MetricFamily>(family: F): F {
    if (this.#families.has(family.name)) {
      throw new Error(`Cannot add metric "${family.name}": it exists already`);
    }
    this.#families.set(family.name, family);
    return family;
  }

  /** Adds and returns a counter (see {@linkcode Counter}). */
  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.family(new Counter(name, help, labelNames));
  }

  /** Adds a family whose samples `collect` appends at scrape time. */
  collected(
    name: string,
    help: string,
    type: MetricType,
    collect: (out: string[], name: string) => void,
  ): CollectedFamily {
    return this.family(new CollectedFamily(name, help, type, collect));
  }

  /** Names of the families, in order. */
  get names(): string[] {
    return [...this.#families.keys()];
  }

  /** Every family in the text exposition format. */
  render(): string {
    const out: string[] = [];
    for (const family of this.#families.values()) {
      out.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
      family.render(out);
    }
    out.push("");
    return out.join("\n");
  }
}

function zip(names: readonly string[], values: string[]): Labels {
  const labels: Labels = {};
  for (let i = 0; i < names.length; i++) labels[names[i]] = values[i];
  return labels;
}
