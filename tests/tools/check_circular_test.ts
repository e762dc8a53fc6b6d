import assert from "node:assert/strict";
import { join } from "node:path";
import { checkCircular, findCycles, readImportGraph } from "../../tools/check_circular.ts";

/** Writes `files` (path → source) under a new temp dir and returns it. */
async function tree(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "virtmux-circular-" });
  for (const [path, source] of Object.entries(files)) {
    const full = join(root, path);
    await Deno.mkdir(join(full, ".."), { recursive: true });
    await Deno.writeTextFile(full, source);
  }
  // No deno.json of the project applies in the temp dir: give it an empty one.
  await Deno.writeTextFile(join(root, "deno.json"), "{}\n");
  return root;
}

async function quietly<T>(run: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => {};
  try {
    return await run();
  } finally {
    console.log = log;
  }
}

Deno.test("a cycle through a type-only import is found and printed as a chain", async () => {
  const root = await tree({
    "main.ts": 'import { a } from "./src/a.ts";\nconsole.log(a);\n',
    "src/a.ts": 'import { b } from "./b.ts";\nexport const a = b + 1;\n',
    "src/b.ts": 'import type { C } from "./deep/c.ts";\nexport const b: C = 1;\n',
    "src/deep/c.ts": 'import { a } from "../a.ts";\nexport type C = number;\nvoid a;\n',
  });
  try {
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => lines.push(line);
    let status: number;
    try {
      status = await checkCircular(root);
    } finally {
      console.log = log;
    }
    assert.equal(status, 1);
    assert.deepEqual(lines, [
      "Import cycle: src/a.ts -> src/b.ts -> src/deep/c.ts -> src/a.ts",
      "1 import cycle(s) among 4 files",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a tree without cycles passes, whatever its comments, strings and dynamic imports say", async () => {
  const root = await tree({
    "main.ts": 'import { a } from "./src/a.ts";\nconsole.log(a);\n',
    "src/a.ts": [
      "/**",
      " * ```ts",
      ' * import { a } from "./a.ts";',
      " * ```",
      " */",
      'import { b } from "./b.ts";',
      "const text = 'import { a } from \"./a.ts\"';",
      "const pattern = /[\"'`]/;",
      "export const a = b + text.length + String(pattern).length;",
      "",
    ].join("\n"),
    "src/b.ts": 'export const b = 1;\nexport const later = () => import("./a.ts");\n',
  });
  try {
    assert.equal(await quietly(() => checkCircular(root)), 0);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a module importing itself is a cycle of one", async () => {
  const root = await tree({ "src/self.ts": 'import "./self.ts";\nexport const x = 1;\n' });
  try {
    const graph = await readImportGraph([join(root, "src/self.ts")], root);
    const path = join(root, "src/self.ts");
    assert.deepEqual(findCycles(graph), [[path, path]]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("findCycles reports each cycle once, from its smallest path, and ignores files outside", () => {
  const graph = new Map([
    ["c", ["a"]],
    ["a", ["b"]],
    ["b", ["c", "x"]],
    ["x", ["b"]],
    ["tests/t", ["a"]],
    ["d", ["a"]],
  ]);
  assert.deepEqual(findCycles(graph), [["a", "b", "c", "a"], ["b", "x", "b"]]);
  assert.deepEqual(findCycles(graph, (path) => path !== "x"), [["a", "b", "c", "a"]]);
  assert.deepEqual(findCycles(new Map([["a", ["b"]], ["b", []]])), []);
});
