import assert from "node:assert/strict";
import { join } from "node:path";
import { verifyLog } from "../../src/audit/log/verify.ts";
import { openAudit } from "../../src/cli/audit_tap.ts";
import { DEFAULTS } from "../../src/config/schema.ts";
import { Logger } from "../../src/log/logger.ts";

const logger = new Logger({ sink: () => {} });

Deno.test("openAudit() is a no-op when audit is off", async () => {
  assert.equal(await openAudit(DEFAULTS.audit, logger), undefined);
});

Deno.test("openAudit() makes the directory, opens the log and feeds it from the tap", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "sub", "audit.jsonl");
    const audit = await openAudit({ ...DEFAULTS.audit, enabled: true, path, mode: 0o640 }, logger);
    assert.ok(audit !== undefined);
    const session = audit.observers.observe(
      { listener: "/run/a.sock", client: 1, uid: 0 },
      { name: "hv", uri: "qemu:///system", shared: false },
    );
    session?.closed("client closed the connection");
    await audit.close();
    assert.equal((await Deno.stat(join(dir, "sub"))).mode! & 0o777, 0o750);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
    const lines = (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.kind), ["connect", "disconnect"]);
    const result = await verifyLog([path], {});
    assert.equal(result.failure, undefined);
    assert.equal(result.valid, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
