/**
 * Redaction of decoded bodies before they reach the audit log. Replaced by the marker
 * `{ "redacted": true, "length": N }` (N: bytes of a string or opaque, items of an array):
 * - secret values: SECRET_SET_VALUE's `value` argument, SECRET_GET_VALUE's `value` return;
 * - SASL exchanges: the `data` of every AUTH_SASL_* call and reply;
 * - guest passwords: DOMAIN_SET_USER_PASSWORD's `password`;
 * - every field whose name is listed in the config (`redact_fields`), at any depth.
 *
 * Inside strings, `passwd='...'` attributes (domain XML graphics, `<graphics passwd=...>`) keep
 * the attribute with the value replaced by `[redacted, N bytes]`.
 *
 * Bodies are changed in place: the decoder made them for this record alone.
 *
 * @example Redact a secret's value
 * ```ts
 * import assert from "node:assert/strict";
 * import { Redactor } from "./redact.ts";
 *
 * const args = { secret: { uuid: "u" }, value: { length: 3, base64: "YWJj" }, flags: 0 };
 * new Redactor([]).body("SECRET_SET_VALUE", "args", args);
 * assert.deepEqual(args.value, { redacted: true, length: 3 });
 * ```
 *
 * @module
 */

/** The marker that stands in for a redacted value. */
export interface RedactedMarker {
  /** Always true. */
  redacted: true;
  /** Bytes of a string or opaque value, items of an array, characters of other JSON. */
  length: number;
}

/** Which body of a message. */
export type BodyKind = "args" | "ret" | "msg" | "error";

/** Fields redacted per procedure and body, besides the configured ones. */
const BUILT_IN: Readonly<Record<string, Partial<Record<BodyKind, readonly string[]>>>> = {
  SECRET_SET_VALUE: { args: ["value"] },
  SECRET_GET_VALUE: { ret: ["value"] },
  AUTH_SASL_START: { args: ["data"], ret: ["data"] },
  AUTH_SASL_STEP: { args: ["data"], ret: ["data"] },
  DOMAIN_SET_USER_PASSWORD: { args: ["password"] },
};

const PASSWD_ATTRIBUTE = /(\bpasswd\s*=\s*)(["'])([^"']*)\2/g;
const encoder = new TextEncoder();

/** The length a marker reports for `value`. */
export function redactedLength(value: unknown): number {
  if (typeof value === "string") return encoder.encode(value).length;
  if (Array.isArray(value)) return value.length;
  if (value !== null && typeof value === "object") {
    const length = (value as { length?: unknown }).length;
    if (typeof length === "number" && "base64" in value) return length;
  }
  return JSON.stringify(value ?? null).length;
}

/** The marker for `value`. */
export function marker(value: unknown): RedactedMarker {
  return { redacted: true, length: redactedLength(value) };
}

/** Replaces the value of every `passwd="..."` attribute in `text`. */
export function redactPasswdAttributes(text: string): string {
  return text.replace(
    PASSWD_ATTRIBUTE,
    (_all, head: string, quote: string, value: string) =>
      `${head}${quote}[redacted, ${encoder.encode(value).length} bytes]${quote}`,
  );
}

/** Redacts decoded bodies by procedure, by configured field names and inside XML strings. */
export class Redactor {
  readonly #fields: ReadonlySet<string>;

  /** @param fields field names redacted wherever they occur (`redact_fields`) */
  constructor(fields: readonly string[]) {
    this.#fields = new Set(fields);
  }

  /**
   * Redacts `body` (a decoded args, ret, msg or error of `procedure`) in place and returns it;
   * a bare string body is returned redacted.
   */
  body(procedure: string, kind: BodyKind, body: unknown): unknown {
    const builtIn = BUILT_IN[procedure]?.[kind];
    if (builtIn !== undefined && isRecord(body)) {
      for (const field of builtIn) {
        if (body[field] !== undefined && body[field] !== null) body[field] = marker(body[field]);
      }
    }
    return this.#walk(body);
  }

  #walk(value: unknown): unknown {
    if (typeof value === "string") {
      return value.includes("passwd") ? redactPasswdAttributes(value) : value;
    }
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.#walk(value[i]);
      return value;
    }
    const record = value as Record<string, unknown>;
    if (record.redacted === true) return record;
    for (const key of Object.keys(record)) {
      record[key] = this.#fields.has(key) ? marker(record[key]) : this.#walk(record[key]);
    }
    return record;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
