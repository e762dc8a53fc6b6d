/** `runAudit` in process: usage errors, help, and show's handling of lines that are no records. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runAudit } from "../../src/cli/audit.ts";
import { GENESIS } from "../../src/audit/log/chain.ts";
import { recordLine } from "../../src/audit/log/record_line.ts";

function capture() {
  const out = { stdout: [] as string[], stderr: [] as string[] };
  return {
    out,
    env: {
      print: (line: string) => out.stdout.push(line),
      error: (l: string) => out.stderr.push(l),
    },
  };
}

Deno.test("audit usage: no command, unknown command, missing arguments exit 2 on stderr", async () => {
  for (
    const [args, message] of [
      [[], /Usage: virtmux audit COMMAND/],
      [["frobnicate"], /unknown audit command "frobnicate"/],
      [["init-key"], /init-key needs --out FILE/],
      [["verify", "--state", "s", "f"], /--state needs --key/],
      [["show"], /show needs a FILE/],
    ] as const
  ) {
    const { out, env } = capture();
    assert.equal(await runAudit([...args], env), 2, args.join(" "));
    assert.match(out.stderr.join("\n"), message);
  }
  const { out, env } = capture();
  assert.equal(await runAudit(["verify", "--help"], env), 0);
  assert.match(out.stdout.join("\n"), /Usage: virtmux audit verify/);
});

Deno.test("audit show prints records and points at lines that are none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-audit-" });
  try {
    const path = join(dir, "audit.jsonl");
    const line = recordLine(0, GENESIS, '{"time":"t","kind":"connect","client":"c1"}');
    await Deno.writeTextFile(path, `${line}\ngarbage\n`);
    const { out, env } = capture();
    assert.equal(await runAudit(["show", path], env), 0);
    assert.deepEqual(out.stdout, [
      "#0 t  ? (client c1)  connect",
      `${path}:2: (not an audit record, 7 bytes)`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
