/**
 * A child process for the audit log's process tests: writes numbered records to one log with
 * the real writer, as one of several `virtmux stdio` processes would.
 *
 * Usage: deno run -A _writer_process.ts PATH STATE WRITER COUNT RATE PAD ROTATE_BYTES KEEP
 * RATE 0 writes as fast as the log accepts; else RATE records/s, printing each acked number.
 *
 * @module
 */

import { AuditLog } from "../../../src/audit/log/audit_log.ts";

const [path, state, writer, count, rate, pad, rotateBytes, keep] = Deno.args;
const log = await AuditLog.open(path, {
  keyStatePath: state === "-" ? undefined : state,
  sealIntervalMs: 50,
  rotateBytes: Number(rotateBytes),
  keep: Number(keep),
});
const padding = "x".repeat(Number(pad));
const perSecond = Number(rate);
const encoder = new TextEncoder();
const started = performance.now();
for (let n = 0; n < Number(count); n++) {
  if (perSecond > 0) {
    const due = started + (n * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await log.write({ kind: "call", procedure: "DOMAIN_GET_INFO", writer, n, pad: padding });
  if (perSecond > 0) Deno.stdout.writeSync(encoder.encode(`${n}\n`));
}
await log.close();
Deno.stdout.writeSync(encoder.encode("done\n"));
