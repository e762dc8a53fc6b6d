import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { Checker, type Section } from "../../src/config/_fields.ts";
import {
  booleanValue,
  defaultsOf,
  type Fields,
  integerIn,
  keysOf,
  readSection,
} from "../../src/config/_section.ts";
import { scanKeyPositions } from "../../src/config/locate.ts";

interface Sample {
  name: string;
  count: number;
  flag: boolean;
  tags: string[];
  extra?: number;
}

const FIELDS: Fields<Sample> = {
  name: {
    key: "name",
    read: (checker, section, key) => {
      const value = section.table[key];
      if (typeof value === "string") return value;
      checker.report(section.path, `missing required key "${key}"`);
      return undefined;
    },
    placeholder: "",
  },
  count: { key: "count", read: integerIn(1, 10), default: 5 },
  flag: { key: "flag_it", read: booleanValue, default: false },
  tags: { key: "tags", read: () => undefined, default: ["a"] },
  extra: { key: "extra", read: integerIn(0, 100) },
};

function section(source: string): { checker: Checker; section: Section } {
  const text = `[t]\n${source}`;
  const document = parse(text, { integersAsBigInt: true });
  return {
    checker: new Checker("t.toml", scanKeyPositions(text)),
    section: { table: document.t as Record<string, unknown>, path: ["t"], label: "[t]" },
  };
}

Deno.test("fields are read from their TOML keys, absent ones take their defaults", () => {
  const { checker, section: s } = section('name = "x"\ncount = 7\nflag_it = true\nextra = 9');
  const sample = readSection(checker, s, FIELDS, undefined);
  assert.deepEqual(sample, { name: "x", count: 7, flag: true, tags: ["a"], extra: 9 });
  assert.deepEqual(checker.problems, []);
});

Deno.test("a wrong value falls back to the default and is reported at its key", () => {
  const { checker, section: s } = section('name = "x"\ncount = 70');
  const sample = readSection(checker, s, FIELDS, undefined);
  assert.deepEqual(sample, { name: "x", count: 5, flag: false, tags: ["a"] });
  assert.deepEqual(checker.problems.map((p) => [p.line, p.message]), [
    [3, `"count" must be between 1 and 10, got 70`],
  ]);
});

Deno.test("a missing required key holds its placeholder; unknown keys are reported with a hint", () => {
  const { checker, section: s } = section("flagit = true");
  const sample = readSection(checker, s, FIELDS, undefined);
  assert.equal(sample.name, "");
  assert.deepEqual(checker.sortedProblems().map((p) => p.message), [
    `missing required key "name"`,
    `unknown key "flagit" in [t]; did you mean "flag_it"?`,
  ]);
});

Deno.test("an absent section is all defaults, and array defaults are never shared", () => {
  const checker = new Checker("t.toml", scanKeyPositions(""));
  const first = readSection(checker, undefined, FIELDS, undefined);
  const second = readSection(checker, undefined, FIELDS, undefined);
  assert.deepEqual(first, { name: "", count: 5, flag: false, tags: ["a"] });
  first.tags.push("b");
  assert.deepEqual(second.tags, ["a"]);
  assert.deepEqual(FIELDS.tags.default, ["a"]);
});

Deno.test("defaultsOf and keysOf list what the table declares", () => {
  assert.deepEqual(defaultsOf(FIELDS), { count: 5, flag: false, tags: ["a"] });
  assert.deepEqual(keysOf(FIELDS), ["name", "count", "flag_it", "tags", "extra"]);
});
