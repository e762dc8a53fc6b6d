/** `audit show`'s one line per record, from full records and from sparse ones. */

import assert from "node:assert/strict";
import { formatRecord } from "../../../src/audit/log/show.ts";
import type { ChainRecord } from "../../../src/audit/log/record_line.ts";

const envelope = { prev: "0".repeat(64) };

const rows: { name: string; record: Record<string, unknown>; line: string }[] = [
  {
    name: "a completed call with identity, object, result and latency",
    record: {
      seq: 12,
      time: "2026-12-04T10:00:00.000Z",
      kind: "call",
      listener: "hv7.sock",
      upstream: "hv7",
      identity: { user: "bob", uid: 1001, pid: 4242 },
      procedure: "DOMAIN_DESTROY",
      object: { type: "domain", name: "vm-12", uuid: "u" },
      status: "ok",
      latency_ms: 3.5,
    },
    line:
      "#12 2026-12-04T10:00:00.000Z  bob@4242  hv7.sock -> hv7  DOMAIN_DESTROY(domain vm-12) = ok  3.5 ms",
  },
  {
    name: "an error reply, uid only",
    record: {
      seq: 3,
      time: "t",
      identity: { uid: 0, pid: 1 },
      procedure: "DOMAIN_LOOKUP_BY_NAME",
      object: "vm-x",
      error: { code: 42, message: "Domain not found" },
    },
    line: "#3 t  uid 0@1  DOMAIN_LOOKUP_BY_NAME(vm-x) = error 42: Domain not found",
  },
  {
    name: "a connect with nothing but a kind",
    record: { seq: 0, kind: "connect", client: "c1" },
    line: "#0 -  ? (client c1)  connect",
  },
  {
    name: "a seal",
    record: { seq: 9, time: "t", kind: "seal", epoch: 4, reason: "rotate" },
    line: "#9 t  seal epoch 4 (rotate)",
  },
  {
    name: "a dropped notice",
    record: { seq: 10, time: "t", kind: "dropped", count: 17 },
    line: "#10 t  17 records dropped (backpressure)",
  },
];

for (const { name, record, line } of rows) {
  Deno.test(`show: ${name}`, () => {
    assert.equal(formatRecord({ ...envelope, ...record } as ChainRecord), line);
  });
}
