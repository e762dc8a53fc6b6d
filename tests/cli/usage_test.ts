import assert from "node:assert/strict";
import { DEFAULT_CONFIG_PATH } from "../../src/config/config_path.ts";
import {
  ALIASES_USAGE,
  CHECK_CONFIG_USAGE,
  MAIN_USAGE,
  SERVE_USAGE,
  STDIO_USAGE,
} from "../../src/cli/usage.ts";

Deno.test("the main help lists every command and where the config is looked for", () => {
  for (const command of ["serve", "stdio", "check-config", "aliases", "version"]) {
    assert.match(MAIN_USAGE, new RegExp(`^  virtmux ${command}\\b`, "m"), command);
  }
  assert.ok(MAIN_USAGE.includes(`else $VIRTMUX_CONFIG, else ${DEFAULT_CONFIG_PATH}.`));
});

Deno.test("each command's help starts with its usage line and fits 100 columns", () => {
  const helps: Array<[string, string]> = [
    ["serve", SERVE_USAGE],
    ["stdio", STDIO_USAGE],
    ["check-config", CHECK_CONFIG_USAGE],
    ["aliases", ALIASES_USAGE],
  ];
  for (const [command, help] of helps) {
    assert.ok(help.startsWith(`Usage: virtmux ${command} [--config FILE]`), command);
  }
  for (const help of [MAIN_USAGE, ...helps.map(([, help]) => help)]) {
    for (const line of help.split("\n")) assert.ok(line.length <= 100, line);
  }
});
