/** The locked file set: the chain head read back from tails of every shape. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { GENESIS, lineHash } from "../../../src/audit/log/chain.ts";
import { LockedLogFile } from "../../../src/audit/log/locked_log_file.ts";
import { recordLine } from "../../../src/audit/log/record_line.ts";

async function headOf(path: string) {
  const files = await LockedLogFile.open(path, { keep: 3, mode: 0o600, now: () => new Date(0) });
  try {
    return await files.lock();
  } finally {
    await files.close();
  }
}

Deno.test("the head of a new log is genesis; of a log, the line after its last", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-audit-" });
  try {
    const path = join(dir, "audit.jsonl");
    assert.deepEqual(await headOf(path), { seq: 0, prev: GENESIS, fromDisk: true });
    const first = recordLine(0, GENESIS, '{"kind":"a"}');
    const big = recordLine(1, lineHash(first), JSON.stringify({ pad: "y".repeat(300_000) }));
    await Deno.writeTextFile(path, `${first}\n${big}\n`);
    assert.deepEqual(await headOf(path), { seq: 2, prev: lineHash(big), fromDisk: true });
    // Right after a rotation the active file is empty: the head is the end of PATH.1.
    await Deno.rename(path, `${path}.1`);
    await Deno.writeTextFile(path, "");
    assert.deepEqual(await headOf(path), { seq: 2, prev: lineHash(big), fromDisk: true });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a seal at the tail is reported with its epoch", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-audit-" });
  try {
    const path = join(dir, "audit.jsonl");
    const seal = recordLine(0, GENESIS, '{"kind":"seal","epoch":4,"hmac":"00"}');
    await Deno.writeTextFile(path, `${seal}\n`);
    assert.deepEqual(await headOf(path), {
      seq: 1,
      prev: lineHash(seal),
      sealEpoch: 4,
      fromDisk: true,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a last line that is no record stops the writer with the file named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-audit-" });
  try {
    const path = join(dir, "audit.jsonl");
    await Deno.writeTextFile(path, "hello\n");
    await assert.rejects(
      headOf(path),
      /Cannot continue the audit chain in ".*audit\.jsonl": its last line is not an audit record/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
