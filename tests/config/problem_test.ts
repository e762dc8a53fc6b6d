import assert from "node:assert/strict";
import { ConfigError, formatProblem } from "../../src/config/problem.ts";

Deno.test("a problem reads FILE:LINE:COL: message, or FILE: message without a position", () => {
  assert.equal(
    formatProblem({ file: "v.toml", line: 3, column: 7, message: `"mode" must be octal` }),
    `v.toml:3:7: "mode" must be octal`,
  );
  assert.equal(
    formatProblem({ file: "v.toml", line: 0, column: 0, message: "cannot read config file" }),
    "v.toml: cannot read config file",
  );
});

Deno.test("ConfigError holds every problem and says them one per line", () => {
  const problems = [
    { file: "a.toml", line: 1, column: 1, message: "one" },
    { file: "a.toml", line: 2, column: 5, message: "two" },
  ];
  const error = new ConfigError(problems);
  assert.ok(error instanceof Error);
  assert.equal(error.name, "ConfigError");
  assert.equal(error.message, "a.toml:1:1: one\na.toml:2:5: two");
  assert.deepEqual(error.problems, problems);
});
