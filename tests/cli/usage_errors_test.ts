import assert from "node:assert/strict";
import { type CliEnvironment, runCli } from "../../src/cli/main.ts";

function environment(): CliEnvironment & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdinIsTerminal: true,
    error: (line) => err.push(line),
    print: (line) => out.push(line),
    out,
    err,
  };
}

Deno.test("every subcommand answers --help with usage, and a bad option with usage and 2", async (t) => {
  const commands: [string, RegExp][] = [
    ["serve", /^Usage: virtmux serve/m],
    ["stdio", /^Usage: virtmux stdio/m],
    ["check-config", /^Usage: virtmux check-config/m],
    ["aliases", /^Usage: virtmux aliases/m],
    ["virt-ssh-helper", /^Usage: virt-ssh-helper/m],
    ["nc", /^Usage: nc/m],
  ];
  for (const [command, usage] of commands) {
    await t.step(command, async () => {
      const help = environment();
      assert.equal(await runCli([command, "--help"], help), 0);
      assert.match(help.out.join("\n"), usage);
      const bad = environment();
      assert.equal(await runCli([command, "--no-such-option"], bad), 2);
      assert.match(bad.err.join("\n"), usage);
    });
  }
});
