import assert from "node:assert/strict";
import { LOG_DEFAULTS, readLog } from "../../src/config/log_section.ts";
import { Checker } from "../../src/config/_fields.ts";
import { scanKeyPositions } from "../../src/config/locate.ts";
import { problems, table } from "../_helpers/config_section.ts";

Deno.test("[log] reads level and format, and is all defaults when absent", () => {
  const { checker, section } = table("log", 'level = "debug"\nformat = "json"');
  assert.deepEqual(readLog(checker, section), { level: "debug", format: "json" });
  assert.deepEqual(readLog(new Checker("t.toml", scanKeyPositions("")), undefined), LOG_DEFAULTS);
  assert.deepEqual(LOG_DEFAULTS, { level: "info", format: "text" });
});

Deno.test("[log] reports a value outside its list with a suggestion, and keeps the default", () => {
  const { checker, section } = table("log", 'level = "warn"\nformat = "yaml"\nlevels = 1');
  assert.deepEqual(readLog(checker, section), LOG_DEFAULTS);
  assert.deepEqual(problems(checker), [
    `2:1: "level" must be one of "debug", "info", "warning", "error", got "warn"; did you mean "warning"?`,
    `3:1: "format" must be one of "text", "json", got "yaml"`,
    `4:1: unknown key "levels" in [log]; did you mean "level"?`,
  ]);
});
