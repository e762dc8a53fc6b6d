/**
 * Field tables: each config section declares its keys once, as a table from the typed field to
 * its TOML key, its reader (which carries the key's type and bounds) and its default, and
 * {@linkcode readSection} checks for unknown keys and reads them all from that one table. Private
 * to `config/`.
 *
 * @module
 */

import {
  boolean,
  type Checker,
  closest,
  integer,
  isTable,
  isTableArray,
  oneOf,
  quote,
  seconds,
  type Section,
  string,
  stringArray,
} from "./_fields.ts";

/** Reads one key of a section, reporting each mistake; undefined when absent or wrong. */
export type Reader<T, C = undefined> = (
  checker: Checker,
  section: Section,
  key: string,
  context: C,
) => T | undefined;

/** How one field of a section is written and read. */
export interface Field<T, C = undefined> {
  /** The TOML key, snake_case. */
  key: string;
  /** Reads the key; its bounds and type live here. */
  read: Reader<T, C>;
  /** The value when the key is absent (or wrong: the config is then refused anyway). */
  default?: T;
  /**
   * For a required key, the value the field holds when it is missing or wrong; the config is
   * refused then, so it is never seen. Unlike `default`, not part of the section's defaults.
   */
  placeholder?: T;
  /** At the top level: how the table is written, `[[upstream]]`, for "did you mean" hints. */
  header?: string;
}

/** The field table of a section whose typed form is `T`: one {@linkcode Field} per property. */
export type Fields<T, C = undefined> = { [K in keyof T]-?: Field<Exclude<T[K], undefined>, C> };

/**
 * Reads every field of `fields` from `section` (defaults only when the section is absent), after
 * reporting each key neither the table nor `extraKeys` (read elsewhere) knows. Fields are read in table order. A field with no
 * value, default or placeholder is left out (an optional field).
 */
export function readSection<T, C>(
  checker: Checker,
  section: Section | undefined,
  fields: Fields<T, C>,
  context: C,
  extraKeys: readonly string[] = [],
): T {
  const result: Partial<T> = {};
  if (section !== undefined) checkKeys(checker, section, fields, extraKeys);
  for (const name of Object.keys(fields) as (keyof T)[]) {
    const field = fields[name] as Field<T[keyof T], C>;
    const value = section === undefined
      ? undefined
      : field.read(checker, section, field.key, context);
    const chosen = value ?? copy(field.default) ?? copy(field.placeholder);
    if (chosen !== undefined) result[name] = chosen;
  }
  return result as T;
}

/** The defaults a field table declares (required and optional fields have none). */
export function defaultsOf<T, C>(fields: Fields<T, C>): Partial<T> {
  const defaults: Partial<T> = {};
  for (const name of Object.keys(fields) as (keyof T)[]) {
    const value = (fields[name] as Field<T[keyof T], C>).default;
    if (value !== undefined) defaults[name] = value;
  }
  return defaults;
}

/** The TOML keys of a field table, in table order. */
export function keysOf<T, C>(fields: Fields<T, C>): string[] {
  return Object.values<Field<unknown, C>>(fields).map((field) => field.key);
}

// --- Readers for the common key types -----------------------------------------------------------

/** A boolean. */
export const booleanValue: Reader<boolean, unknown> = (checker, section, key) =>
  boolean(checker, section, key);

/** Any string. */
export const stringValue: Reader<string, unknown> = (checker, section, key) =>
  string(checker, section, key);

/** An array of strings. */
export const stringList: Reader<string[], unknown> = (checker, section, key) =>
  stringArray(checker, section, key);

/** A string from `allowed`. */
export function oneOfValues<T extends string>(allowed: readonly T[]): Reader<T, unknown> {
  return (checker, section, key) => oneOf(checker, section, key, allowed);
}

/** An integer within `min`..`max`; `range` words the bounds in messages. */
export function integerIn(min: number, max: number, range?: string): Reader<number, unknown> {
  return (checker, section, key) => integer(checker, section, key, min, max, range);
}

/** A duration in seconds up to `maxSeconds` (0 allowed or not), read as milliseconds. */
export function secondsUpTo(maxSeconds: number, zeroAllowed: boolean): Reader<number, unknown> {
  return (checker, section, key) => seconds(checker, section, key, zeroAllowed, maxSeconds);
}

// --- Internals -------------------------------------------------------------------------------

/** Reports every key of `section` the table does not know, suggesting the closest known one. */
function checkKeys<T, C>(
  checker: Checker,
  section: Section,
  fields: Fields<T, C>,
  extraKeys: readonly string[],
): void {
  const known = [...keysOf(fields), ...extraKeys];
  for (const [key, value] of Object.entries(section.table)) {
    if (known.includes(key)) continue;
    const suggestion = closest(key, known);
    const path = [...section.path, key];
    if (section.path.length === 0 && (isTable(value) || isTableArray(value))) {
      const header = Object.values<Field<unknown, C>>(fields)
        .find((field) => field.key === suggestion)?.header ?? `[${suggestion}]`;
      const hint = suggestion === undefined ? "" : `; did you mean ${header}?`;
      checker.report(path, `unknown table ${isTable(value) ? `[${key}]` : `[[${key}]]`}${hint}`);
    } else {
      const hint = suggestion === undefined ? "" : `; did you mean ${quote(suggestion)}?`;
      const where = section.path.length === 0 ? "at the top level" : `in ${section.label}`;
      checker.report(path, `unknown key ${quote(key)} ${where}${hint}`);
    }
  }
}

/** A fresh copy of an array default, so that no config shares it with the table. */
function copy<T>(value: T): T {
  return (Array.isArray(value) ? [...value] : value) as T;
}
