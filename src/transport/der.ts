/**
 * A small DER reader (ITU-T X.690), enough to walk a certificate's subject name and a revocation
 * list: tag, length and value of one element at a time, as views into the input.
 *
 * @example Read a SEQUENCE of two INTEGERs
 * ```ts
 * import assert from "node:assert/strict";
 * import { readChildren } from "./der.ts";
 *
 * const [a, b] = readChildren(new Uint8Array([0x30, 0x06, 2, 1, 5, 2, 1, 7]));
 * assert.deepEqual([a.tag, a.value[0], b.value[0]], [2, 5, 7]);
 * ```
 *
 * @module
 */

/** One DER element: its tag byte, its content and its whole encoding (tag and length included). */
export interface DerElement {
  /** The identifier octet (class, constructed bit and tag number below 31). */
  tag: number;
  /** The content octets. */
  value: Uint8Array;
  /** The whole element as encoded, for hashing, signatures and hex dumps. */
  encoded: Uint8Array;
}

/** DER tags used by certificates and revocation lists. */
export const Tag = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/**
 * Reads the element that starts at `offset` of `bytes`.
 *
 * @throws {RangeError} when the encoding is truncated or uses a form DER forbids
 */
export function readElement(bytes: Uint8Array, offset = 0): DerElement {
  if (offset + 2 > bytes.length) throw new RangeError(`DER element truncated at byte ${offset}`);
  const tag = bytes[offset];
  if ((tag & 0x1f) === 0x1f) throw new RangeError(`DER tag at byte ${offset} is multi-byte`);
  let length = bytes[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) {
      throw new RangeError(`DER length at byte ${offset + 1} uses ${count} bytes`);
    }
    if (start + count > bytes.length) throw new RangeError(`DER length truncated at ${start}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i];
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) {
    throw new RangeError(`DER element at byte ${offset} claims ${length} bytes; too few remain`);
  }
  return { tag, value: bytes.subarray(start, end), encoded: bytes.subarray(offset, end) };
}

/** The elements inside a constructed element's content (or inside any byte run of elements). */
export function readChildren(bytesOrElement: Uint8Array | DerElement): DerElement[] {
  const bytes = bytesOrElement instanceof Uint8Array
    ? readElement(bytesOrElement).value
    : bytesOrElement.value;
  return readSequence(bytes);
}

/** Every element in `bytes`, one after another. */
export function readSequence(bytes: Uint8Array): DerElement[] {
  const children: DerElement[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const child = readElement(bytes, offset);
    children.push(child);
    offset += child.encoded.length;
  }
  return children;
}

/** An OBJECT IDENTIFIER's content as dotted text, e.g. `2.5.4.3`. */
export function decodeOid(value: Uint8Array): string {
  const parts: number[] = [];
  let current = 0;
  for (const byte of value) {
    current = current * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (parts.length === 0) {
        const first = current < 80 ? Math.floor(current / 40) : 2;
        parts.push(first, current - first * 40);
      } else {
        parts.push(current);
      }
      current = 0;
    }
  }
  return parts.join(".");
}

/** Bytes as lower-case hex. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** An INTEGER's content as hex without leading zero bytes (how serial numbers are compared). */
export function integerHex(value: Uint8Array): string {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  return toHex(value.subarray(start));
}
