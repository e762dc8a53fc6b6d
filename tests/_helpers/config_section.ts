/**
 * One config table parsed as the loader parses it, for tests of the section readers.
 *
 * @module
 */

import { parse } from "smol-toml";
import { Checker, type Section, tableArray } from "../../src/config/_fields.ts";
import { readListeners } from "../../src/config/listen_section.ts";
import { scanKeyPositions } from "../../src/config/locate.ts";
import { readUpstreams } from "../../src/config/upstream_section.ts";

/** A checker over `text` and its top-level table. */
export function document(text: string): { checker: Checker; top: Section } {
  const table = parse(text, { integersAsBigInt: true }) as Record<string, unknown>;
  return {
    checker: new Checker("t.toml", scanKeyPositions(text)),
    top: { table, path: [], label: "the top level" },
  };
}

/** `[name]` with `body` in it, as a section, with its checker. */
export function table(name: string, body: string): { checker: Checker; section: Section } {
  const { checker, top } = document(`[${name}]\n${body}`);
  const section = {
    table: top.table[name] as Record<string, unknown>,
    path: [name],
    label: `[${name}]`,
  };
  return { checker, section };
}

/** Every `[[name]]` of `text`, as sections, with their checker. */
export function tables(name: string, text: string): { checker: Checker; sections: Section[] } {
  const { checker, top } = document(text);
  return { checker, sections: tableArray(checker, top, name) };
}

/** The problems reported so far, as `LINE:COL: message`. */
export function problems(checker: Checker): string[] {
  return checker.sortedProblems().map((p) => `${p.line}:${p.column}: ${p.message}`);
}

/** The `[[listen]]` tables of `text` read against its `[[upstream]]` tables, and the problems. */
export function listenersOf(text: string) {
  const { checker, top } = document(text);
  const upstreams = readUpstreams(checker, tableArray(checker, top, "upstream"));
  const listeners = readListeners(checker, tableArray(checker, top, "listen"), upstreams);
  return { listeners, problems: problems(checker) };
}
