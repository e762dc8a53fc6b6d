/**
 * The audit log shared by real processes: several writers on one path extend one chain (through
 * rotations), and a writer killed with SIGKILL leaves a log that verifies, its last records
 * either unsealed or torn, with the loss measured.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { readKeyState } from "../../../src/audit/log/key_file.ts";
import { splitLines } from "../../../src/audit/log/log_reader.ts";
import { verifyLog } from "../../../src/audit/log/verify.ts";
import { formatVerifyResult } from "../../../src/audit/log/verify_report.ts";
import { keyedDir } from "./_log_fixture.ts";

const WRITER = fileURLToPath(new URL("./_writer_process.ts", import.meta.url));

function writerCommand(args: (string | number)[]): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", WRITER, ...args.map(String)],
    stdout: "piped",
    stderr: "piped",
  });
}

/** Size and last byte of a file (0 and undefined when it does not exist yet). */
async function lastByte(path: string): Promise<{ size: number; byte?: number }> {
  try {
    using file = await Deno.open(path, { read: true });
    const size = (await file.stat()).size;
    if (size === 0) return { size };
    await file.seek(size - 1, Deno.SeekMode.Start);
    const byte = new Uint8Array(1);
    await file.read(byte);
    return { size, byte: byte[0] };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { size: 0 };
    throw error;
  }
}

/** Every record of the files in `dir`, parsed. */
async function allRecords(dir: string): Promise<Record<string, unknown>[]> {
  const records: Record<string, unknown>[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.startsWith("audit.jsonl") || entry.name.endsWith(".lock")) continue;
    const path = join(dir, entry.name);
    for (const line of splitLines(path, await Deno.readFile(path))) {
      if (line.record !== undefined) records.push(line.record);
    }
  }
  return records;
}

Deno.test("four processes writing one log at once extend one chain that verifies", async () => {
  await using fixture = await keyedDir();
  const writers = 4;
  const count = 300;
  const children = Array.from(
    { length: writers },
    (_, w) =>
      writerCommand([fixture.path, fixture.statePath, `w${w}`, count, 0, 300, 30000, 1000])
        .output(),
  );
  for (const output of await Promise.all(children)) {
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  }
  const dir = join(fixture.dir, "log");
  const result = await verifyLog([dir], {
    initialKey: fixture.initialKey,
    keyState: await readKeyState(fixture.statePath),
  });
  assert.equal(result.failure, undefined, formatVerifyResult(result).join("\n"));
  assert.ok(result.files.length > 5, `rotated into ${result.files.length} files`);
  assert.equal(result.fromGenesis, true);
  assert.equal(result.unsealed, 0, "each writer sealed at close");
  const calls = (await allRecords(dir)).filter((record) => record.kind === "call");
  assert.equal(calls.length, writers * count);
  const seen = new Set(calls.map((record) => `${record.writer}/${record.n}`));
  assert.equal(seen.size, writers * count, "every record once");
  // The writers really interleaved: the chain switches writer many times.
  const order = calls.sort((a, b) => (a.seq as number) - (b.seq as number));
  let switches = 0;
  for (let i = 1; i < order.length; i++) if (order[i].writer !== order[i - 1].writer) switches++;
  assert.ok(switches >= writers, `only ${switches} switches between writers`);
  console.log(
    `  ${writers} writers x ${count}: ${result.valid} records, ${result.validSeals} seals, ` +
      `${result.files.length} files, ${switches} writer switches`,
  );
});

Deno.test("a writer killed with SIGKILL leaves a log that verifies; the loss is measured", async () => {
  await using fixture = await keyedDir();
  const rate = 2000;
  const child = writerCommand([fixture.path, fixture.statePath, "k", 1_000_000, rate, 1000, 1e9, 2])
    .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let acked = -1;
  let text = "";
  const started = performance.now();
  while (performance.now() - started < 30000) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    const lines = text.split("\n");
    text = lines.pop()!;
    if (lines.length > 0) acked = Number(lines.at(-1));
    if (acked >= rate) break; // about a second of writing
  }
  child.kill("SIGKILL");
  // Drain what it printed before dying.
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
    const lines = text.split("\n");
    text = lines.pop()!;
    if (lines.length > 0) acked = Number(lines.at(-1));
  }
  const status = await child.status;
  await child.stderr.cancel();
  assert.equal(status.signal, "SIGKILL");
  const result = await verifyLog([fixture.path], {
    initialKey: fixture.initialKey,
    keyState: await readKeyState(fixture.statePath),
  });
  const report = formatVerifyResult(result).join("\n");
  assert.equal(result.failure, undefined, report);
  assert.ok(result.validSeals > 0, report);
  const calls = (await allRecords(join(fixture.dir, "log"))).filter((r) => r.kind === "call");
  const lastWritten = Math.max(...calls.map((record) => record.n as number));
  const lost = acked - lastWritten;
  assert.ok(lost <= rate / 10, `lost ${lost} acked records at ${rate}/s`);
  const ending = result.tornLastLine !== undefined
    ? "torn last line"
    : `final ${result.unsealed} records not sealed`;
  console.log(
    `  killed at ${rate} records/s (1 KB): acked ${acked + 1}, on disk ${lastWritten + 1}, ` +
      `lost ${Math.max(0, lost)}; verify: ${ending}`,
  );
});

Deno.test("killed mid-write of large records: torn last line exactly when no newline ends the file", async () => {
  const verdicts: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    await using fixture = await keyedDir();
    const child = writerCommand([fixture.path, fixture.statePath, "big", 1000, 0, 2e6, 1e12, 2])
      .spawn();
    // Kill once the log has some size, preferably while a write is under way (a last byte that
    // is no newline), to catch a write(2) half done.
    const started = performance.now();
    while (performance.now() - started < 20000) {
      const tail = await lastByte(fixture.path);
      if (tail.size > 10e6 && (tail.byte !== 0x0a || performance.now() - started > 3000)) break;
    }
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel();
    await child.stderr.cancel();
    const bytes = await Deno.readFile(fixture.path);
    const endsWithNewline = bytes.at(-1) === 0x0a;
    const result = await verifyLog([fixture.path], {
      initialKey: fixture.initialKey,
      keyState: await readKeyState(fixture.statePath),
    });
    const report = formatVerifyResult(result).join("\n");
    assert.equal(result.failure, undefined, report);
    assert.equal(result.tornLastLine !== undefined, !endsWithNewline, report);
    verdicts.push(
      result.tornLastLine !== undefined
        ? `torn last line (${result.tornLastLine.bytes} bytes)`
        : `final ${result.unsealed} records not sealed`,
    );
  }
  console.log(`  2 MB records, SIGKILL: ${verdicts.join("; ")}`);
});
