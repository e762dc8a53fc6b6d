/**
 * The writer: envelope and chain, sealing and key evolution, rotation, backpressure, and what it
 * finds on disk when it (re)opens a log another writer left.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditLog } from "../../../src/audit/log/audit_log.ts";
import { GENESIS, keyAtEpoch, lineHash } from "../../../src/audit/log/chain.ts";
import { readKeyState } from "../../../src/audit/log/key_file.ts";
import { verifyLog } from "../../../src/audit/log/verify.ts";
import { formatVerifyResult } from "../../../src/audit/log/verify_report.ts";
import { callRecord, keyedDir, type LogFixture, readLines, writeLog } from "./_log_fixture.ts";

async function assertVerifies(fixture: LogFixture, paths = [fixture.path]): Promise<void> {
  const result = await verifyLog(paths, {
    initialKey: fixture.initialKey,
    keyState: await readKeyState(fixture.statePath),
  });
  assert.equal(result.failure, undefined, formatVerifyResult(result).join("\n"));
}

Deno.test("records get seq, prev and time in front of their own fields", async () => {
  await using fixture = await keyedDir();
  const now = () => new Date("2026-01-02T03:04:05.678Z");
  const log = await AuditLog.open(fixture.path, { now });
  await log.write({ kind: "connect", client: 7 });
  await log.write({ time: "given", seq: 99, prev: "forged", hyper: 18446744073709551615n });
  await log.write({});
  await log.close();
  const lines = await readLines(fixture.path);
  assert.equal(
    lines[0],
    `{"seq":0,"prev":"${GENESIS}","time":"2026-01-02T03:04:05.678Z","kind":"connect","client":7}`,
  );
  assert.equal(
    lines[1],
    `{"seq":1,"prev":"${lineHash(lines[0])}","time":"given","hyper":18446744073709551615}`,
  );
  assert.equal(
    lines[2],
    `{"seq":2,"prev":"${lineHash(lines[1])}","time":"2026-01-02T03:04:05.678Z"}`,
  );
});

Deno.test("a reopened log continues the chain where it ended", async () => {
  await using fixture = await keyedDir();
  await writeLog(fixture, 3, 100);
  await writeLog(fixture, 2, 100);
  const seqs = (await readLines(fixture.path)).map((line) => JSON.parse(line).seq);
  assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5, 6]); // 3 records, seal, 2 records, seal
  await assertVerifies(fixture);
});

Deno.test("seals come at the interval while records arrive, and the key evolves", async () => {
  await using fixture = await keyedDir();
  const log = await AuditLog.open(fixture.path, {
    keyStatePath: fixture.statePath,
    sealIntervalMs: 30,
  });
  for (let n = 0; n < 5; n++) {
    await log.write(callRecord(n));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const sealsBeforeIdle = log.stats.seals;
  assert.ok(sealsBeforeIdle >= 3, `only ${sealsBeforeIdle} seals`);
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(log.stats.seals, sealsBeforeIdle, "an idle log is not sealed again");
  await log.close();
  const seals = (await readLines(fixture.path)).map((line) => JSON.parse(line))
    .filter((record) => record.kind === "seal");
  assert.deepEqual(seals.map((seal) => seal.epoch), seals.map((_, i) => i));
  assert.ok(seals.some((seal) => seal.reason === "interval"));
  const state = await readKeyState(fixture.statePath);
  assert.equal(state.epoch, seals.length);
  assert.deepEqual(state.key, keyAtEpoch(fixture.initialKey, seals.length));
  await assertVerifies(fixture);
});

Deno.test("close seals what is unsealed, and a log with nothing new gets no second seal", async () => {
  await using fixture = await keyedDir();
  const log = await AuditLog.open(fixture.path, { keyStatePath: fixture.statePath });
  await log.write(callRecord(1));
  await log.seal();
  await log.seal();
  await log.close();
  const kinds = (await readLines(fixture.path)).map((line) => JSON.parse(line).kind);
  assert.deepEqual(kinds, ["call", "seal"]);
  await assert.rejects(log.write(callRecord(2)), /Cannot write to audit log ".*": closed/);
});

Deno.test("rotation by size keeps KEEP files, each rotated file ends with a seal", async () => {
  await using fixture = await keyedDir();
  await writeLog(fixture, 40, 1000, { rotateBytes: 2500, keep: 2 });
  const dir = join(fixture.dir, "log");
  const names = [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
  assert.deepEqual(names, ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.lock"]);
  for (const name of ["audit.jsonl.1", "audit.jsonl.2"]) {
    const last = JSON.parse((await readLines(join(dir, name))).at(-1)!);
    assert.equal(last.kind, "seal");
    assert.equal(last.reason, "rotate");
  }
  const result = await verifyLog([dir], { initialKey: fixture.initialKey });
  assert.equal(result.failure, undefined, formatVerifyResult(result).join("\n"));
  assert.equal(result.fromGenesis, false, "the oldest files were rotated away");
});

Deno.test("drop mode counts what it drops and says so in a dropped record", async () => {
  await using fixture = await keyedDir();
  const log = await AuditLog.open(fixture.path, {
    backpressure: "drop",
    maxBufferedBytes: 2000,
  });
  for (let n = 0; n < 100; n++) log.write(callRecord(n)); // no await: a burst
  await log.flush();
  const dropped = log.stats.dropped;
  assert.ok(dropped > 50, `dropped ${dropped}`);
  await log.write(callRecord(100));
  await log.close();
  const records = (await readLines(fixture.path)).map((line) => JSON.parse(line));
  const notice = records.find((record) => record.kind === "dropped");
  assert.equal(notice?.count, dropped);
  assert.equal(records.at(-1).n, 100);
  assert.equal(records.filter((record) => record.kind === "call").length, 101 - dropped);
  await assertVerifies(fixture);
});

Deno.test("block mode makes writers wait past the bound and loses nothing", async () => {
  await using fixture = await keyedDir();
  const log = await AuditLog.open(fixture.path, { maxBufferedBytes: 2000 });
  const accepted: Promise<void>[] = [];
  for (let n = 0; n < 100; n++) accepted.push(log.write(callRecord(n)));
  let settled = 0;
  for (const promise of accepted) promise.then(() => settled++);
  await Promise.resolve();
  assert.ok(settled < 100, "writers past the bound wait");
  await Promise.all(accepted);
  await log.close();
  const ns = (await readLines(fixture.path)).map((line) => JSON.parse(line).n);
  assert.deepEqual(ns, Array.from({ length: 100 }, (_, n) => n));
  assert.equal(log.stats.dropped, 0);
});

Deno.test("a writer ends a torn tail with a torn_line record, or just a newline when whole", async () => {
  await using fixture = await keyedDir();
  await writeLog(fixture, 2, 100);
  const whole = await readLines(fixture.path);
  const next = `{"seq":3,"prev":"${lineHash(whole.at(-1)!)}","kind":"call"}`;
  await Deno.writeTextFile(fixture.path, next, { append: true });
  await writeLog(fixture, 1, 100);
  let lines = await readLines(fixture.path);
  assert.equal(lines[3], next, "a whole record that lacked only its newline is kept");
  assert.equal(JSON.parse(lines[4]).seq, 4);
  await Deno.writeTextFile(fixture.path, next.slice(0, 30), { append: true });
  await writeLog(fixture, 1, 100);
  lines = await readLines(fixture.path);
  const torn = lines.findIndex((line) => line === next.slice(0, 30));
  assert.deepEqual(
    { kind: JSON.parse(lines[torn + 1]).kind, bytes: JSON.parse(lines[torn + 1]).bytes },
    { kind: "torn_line", bytes: 30 },
  );
  await assertVerifies(fixture);
});

Deno.test("a crash between a seal and the key state update is repaired by the next writer", async () => {
  await using fixture = await keyedDir();
  await writeLog(fixture, 3, 100); // ends with the close seal, epoch 0; state now at epoch 1
  // As if the writer died after writing the seal and before replacing the key state:
  const stale = await Deno.readTextFile(fixture.statePath);
  assert.match(stale, /"epoch":1/);
  await Deno.writeTextFile(
    fixture.statePath,
    stale.replace(/"epoch":1,"key":"[0-9a-f]+"/, () => {
      const key = Array.from(fixture.initialKey, (b) => b.toString(16).padStart(2, "0")).join("");
      return `"epoch":0,"key":"${key}"`;
    }),
  );
  assert.equal((await readKeyState(fixture.statePath)).epoch, 0);
  await writeLog(fixture, 3, 100);
  const epochs = (await readLines(fixture.path)).map((line) => JSON.parse(line))
    .filter((record) => record.kind === "seal").map((seal) => seal.epoch);
  assert.deepEqual(epochs, [0, 1]);
  await assertVerifies(fixture);
});

Deno.test("a write that fails names the file, and later writes are refused", async () => {
  await using fixture = await keyedDir();
  const log = await AuditLog.open(join(fixture.dir, "log", "audit.jsonl"));
  await Deno.remove(join(fixture.dir, "log"), { recursive: true });
  await Deno.writeTextFile(join(fixture.dir, "log"), "a file where the directory was");
  await log.write(callRecord(1));
  await assert.rejects(log.flush(), /Cannot write audit log ".*audit\.jsonl": /);
  await assert.rejects(log.write(callRecord(2)), /Cannot write audit log/);
  await log.close().catch(() => {});
});

Deno.test("opening with a missing key state fails and names the file", async () => {
  await using fixture = await keyedDir();
  await assert.rejects(
    AuditLog.open(fixture.path, { keyStatePath: join(fixture.dir, "missing") }),
    /Cannot read key ".*missing": no such file/,
  );
});

Deno.test("a record that is no JSON is refused by a rejection, and the log goes on", async () => {
  await using fixture = await keyedDir();
  const log = await AuditLog.open(fixture.path);
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  await assert.rejects(log.write(circular), /Cannot write a record to audit log ".*": /);
  await log.write(callRecord(1));
  await log.close();
  assert.equal((await readLines(fixture.path)).length, 1);
});
