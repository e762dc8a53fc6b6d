import assert from "node:assert/strict";
import { AuditPolicy } from "../../src/audit/policy.ts";
import { AuditTap } from "../../src/audit/tap.ts";
import { Logger } from "../../src/log/logger.ts";

const identity = { listener: "/run/a.sock", client: 3, uid: 0 };
const upstream = { name: "hv", uri: "qemu:///system", shared: true };

Deno.test("block: the write promise is handed back, and never rejects", async () => {
  let release!: () => void;
  const written: Record<string, unknown>[] = [];
  const tap = new AuditTap({
    write(record) {
      written.push(record);
      return new Promise((resolve) => release = resolve);
    },
  }, { policy: new AuditPolicy([]) });
  const session = tap.observe(identity, upstream);
  tap.flush();
  assert.equal(written[0].kind, "connect");
  assert.equal((written[0].identity as { user?: string }).user, "root");
  // The log holds the last batch: new records wait for it.
  let done = false;
  const waiting = tap.emit({ kind: "test" })!.then(() => done = true);
  await Promise.resolve();
  assert.equal(done, false);
  release();
  await waiting;
  assert.equal(done, true);
  tap.flush();
  assert.equal(written.at(-1)!.kind, "test");
  release();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(tap.emit({ kind: "free" }), undefined, "no wait once the log has room");
  session.closed("bye");
  tap.flush();
  assert.equal(written.at(-1)!.kind, "disconnect");

  const lines: string[] = [];
  const failing = new AuditTap({ write: () => Promise.reject(new Error("disk full")) }, {
    policy: new AuditPolicy([]),
    logger: new Logger({ sink: (line) => lines.push(line) }),
  });
  failing.emit({ kind: "a" });
  failing.emit({ kind: "b" });
  failing.flush();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(lines.length, 1, "reported once a minute");
  assert.match(lines[0], /Audit record lost.*disk full/);
});

Deno.test("drop: sessions never wait", () => {
  const tap = new AuditTap({ write: () => new Promise(() => {}) }, {
    policy: new AuditPolicy([]),
    backpressure: "drop",
  });
  assert.equal(tap.emit({ kind: "x" }), undefined);
  tap.flush();
  assert.equal(tap.emit({ kind: "y" }), undefined);
  tap.flush();
});

Deno.test("the size cap applies to records the tap caps", () => {
  const tap = new AuditTap({ write: () => Promise.resolve() }, {
    policy: new AuditPolicy([]),
    maxRecordBytes: 4096,
  });
  const record: Record<string, unknown> = { kind: "call", args: { xml: "x".repeat(10000) } };
  tap.cap(record);
  assert.equal(record.truncated, true);
  assert.equal(tap.maxBytes, 4096);
});

Deno.test("flushDelayMs 0 hands each record to the log at once", () => {
  const written: Record<string, unknown>[] = [];
  const tap = new AuditTap({ write: (r) => (written.push(r), Promise.resolve()) }, {
    policy: new AuditPolicy([]),
    flushDelayMs: 0,
  });
  tap.emit({ kind: "now" });
  assert.deepEqual(written, [{ kind: "now" }]);
});
