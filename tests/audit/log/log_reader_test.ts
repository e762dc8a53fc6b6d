/** Reading logs back: lines, and files in chain order. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { GENESIS } from "../../../src/audit/log/chain.ts";
import { collectLogFiles, splitLines } from "../../../src/audit/log/log_reader.ts";
import { recordLine } from "../../../src/audit/log/record_line.ts";

Deno.test("lines: numbered from 1, a last line without newline marked", () => {
  const lines = splitLines("f", new TextEncoder().encode('{"a":1}\nx\n{"b"'));
  assert.deepEqual(lines.map((l) => [l.line, l.text, l.newline, l.bytes]), [
    [1, '{"a":1}', true, 7],
    [2, "x", true, 1],
    [3, '{"b"', false, 4],
  ]);
  assert.equal(lines[0].record, undefined, "no seq and prev: no record");
});

Deno.test("a directory's files come in order of their first seq; others are set aside", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-audit-" });
  try {
    await Deno.writeTextFile(join(dir, "b"), recordLine(0, GENESIS, "{}") + "\n");
    await Deno.writeTextFile(join(dir, "a"), recordLine(5, GENESIS, "{}") + "\n");
    await Deno.writeTextFile(join(dir, "c"), "");
    await Deno.writeTextFile(join(dir, "d"), "notes\n");
    await Deno.writeTextFile(join(dir, "x.lock"), "");
    const { files, skipped } = await collectLogFiles([dir]);
    assert.deepEqual(files, [join(dir, "b"), join(dir, "a")]);
    assert.deepEqual(skipped, [
      { path: join(dir, "c"), reason: "empty" },
      { path: join(dir, "d"), reason: "not an audit log" },
    ]);
    await assert.rejects(collectLogFiles([join(dir, "nope")]), /no such file or directory/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
