/**
 * Every config in examples/ passes `virtmux check-config`.
 */

import assert from "node:assert/strict";
import { runVirtmux } from "../integration/helpers/virtmux.ts";

const EXAMPLES = new URL("../../examples/", import.meta.url).pathname;

const files = [...Deno.readDirSync(EXAMPLES)]
  .filter((entry) => entry.name.endsWith(".toml"))
  .map((entry) => entry.name)
  .sort();

Deno.test("examples/ has one config per use", () => {
  assert.deepEqual(files, [
    "bastion.toml",
    "ext-command.toml",
    "monitoring-readonly.toml",
    "workstation-ssh.toml",
    "workstation-tls.toml",
  ]);
});

for (const name of files) {
  Deno.test(`virtmux check-config accepts examples/${name}`, async () => {
    const result = await runVirtmux(["check-config", "--config", `${EXAMPLES}${name}`]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /: OK \(/);
  });
}
