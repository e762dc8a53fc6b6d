/**
 * `verifyLog` against every kind of tampering, on logs the real writer made: each is found, at
 * the right line, with the right kind.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { newInitialKey, readKeyState } from "../../../src/audit/log/key_file.ts";
import { verifyLog, type VerifyOptions } from "../../../src/audit/log/verify.ts";
import { formatVerifyResult } from "../../../src/audit/log/verify_report.ts";
import {
  forgeFrom,
  keyedDir,
  type LogFixture,
  readLines,
  writeLines,
  writeLog,
} from "./_log_fixture.ts";

/** A clean log of 20 records sealed every 5 (4 seals), then 3 unsealed: 27 lines. */
async function cleanLog(fixture: LogFixture): Promise<string[]> {
  await writeLog(fixture, 20, 5, { tail: 3 });
  return await readLines(fixture.path);
}

async function verify(fixture: LogFixture, options?: VerifyOptions) {
  return await verifyLog([fixture.path], options ?? { initialKey: fixture.initialKey });
}

Deno.test("a clean log verifies: every record and seal valid, the unsealed tail counted", async () => {
  await using fixture = await keyedDir();
  const lines = await cleanLog(fixture);
  assert.equal(lines.length, 27);
  const result = await verify(fixture, {
    initialKey: fixture.initialKey,
    keyState: await readKeyState(fixture.statePath),
  });
  assert.equal(result.failure, undefined);
  assert.equal(result.valid, 27);
  assert.equal(result.validSeals, 4);
  assert.equal(result.unsealed, 3);
  const report = formatVerifyResult(result).join("\n");
  assert.match(
    report,
    /^27\/27 records valid, 4\/4 seals valid, validated from \S+ to \S+, final 3 records not sealed$/m,
  );
});

Deno.test("without a key only the chain is checked, and the report says seals were not", async () => {
  await using fixture = await keyedDir();
  await cleanLog(fixture);
  const result = await verify(fixture, {});
  assert.equal(result.failure, undefined);
  assert.match(formatVerifyResult(result).join("\n"), /4 seals not checked \(no --key/);
});

const tamperings: {
  name: string;
  tamper: (lines: string[]) => string[];
  kind: string;
  line: number;
  message: RegExp;
}[] = [
  {
    name: "one byte edited in a record",
    tamper: (lines) => lines.with(7, lines[7].replace("vm-6", "vm-9")),
    kind: "edited",
    line: 8,
    message: /record \(seq 7\) was edited/,
  },
  {
    name: "one byte edited so the line is no JSON",
    tamper: (lines) => lines.with(7, lines[7].replace("{", "[")),
    kind: "edited",
    line: 8,
    message: /not valid JSON/,
  },
  {
    name: "a line deleted",
    tamper: (lines) => lines.toSpliced(3, 1),
    kind: "deleted",
    line: 4,
    message: /1 record \(seq 3\) deleted after .*:3/,
  },
  {
    name: "two lines deleted",
    tamper: (lines) => lines.toSpliced(3, 2),
    kind: "deleted",
    line: 4,
    message: /2 records \(seq 3\.\.4\) deleted/,
  },
  {
    name: "a line that is no record inserted",
    tamper: (lines) => lines.toSpliced(4, 0, '{"kind":"call","procedure":"DOMAIN_CREATE"}'),
    kind: "inserted",
    line: 5,
    message: /no audit record/,
  },
  {
    name: "a copy of an earlier record inserted",
    tamper: (lines) => lines.toSpliced(9, 0, lines[2]),
    kind: "inserted",
    line: 10,
    message: /copy of record seq 2 was inserted after seq 8/,
  },
  {
    name: "a record forged into the chain (right seq and prev)",
    tamper: (lines) => {
      const forged = JSON.parse(lines[4]);
      forged.object.name = "vm-forged";
      return lines.toSpliced(4, 0, JSON.stringify(forged));
    },
    kind: "inserted",
    line: 5,
    message: /a record \(seq 4\) was inserted/,
  },
  {
    name: "two lines swapped",
    tamper: (lines) => lines.with(2, lines[3]).with(3, lines[2]),
    kind: "reordered",
    line: 3,
    message: /seq 3 comes before seq 2/,
  },
  {
    name: "a line moved further down",
    tamper: (lines) => lines.toSpliced(2, 1).toSpliced(6, 0, lines[2]),
    kind: "reordered",
    line: 3,
    message: /seq 3 comes before seq 2/,
  },
];

for (const { name, tamper, kind, line, message } of tamperings) {
  Deno.test(`tampering detected: ${name}`, async () => {
    await using fixture = await keyedDir();
    await writeLines(fixture.path, tamper(await cleanLog(fixture)));
    const result = await verify(fixture);
    assert.ok(result.failure, formatVerifyResult(result).join("\n"));
    assert.equal(result.failure.kind, kind, result.failure.message);
    assert.equal(result.failure.line, line, result.failure.message);
    assert.match(result.failure.message, message);
    assert.match(formatVerifyResult(result).join("\n"), /FAILED$/);
  });
}

Deno.test("an edit past the last seal is invisible to the chain, and reported as unsealed", async () => {
  await using fixture = await keyedDir();
  const lines = await cleanLog(fixture);
  await writeLines(fixture.path, lines.with(26, lines[26].replace("vm-22", "vm-99")));
  const result = await verify(fixture);
  assert.equal(result.failure, undefined);
  assert.equal(result.unsealed, 3);
});

Deno.test("a tail cut at a line boundary: unsealed without the key state, truncated with it", async () => {
  await using fixture = await keyedDir();
  const lines = await cleanLog(fixture);
  await writeLines(fixture.path, lines.slice(0, 14)); // ends after 2 records past the 2nd seal
  const chainOnly = await verify(fixture);
  assert.equal(chainOnly.failure, undefined);
  assert.equal(chainOnly.unsealed, 2);
  const withState = await verify(fixture, {
    initialKey: fixture.initialKey,
    keyState: await readKeyState(fixture.statePath),
  });
  assert.equal(withState.failure?.kind, "truncated");
  assert.match(
    withState.failure!.message,
    /ends at the seal of epoch 1 but the writer has sealed up to epoch 3: .* \(2 seals .*\) was cut/,
  );
});

Deno.test("a torn last line (a crash mid-write) is told apart from a cut and is no failure", async () => {
  await using fixture = await keyedDir();
  const lines = await cleanLog(fixture);
  const text = lines.map((line) => line + "\n").join("");
  await Deno.writeTextFile(
    fixture.path,
    text + lines[26].slice(0, 40).replace('"seq":26', '"seq":27'),
  );
  const result = await verify(fixture);
  assert.equal(result.failure, undefined);
  assert.equal(result.valid, 27);
  assert.deepEqual(result.tornLastLine, { file: fixture.path, line: 28, bytes: 40 });
  assert.match(
    formatVerifyResult(result).join("\n"),
    /torn last line: .*:28 \(40 bytes, no newline\)/,
  );
});

Deno.test("records changed and re-sealed with the writer's later key: resealed", async () => {
  await using fixture = await keyedDir();
  const lines = await cleanLog(fixture);
  const edited = lines.with(7, lines[7].replace("vm-6", "vm-9"));
  await writeLines(fixture.path, await forgeFrom(edited, 8, fixture.statePath));
  const chainOnly = await verify(fixture, {});
  assert.equal(chainOnly.failure, undefined, "the forged chain is consistent");
  const result = await verify(fixture);
  assert.equal(result.failure?.kind, "resealed");
  assert.equal(result.failure?.line, 12);
  assert.match(
    result.failure!.message,
    /epoch 4 where the seal of epoch 0 .* calls for epoch 1: .*later key/,
  );
});

Deno.test("records changed and the chain rebuilt, seal left: bad seal", async () => {
  await using fixture = await keyedDir();
  const lines = await cleanLog(fixture);
  const edited = lines.with(7, lines[7].replace("vm-6", "vm-9"));
  const rebuilt = await forgeFrom(edited, 8, fixture.statePath);
  // Keep the original seals' epoch and hmac: only the chain is rebuilt.
  const result = await (async () => {
    const out = rebuilt.map((line, i) => {
      const record = JSON.parse(line);
      if (record.kind !== "seal") return line;
      const original = JSON.parse(lines[i]);
      record.epoch = original.epoch;
      record.hmac = original.hmac;
      return JSON.stringify(record);
    });
    await writeLines(fixture.path, out);
    return await verify(fixture);
  })();
  assert.equal(result.failure?.kind, "bad_seal");
  assert.equal(result.failure?.line, 12);
});

Deno.test("the wrong key is named as such", async () => {
  await using fixture = await keyedDir();
  await cleanLog(fixture);
  const result = await verify(fixture, { initialKey: newInitialKey() });
  assert.equal(result.failure?.kind, "wrong_key");
  assert.equal(result.failure?.line, 6);
});

Deno.test("a torn line the next writer ended and recorded verifies, with a note", async () => {
  await using fixture = await keyedDir();
  await writeLog(fixture, 4, 100);
  await Deno.writeTextFile(fixture.path, '{"seq":5,"prev":"ab', { append: true });
  await writeLog(fixture, 3, 100);
  const result = await verify(fixture);
  assert.equal(result.failure, undefined, formatVerifyResult(result).join("\n"));
  assert.deepEqual(result.recoveredTornLines, [{ file: fixture.path, line: 6, bytes: 19 }]);
  assert.equal(result.valid, 4 + 1 + 1 + 3 + 1);
});

Deno.test("a rotated log verifies from its directory, in chain order whatever the names", async () => {
  await using fixture = await keyedDir();
  await writeLog(fixture, 60, 7, { rotateBytes: 3000, keep: 20 });
  const dir = join(fixture.dir, "log");
  const names = [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
  assert.ok(names.length >= 5, names.join(" "));
  const result = await verifyLog([dir], {
    initialKey: fixture.initialKey,
    keyState: await readKeyState(fixture.statePath),
  });
  assert.equal(result.failure, undefined, formatVerifyResult(result).join("\n"));
  assert.equal(result.fromGenesis, true);
  assert.equal(result.files.at(-1), fixture.path);
  assert.equal(result.files[0], join(dir, `audit.jsonl.${result.files.length - 1}`));
  // Renamed files still read in chain order.
  await Deno.rename(join(dir, "audit.jsonl.1"), join(dir, "zz-renamed"));
  assert.equal((await verifyLog([dir], { initialKey: fixture.initialKey })).failure, undefined);
});

Deno.test("a rotated file removed from the middle: deleted between two files", async () => {
  await using fixture = await keyedDir();
  await writeLog(fixture, 60, 7, { rotateBytes: 3000, keep: 20 });
  const dir = join(fixture.dir, "log");
  await Deno.remove(join(dir, "audit.jsonl.2"));
  const result = await verifyLog([dir], { initialKey: fixture.initialKey });
  assert.equal(result.failure?.kind, "deleted");
  assert.equal(result.failure?.line, 1);
  assert.match(result.failure!.message, /between ".*audit\.jsonl\.3" and ".*audit\.jsonl\.1"/);
});

Deno.test("an active file holding only a torn line right after a rotation is reported", async () => {
  await using fixture = await keyedDir();
  await writeLog(fixture, 30, 7, { rotateBytes: 3000, keep: 20 });
  await Deno.writeTextFile(fixture.path, '{"seq":99,"prev":"0');
  const result = await verifyLog([join(fixture.dir, "log")], { initialKey: fixture.initialKey });
  assert.equal(result.failure, undefined, formatVerifyResult(result).join("\n"));
  assert.deepEqual(result.tornLastLine, { file: fixture.path, line: 1, bytes: 19 });
});
