/**
 * `virtmux audit init-key | verify | show` end to end through `deno run -A main.ts`: a key made
 * by the CLI, a rotated log written with it by the real writer, verified clean, then tampered
 * with and verified again.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { AuditLog } from "../../src/audit/log/audit_log.ts";
import { tempDir } from "./helpers/tmp.ts";
import { runVirtmux } from "./helpers/virtmux.ts";

Deno.test("audit init-key, verify and show from the command line", async () => {
  await using dir = await tempDir("audit-cli");
  const key = join(dir.path, "audit.key");
  const state = join(dir.path, "audit.state");
  const logDir = join(dir.path, "log");
  await Deno.mkdir(logDir);
  const path = join(logDir, "audit.jsonl");

  const init = await runVirtmux(["audit", "init-key", "--out", key, "--state", state]);
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stdout, /wrote initial key ".*audit\.key" \(key id [0-9a-f]{16}\)/);
  assert.match(init.stdout, /keep ".*audit\.key" off this host/);
  const again = await runVirtmux(["audit", "init-key", "--out", key]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /the file exists/);

  const log = await AuditLog.open(path, { keyStatePath: state, rotateBytes: 4000, keep: 5 });
  for (let n = 0; n < 40; n++) {
    await log.write({
      kind: "call",
      listener: "hv7.sock",
      upstream: "hv7",
      identity: { user: "bob", pid: 300 + n },
      procedure: "DOMAIN_DESTROY",
      object: { type: "domain", name: `vm-${n}` },
      status: "ok",
      latency_ms: 1,
    });
  }
  await log.close();

  const verify = await runVirtmux(["audit", "verify", "--key", key, "--state", state, logDir]);
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.match(
    verify.stdout,
    /^\d+\/\d+ records valid, (\d+)\/\1 seals valid, validated from \S+ to \S+, final 0 records not sealed$/m,
  );
  const chainOnly = await runVirtmux(["audit", "verify", logDir]);
  assert.equal(chainOnly.code, 0);
  assert.match(chainOnly.stdout, /seals not checked \(no --key: hash chain only\)/);

  const show = await runVirtmux(["audit", "show", logDir]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^#0 \S+ {2}bob@300 {2}.*\(domain vm-0\) = ok/);
  assert.match(
    show.stdout,
    /bob@339 {2}hv7\.sock -> hv7 {2}DOMAIN_DESTROY\(domain vm-39\) = ok {2}1 ms/,
  );

  const rotated = join(logDir, "audit.jsonl.1");
  const text = await Deno.readTextFile(rotated);
  await Deno.writeTextFile(rotated, text.replace(/vm-(\d+)/, "vm-X$1"));
  const tampered = await runVirtmux(["audit", "verify", "--key", key, logDir]);
  assert.equal(tampered.code, 1, tampered.stdout);
  assert.match(tampered.stdout, /audit\.jsonl\.1:1: edited: the record \(seq \d+\) was edited/);
  assert.match(tampered.stdout, /FAILED$/m);

  const usage = await runVirtmux(["audit", "verify"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /verify needs a FILE or DIR/);
  const help = await runVirtmux(["audit", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /virtmux audit init-key --out FILE/);
});
