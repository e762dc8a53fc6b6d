/**
 * The per-record size cap (`max_record_bytes`), like Kubernetes' truncate-max-event-size: a record
 * whose JSON text is larger loses the tails of its longest strings first (each keeps a prefix,
 * its length and its SHA-256, so the value can still be matched against a known one); opaque
 * values `{length, base64}` keep their length, a base64 prefix and the SHA-256 of their bytes.
 * When that is not enough (many small values), whole bodies give way to their size and hash.
 * A capped record says `truncated: true`.
 *
 * @example Cap a record with a long XML string
 * ```ts
 * import assert from "node:assert/strict";
 * import { capRecord } from "./size_cap.ts";
 *
 * const record: Record<string, unknown> = { kind: "call", args: { xml: "x".repeat(5000) } };
 * capRecord(record, 2048);
 * assert.equal(record.truncated, true);
 * assert.equal((record.args as { xml: { length: number } }).xml.length, 5000);
 * assert.ok(JSON.stringify(record).length <= 2048);
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

/** The bodies a record may carry, in the order they give way. */
const BODIES = ["ret", "msg", "args", "error"] as const;

/** A string found in a body, with where it sits. */
interface Leaf {
  parent: Record<string, unknown> | unknown[];
  key: string | number;
  /** Characters of its JSON form. */
  size: number;
  /** The opaque `{length, base64}` it belongs to, if any. */
  opaque: boolean;
}

function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function collect(value: unknown, parent: Leaf["parent"], key: Leaf["key"], leaves: Leaf[]): void {
  if (typeof value === "string") {
    leaves.push({ parent, key, size: value.length, opaque: false });
    return;
  }
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((item, index) => collect(item, value, index, leaves));
    return;
  }
  const record = value as Record<string, unknown>;
  if (typeof record.base64 === "string" && typeof record.length === "number") {
    leaves.push({ parent, key, size: record.base64.length, opaque: true });
    return;
  }
  for (const [field, item] of Object.entries(record)) collect(item, record, field, leaves);
}

/** The stand-in for a long string or opaque value, keeping `prefix` characters. */
function shorten(leaf: Leaf, prefix: number): unknown {
  const value = (leaf.parent as Record<string | number, unknown>)[leaf.key];
  if (leaf.opaque) {
    const opaque = value as { length: number; base64: string };
    return {
      truncated: true,
      length: opaque.length,
      base64_prefix: opaque.base64.slice(0, prefix),
      sha256: sha256(Buffer.from(opaque.base64, "base64")),
    };
  }
  const text = value as string;
  return {
    truncated: true,
    prefix: text.slice(0, prefix),
    length: text.length,
    sha256: sha256(text),
  };
}

/**
 * Shrinks `record` in place until its JSON text is at most `maxBytes` characters (or as close as
 * the fields outside its bodies allow).
 *
 * @param record a record about to be written
 * @param maxBytes the cap
 * @returns whether anything was cut
 */
export function capRecord(record: Record<string, unknown>, maxBytes: number): boolean {
  let size = JSON.stringify(record).length;
  if (size <= maxBytes) return false;
  record.truncated = true;
  size += 18;
  const leaves: Leaf[] = [];
  for (const body of BODIES) {
    if (record[body] !== undefined) collect(record[body], record, body, leaves);
  }
  leaves.sort((a, b) => b.size - a.size);
  const prefix = Math.max(16, Math.min(1024, Math.floor(maxBytes / 16)));
  for (const leaf of leaves) {
    if (size <= maxBytes || leaf.size <= prefix + 200) break;
    const before = JSON.stringify((leaf.parent as Record<string | number, unknown>)[leaf.key])
      .length;
    const after = shorten(leaf, prefix);
    (leaf.parent as Record<string | number, unknown>)[leaf.key] = after;
    size += JSON.stringify(after).length - before;
  }
  for (const body of BODIES) {
    if (size <= maxBytes) break;
    const value = record[body];
    if (value === undefined) continue;
    const text = JSON.stringify(value);
    const after = { truncated: true, json_length: text.length, sha256: sha256(text) };
    record[body] = after;
    size += JSON.stringify(after).length - text.length;
  }
  return true;
}
