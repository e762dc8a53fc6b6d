import assert from "node:assert/strict";
import { parse } from "smol-toml";
import { type KeyPath, scanKeyPositions, type SourcePosition } from "../../src/config/locate.ts";

function at(line: number, column: number): SourcePosition {
  return { line, column };
}

function assertPositions(source: string, expected: [KeyPath, SourcePosition][]): void {
  const positions = scanKeyPositions(source);
  for (const [path, position] of expected) {
    assert.deepEqual(positions.get(path), position, `position of ${JSON.stringify(path)}`);
  }
}

Deno.test("scanKeyPositions() finds keys at the top level and in tables", () => {
  assertPositions(
    [
      "top = 1",
      "",
      "[log]",
      "  level = 'info' # comment",
      'format="text"',
      "[limits]",
      "max_clients = 4",
    ].join("\n"),
    [
      [["top"], at(1, 1)],
      [["log"], at(3, 1)],
      [["log", "level"], at(4, 3)],
      [["log", "format"], at(5, 1)],
      [["limits"], at(6, 1)],
      [["limits", "max_clients"], at(7, 1)],
    ],
  );
});

Deno.test("scanKeyPositions() counts the entries of arrays of tables", () => {
  assertPositions(
    [
      "[[upstream]]",
      'name = "a"',
      "[[listen]]",
      'socket = "/a"',
      "[[upstream]]",
      'name = "b"',
      "[[upstream]]",
      "  uri = 'x'",
    ].join("\n"),
    [
      [["upstream"], at(1, 1)],
      [["upstream", 0], at(1, 1)],
      [["upstream", 0, "name"], at(2, 1)],
      [["listen", 0, "socket"], at(4, 1)],
      [["upstream", 1], at(5, 1)],
      [["upstream", 1, "name"], at(6, 1)],
      [["upstream", 2], at(7, 1)],
      [["upstream", 2, "uri"], at(8, 3)],
    ],
  );
});

Deno.test("scanKeyPositions() resolves tables nested under arrays of tables", () => {
  assertPositions(
    [
      "[[a]]",
      "[[a.b]]",
      "x = 1",
      "[[a]]",
      "[a.c]",
      "y = 2",
      "[[a.b]]",
      "z = 3",
    ].join("\n"),
    [
      [["a", 0, "b", 0, "x"], at(3, 1)],
      [["a", 1, "c"], at(5, 1)],
      [["a", 1, "c", "y"], at(6, 1)],
      [["a", 1, "b", 0], at(7, 1)],
      [["a", 1, "b", 0, "z"], at(8, 1)],
    ],
  );
});

Deno.test("scanKeyPositions() records every segment of dotted and quoted keys", () => {
  assertPositions(
    [
      '[ "quoted table" . inner ]',
      "a . b.'c d' = 1",
      '"e\\u0066" = 2',
    ].join("\n"),
    [
      [["quoted table"], at(1, 3)],
      [["quoted table", "inner"], at(1, 1)],
      [["quoted table", "inner", "a"], at(2, 1)],
      [["quoted table", "inner", "a", "b"], at(2, 5)],
      [["quoted table", "inner", "a", "b", "c d"], at(2, 7)],
      [["quoted table", "inner", "ef"], at(3, 1)],
    ],
  );
});

Deno.test("scanKeyPositions() looks inside arrays and inline tables", () => {
  assertPositions(
    [
      "list = [",
      '  "one", # a comment with [brackets] and = signs',
      "  [2, 3],",
      "  { name = 'x', sub = { deep = true } },",
      "]",
      "point = { x = 1979-05-27 07:32:00, y = 2 }",
      "after = 1",
    ].join("\n"),
    [
      [["list", 0], at(2, 3)],
      [["list", 1], at(3, 3)],
      [["list", 1, 1], at(3, 7)],
      [["list", 2], at(4, 3)],
      [["list", 2, "name"], at(4, 5)],
      [["list", 2, "sub", "deep"], at(4, 25)],
      [["point", "x"], at(6, 11)],
      [["point", "y"], at(6, 36)],
      [["after"], at(7, 1)],
    ],
  );
});

Deno.test("scanKeyPositions() skips strings that look like keys or headers", () => {
  assertPositions(
    [
      'a = """',
      "[not_a_table]",
      'b = 1 """"',
      "c = '''",
      "[[nor_this]]",
      "''''",
      'd = "# not a comment \\" [x]"',
      "e = 'it''s'",
    ].join("\n"),
    [
      [["a"], at(1, 1)],
      [["c"], at(4, 1)],
      [["d"], at(7, 1)],
      [["e"], at(8, 1)],
    ],
  );
  const positions = scanKeyPositions('a = """\n[x]\nb = 1"""\n');
  assert.equal(positions.get(["x"]), undefined);
  assert.equal(positions.get(["b"]), undefined);
});

Deno.test("scanKeyPositions() handles CRLF line ends", () => {
  assertPositions("[log]\r\nlevel = 'info'\r\n\r\n  format = 'json'\r\n", [
    [["log", "level"], at(2, 1)],
    [["log", "format"], at(4, 3)],
  ]);
});

Deno.test("KeyPositions.nearest() falls back to the closest recorded ancestor", () => {
  const positions = scanKeyPositions("\n[[upstream]]\nname = 'a'\n");
  assert.deepEqual(positions.nearest(["upstream", 0, "uri"]), at(2, 1));
  assert.deepEqual(positions.nearest(["upstream", 0, "name"]), at(3, 1));
  assert.deepEqual(positions.nearest(["missing", "key"]), at(1, 1));
  assert.deepEqual(positions.nearest([]), at(1, 1));
});

Deno.test("KeyPositions keeps the first position recorded for a path", () => {
  const positions = scanKeyPositions("[a.b]\nx = 1\n[a]\ny = 2\n");
  assert.deepEqual(positions.get(["a"]), at(1, 2));
  assert.deepEqual(positions.get(["a", "b"]), at(1, 1));
});

Deno.test("scanKeyPositions() records a position for every path smol-toml parses", async () => {
  const source = [
    await Deno.readTextFile(new URL("../../config.example.toml", import.meta.url)),
    "[x.'y'.\"z\"]",
    "a.b = { c.d = [1, { e = 'f' }, [\"\"\"g\"\"\", '''h''']], 'i' = 1979-05-27T07:32:00Z }",
    'k = """',
    "multi \\",
    '  line"""',
    "[[x.arr]]",
    "[[x.arr]]",
    "[x.arr.sub]",
    "l = -inf",
  ].join("\n");
  const positions = scanKeyPositions(source);
  const missing: string[] = [];
  function visit(value: unknown, path: (string | number)[]): void {
    if (path.length > 0 && positions.get(path) === undefined) missing.push(JSON.stringify(path));
    if (Array.isArray(value)) {
      value.forEach((item, index) => visit(item, [...path, index]));
    } else if (typeof value === "object" && value !== null && !(value instanceof Date)) {
      for (const [key, item] of Object.entries(value)) visit(item, [...path, key]);
    }
  }
  visit(parse(source), []);
  assert.deepEqual(missing, []);
  assert.deepEqual(positions.get(["x", "arr", 1, "sub"]), {
    line: source.split("\n").length - 1,
    column: 1,
  });
});
