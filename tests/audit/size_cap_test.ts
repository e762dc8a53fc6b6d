import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { capRecord } from "../../src/audit/size_cap.ts";

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

Deno.test("a record under the cap is left as it is", () => {
  const record = { kind: "call", args: { xml: "<domain/>" } };
  assert.equal(capRecord(record, 4096), false);
  assert.deepEqual(record, { kind: "call", args: { xml: "<domain/>" } });
});

Deno.test("long strings keep a prefix, their length and SHA-256, longest first", () => {
  const long = "a".repeat(20000);
  const medium = "b".repeat(3000);
  const record: Record<string, unknown> = {
    kind: "call",
    procedure: "DOMAIN_DEFINE_XML",
    args: { xml: long, note: medium, short: "kept" },
  };
  assert.equal(capRecord(record, 8192), true);
  assert.equal(record.truncated, true);
  const args = record.args as Record<string, unknown>;
  assert.deepEqual(args.xml, {
    truncated: true,
    prefix: "a".repeat(512),
    length: 20000,
    sha256: sha256(long),
  });
  assert.equal(args.note, medium, "short enough once the longest is cut");
  assert.equal(args.short, "kept");
  assert.ok(JSON.stringify(record).length <= 8192);
});

Deno.test("opaque values keep their length, a base64 prefix and the SHA-256 of their bytes", () => {
  const bytes = new Uint8Array(30000).map((_, i) => i % 251);
  const base64 = btoa(String.fromCharCode(...bytes));
  const record: Record<string, unknown> = {
    kind: "call",
    ret: { value: { length: 30000, base64 } },
  };
  capRecord(record, 4096);
  const value = (record.ret as { value: Record<string, unknown> }).value;
  assert.equal(value.length, 30000);
  assert.equal(value.sha256, sha256(bytes));
  assert.equal(value.base64_prefix, base64.slice(0, 256));
  assert.ok(JSON.stringify(record).length <= 4096);
});

Deno.test("many small values give way to the body's size and hash", () => {
  const names = Array.from({ length: 2000 }, (_, i) => `vm-${i}`);
  const record: Record<string, unknown> = { kind: "call", ret: { names } };
  capRecord(record, 4096);
  const ret = record.ret as Record<string, unknown>;
  assert.equal(ret.truncated, true);
  assert.equal(ret.json_length, JSON.stringify({ names }).length);
  assert.equal(ret.sha256, sha256(JSON.stringify({ names })));
  assert.ok(JSON.stringify(record).length <= 4096);
});
