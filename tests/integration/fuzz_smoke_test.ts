/**
 * A short run of the fuzzer (fuzz/main.ts) as CI runs it: 15 seconds of hostile byte streams at a
 * dedicated and a shared listener, while python-libvirt clients check their answers. virtmux must
 * not die, the good clients must get only right answers, and it must still serve at the end.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Summary } from "../../fuzz/report.ts";
import { assertNoLeftoverProcesses, runCommand } from "./helpers/process.ts";
import { makeTempDir, removeDir } from "./helpers/tmp.ts";

const FUZZ_MAIN = fileURLToPath(new URL("../../fuzz/main.ts", import.meta.url));

Deno.test("fifteen seconds of fuzzing leave virtmux alive, right and serving", async () => {
  const dir = await makeTempDir("fuzz-smoke");
  try {
    const json = join(dir, "summary.json");
    const result = await runCommand(Deno.execPath(), [
      "run",
      "-A",
      FUZZ_MAIN,
      "--seconds",
      "15",
      "--seed",
      "20240601",
      "--quiet",
      "--json",
      json,
    ], { env: { NO_COLOR: "1" }, timeoutMs: 240_000 });
    const output = `${result.stdout}\n${result.stderr}`;
    assert.equal(result.timedOut, false, `the fuzzer did not finish in time:\n${output}`);
    const summary: Summary = JSON.parse(await Deno.readTextFile(json));
    assert.equal(summary.crashes, 0, `virtmux died:\n${output}`);
    assert.equal(summary.wrongAnswers, 0, `good clients got wrong answers:\n${output}`);
    assert.equal(summary.servingAtEnd, true, `virtmux stopped serving:\n${output}`);
    assert.ok(summary.totalCases > 20, `too few cases ran (${summary.totalCases}):\n${output}`);
    assert.ok(
      summary.goodClients.every((client) => client.rounds > 0),
      `a good client never completed a round:\n${output}`,
    );
    assert.equal(result.code, 0, output);
  } finally {
    await removeDir(dir);
  }
  assertNoLeftoverProcesses();
});
