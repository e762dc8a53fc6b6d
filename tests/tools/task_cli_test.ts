/**
 * Every task script answers `--help` with its usage (exit 0) and a bad option with a usage line
 * (exit 2), never a stack trace, also when given after deno task's `--`.
 */

import assert from "node:assert/strict";
import { runCommand } from "../integration/helpers/process.ts";
import { taskArgs } from "../../tools/task_args.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Task name → the script it runs. */
const SCRIPTS: Record<string, string> = {
  bench: "bench/main.ts",
  fuzz: "fuzz/main.ts",
  compile: "tools/compile.ts",
  "gen_protocol (no task)": "tools/gen_protocol.ts",
};

Deno.test("taskArgs drops the -- deno task passes on, and nothing else", () => {
  assert.deepEqual(taskArgs(["--", "--quick"]), ["--quick"]);
  assert.deepEqual(taskArgs(["--quick"]), ["--quick"]);
  assert.deepEqual(taskArgs(["--quick", "--"]), ["--quick", "--"]);
});

for (const [task, script] of Object.entries(SCRIPTS)) {
  Deno.test(`${task}: --help prints usage, a bad option prints usage and exits 2`, async () => {
    const run = (args: string[]) =>
      runCommand(Deno.execPath(), ["run", "-A", script, ...args], {
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        timeoutMs: 60000,
      });
    const help = await run(["--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: /m);
    for (const bad of [["--no-such-option"], ["--", "--no-such-option"]]) {
      const result = await run(bad);
      assert.equal(result.code, 2, `${bad.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, /^Usage: /m);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    }
  });
}

Deno.test("deno task test --help prints the runner's usage", async () => {
  const result = await runCommand(Deno.execPath(), ["run", "-A", "tools/run_tests.ts", "--help"], {
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Usage: deno task test/m);
});

Deno.test("deno task bench -- --help works as the README says", async () => {
  const result = await runCommand(Deno.execPath(), ["task", "bench", "--", "--help"], {
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    timeoutMs: 60000,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^Usage: deno task bench/m);
});
