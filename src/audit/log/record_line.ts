/**
 * The envelope the audit log adds to each record, and how a line is read back.
 *
 * A line is one JSON object: `{"seq":N,"prev":"<hex>",...}` followed by the record's own fields
 * (`time` first, added when the record has none). `seq` counts every record of the log from 0,
 * across rotated files and across the processes that share it; `prev` is {@linkcode lineHash}
 * of the line before.
 *
 * @module
 */

/** `kind` of a seal record. */
export const SEAL_KIND = "seal";
/** `kind` of the record a writer adds after terminating a line torn by a crash. */
export const TORN_LINE_KIND = "torn_line";
/** `kind` of the record that counts records dropped under `backpressure = "drop"`. */
export const DROPPED_KIND = "dropped";

/** The envelope fields every chain record has, as read back. */
export interface ChainRecord {
  /** Sequence number. */
  seq: number;
  /** SHA-256 (hex) of the line before. */
  prev: string;
  /** Record kind, when it has one. */
  kind?: unknown;
  /** Every other field. */
  [field: string]: unknown;
}

/**
 * The JSON text of a record's own fields, `time` first when the record has none.
 *
 * bigint values become exact JSON integers. Fields named `seq` or `prev` are left out: the
 * envelope's are the only ones.
 *
 * @param record a JSON-safe object
 * @param now the time to add when `record.time` is undefined
 */
export function recordBody(record: Record<string, unknown>, now: () => Date): string {
  if (Object.hasOwn(record, "seq") || Object.hasOwn(record, "prev")) {
    const { seq: _seq, prev: _prev, ...rest } = record;
    record = rest;
  }
  let body: string;
  try {
    body = JSON.stringify(record);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    body = JSON.stringify(record, bigintReplacer);
  }
  if (record.time !== undefined) return body;
  const time = `"time":${JSON.stringify(now().toISOString())}`;
  return body === "{}" ? `{${time}}` : `{${time},${body.slice(1)}`;
}

/** One line (no newline) of the log: the envelope, then the body from {@linkcode recordBody}. */
export function recordLine(seq: number, prev: string, body: string): string {
  const envelope = `{"seq":${seq},"prev":"${prev}"`;
  return body === "{}" ? `${envelope}}` : `${envelope},${body.slice(1)}`;
}

/** The record on a line, or undefined when the line is not a JSON object with `seq` and `prev`. */
export function parseRecordLine(text: string): ChainRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as ChainRecord;
  if (!Number.isSafeInteger(record.seq) || record.seq < 0) return undefined;
  if (typeof record.prev !== "string" || !/^[0-9a-f]{64}$/.test(record.prev)) return undefined;
  return record;
}

function bigintReplacer(_key: string, value: unknown): unknown {
  if (typeof value !== "bigint") return value;
  // deno-lint-ignore no-explicit-any
  return (JSON as any).rawJSON(value.toString());
}
