/**
 * Reading typed keys out of parsed TOML tables, reporting each mistake at its key, and the wording
 * those reports share. Private to `config/`.
 *
 * @module
 */

import { TomlDate } from "smol-toml";
import type { KeyPath, KeyPositions } from "./locate.ts";
import type { ConfigProblem } from "./problem.ts";

/** Collects problems, placing each at the position of a key path. */
export class Checker {
  readonly problems: ConfigProblem[] = [];
  readonly #file: string;
  readonly #positions: KeyPositions;

  constructor(file: string, positions: KeyPositions) {
    this.#file = file;
    this.#positions = positions;
  }

  /** Reports `message` at `path` (or at its nearest recorded ancestor). */
  report(path: KeyPath, message: string): void {
    const { line, column } = this.#positions.nearest(path);
    this.problems.push({ file: this.#file, line, column, message });
  }

  /** The line `path` is on, for "first defined at line N" hints. */
  lineOf(path: KeyPath): number {
    return this.#positions.nearest(path).line;
  }

  /** The problems in file order (stable for problems at the same place). */
  sortedProblems(): ConfigProblem[] {
    return this.problems
      .map((problem, index) => ({ problem, index }))
      .sort((a, b) =>
        a.problem.line - b.problem.line || a.problem.column - b.problem.column ||
        a.index - b.index
      )
      .map(({ problem }) => problem);
  }
}

/** A TOML table being checked: its value, its path and how to name it in messages. */
export interface Section {
  table: Record<string, unknown>;
  path: KeyPath;
  /** `[limits]`, `[[upstream]]`, or "the top level". */
  label: string;
}

/** An optional table such as `[limits]`; undefined when absent or not a table (reported). */
export function subTable(checker: Checker, parent: Section, key: string): Section | undefined {
  if (!Object.hasOwn(parent.table, key)) return undefined;
  const value = parent.table[key];
  if (!isTable(value)) {
    checker.report([...parent.path, key], `${quote(key)} must be a table, got ${describe(value)}`);
    return undefined;
  }
  return { table: value, path: [...parent.path, key], label: `[${key}]` };
}

/** An optional array of tables such as `[[upstream]]`; empty when absent or wrong (reported). */
export function tableArray(checker: Checker, parent: Section, key: string): Section[] {
  if (!Object.hasOwn(parent.table, key)) return [];
  const value = parent.table[key];
  const path = [...parent.path, key];
  if (!Array.isArray(value)) {
    checker.report(
      path,
      `${quote(key)} must be an array of tables, written [[${key}]], got ${describe(value)}`,
    );
    return [];
  }
  const sections: Section[] = [];
  for (const [index, item] of value.entries()) {
    if (isTable(item)) {
      sections.push({ table: item, path: [...path, index], label: `[[${key}]]` });
    } else {
      checker.report(
        [...path, index],
        `each item of ${quote(key)} must be a table, got ${describe(item)}`,
      );
    }
  }
  return sections;
}

/** A required, non-empty string key; a missing one is reported at the table header. */
export function requiredString(
  checker: Checker,
  section: Section,
  key: string,
): string | undefined {
  if (!Object.hasOwn(section.table, key)) {
    checker.report(section.path, `missing required key ${quote(key)} in ${section.label}`);
    return undefined;
  }
  const value = string(checker, section, key);
  if (value === "") checker.report([...section.path, key], `${quote(key)} must not be empty`);
  return value === "" ? undefined : value;
}

/** An optional string key; undefined when absent or not a string (reported). */
export function string(checker: Checker, section: Section, key: string): string | undefined {
  if (!Object.hasOwn(section.table, key)) return undefined;
  const value = section.table[key];
  if (typeof value === "string") return value;
  checker.report([...section.path, key], `${quote(key)} must be a string, got ${describe(value)}`);
  return undefined;
}

/** An optional boolean key; undefined when absent or not a boolean (reported). */
export function boolean(checker: Checker, section: Section, key: string): boolean | undefined {
  if (!Object.hasOwn(section.table, key)) return undefined;
  const value = section.table[key];
  if (typeof value === "boolean") return value;
  checker.report([...section.path, key], `${quote(key)} must be a boolean, got ${describe(value)}`);
  return undefined;
}

/** An optional string key that must be one of `allowed`. */
export function oneOf<T extends string>(
  checker: Checker,
  section: Section,
  key: string,
  allowed: readonly T[],
): T | undefined {
  const value = string(checker, section, key);
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const suggestion = closest(value, allowed);
  checker.report(
    [...section.path, key],
    `${quote(key)} must be one of ${allowed.map(quote).join(", ")}, got ${quote(value)}` +
      (suggestion === undefined ? "" : `; did you mean ${quote(suggestion)}?`),
  );
  return undefined;
}

/** An optional integer key within `min`..`max`; `range` words the bounds in messages. */
export function integer(
  checker: Checker,
  section: Section,
  key: string,
  min: number,
  max: number,
  range = `${min} and ${max}`,
): number | undefined {
  if (!Object.hasOwn(section.table, key)) return undefined;
  const value = section.table[key];
  const path = [...section.path, key];
  if (typeof value !== "bigint") {
    checker.report(path, `${quote(key)} must be an integer, got ${describe(value)}`);
    return undefined;
  }
  if (value < BigInt(min) || value > BigInt(max)) {
    checker.report(path, `${quote(key)} must be between ${range}, got ${value}`);
    return undefined;
  }
  return Number(value);
}

/** A duration in seconds (integer or float), returned in whole milliseconds. */
export function seconds(
  checker: Checker,
  section: Section,
  key: string,
  zeroAllowed: boolean,
  maxSeconds: number,
): number | undefined {
  if (!Object.hasOwn(section.table, key)) return undefined;
  const value = section.table[key];
  const path = [...section.path, key];
  if (typeof value !== "bigint" && typeof value !== "number") {
    checker.report(path, `${quote(key)} must be a number of seconds, got ${describe(value)}`);
    return undefined;
  }
  const ms = Math.round(Number(value) * 1000);
  const tooSmall = zeroAllowed ? ms < 0 : ms < 1;
  if (Number.isNaN(ms) || tooSmall || Number(value) > maxSeconds) {
    const low = zeroAllowed ? "0" : "0.001";
    checker.report(
      path,
      `${quote(key)} must be between ${low} and ${maxSeconds} seconds, got ${describe(value)}`,
    );
    return undefined;
  }
  return ms;
}

/** An optional array of strings; items of other types are reported at the item. */
export function stringArray(checker: Checker, section: Section, key: string): string[] | undefined {
  if (!Object.hasOwn(section.table, key)) return undefined;
  const value = section.table[key];
  const path = [...section.path, key];
  if (!Array.isArray(value)) {
    checker.report(path, `${quote(key)} must be an array of strings, got ${describe(value)}`);
    return undefined;
  }
  const strings: string[] = [];
  for (const [index, item] of value.entries()) {
    if (typeof item === "string") {
      strings.push(item);
    } else {
      checker.report(
        [...path, index],
        `each item of ${quote(key)} must be a string, got ${describe(item)}`,
      );
    }
  }
  return strings;
}

// --- Wording -----------------------------------------------------------------------------------

/** Whether a parsed TOML value is a table (not an array or a date). */
export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** Whether a parsed TOML value is a non-empty array of tables. */
export function isTableArray(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0 && value.every(isTable);
}

/** A TOML value described for a message: `string "yes"`, `integer 5`, `an array`. */
export function describe(value: unknown): string {
  if (typeof value === "string") return `string ${quote(value)}`;
  if (typeof value === "bigint") return `integer ${value}`;
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "float nan";
    if (!Number.isFinite(value)) return `float ${value > 0 ? "inf" : "-inf"}`;
    return `float ${Number.isInteger(value) ? value.toFixed(1) : value}`;
  }
  if (typeof value === "boolean") return `boolean ${value}`;
  if (value instanceof TomlDate) return `date-time ${value.toISOString()}`;
  if (Array.isArray(value)) return "an array";
  return "a table";
}

/** A value in double quotes, escaped as JSON (and TOML) would. */
export function quote(value: string): string {
  return JSON.stringify(value);
}

/** The candidate closest to `word`, ignoring case, `_` and `-`, if it is close enough. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const normal = normalize(word);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(normal, normalize(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const allowed = Math.max(2, Math.floor(normal.length / 4));
  if (bestDistance <= allowed) return best;
  // A shortening such as "warn" for "warning".
  return normal.length >= 3
    ? candidates.find((candidate) => normalize(candidate).startsWith(normal))
    : undefined;
}

/** A key reduced for comparison: lower case, without `_` and `-`. */
export function normalize(word: string): string {
  return word.toLowerCase().replace(/[_-]/g, "");
}

/** Levenshtein distance, one row at a time. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}
