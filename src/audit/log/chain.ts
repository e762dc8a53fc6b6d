/**
 * The hash chain and the forward-secure seals of the audit log, as pure functions over bytes.
 *
 * Every record line carries `prev`, the SHA-256 (hex) of the exact bytes of the line before it
 * (without its newline); the first record of a log chains to {@linkcode GENESIS}. A seal record
 * carries HMAC-SHA256(K(n), prev || seq || epoch) with the epoch key K(n); after sealing, the
 * writer replaces K(n) by K(n+1) = SHA-256("virtmux-seal" || K(n)) and forgets K(n), after
 * journald's Forward Secure Sealing. Whoever takes the host later holds only the current key and
 * cannot make a seal for an earlier epoch; a verifier holding K(0) derives every epoch's key.
 *
 * @module
 */

import { createHash, createHmac } from "node:crypto";

/** `prev` of the very first record of a log: 64 zeros. */
export const GENESIS: string = "0".repeat(64);

/** Bytes of an epoch key. */
export const KEY_BYTES = 32;

const EVOLVE_PREFIX = new TextEncoder().encode("virtmux-seal");
const KEY_ID_PREFIX = new TextEncoder().encode("virtmux-key-id");

/** SHA-256 (hex) of one record line, newline excluded. */
export function lineHash(line: Uint8Array | string): string {
  return createHash("sha256").update(line).digest("hex");
}

/** The next epoch's key: SHA-256("virtmux-seal" || key). */
export function evolveKey(key: Uint8Array): Uint8Array {
  const next = createHash("sha256").update(EVOLVE_PREFIX).update(key).digest();
  return new Uint8Array(next.buffer, next.byteOffset, next.byteLength);
}

/**
 * The key of epoch `epoch`, derived from the initial key.
 *
 * @param initialKey K(0)
 * @param epoch the epoch wanted, 0 or more
 */
export function keyAtEpoch(initialKey: Uint8Array, epoch: number): Uint8Array {
  let key = initialKey;
  for (let n = 0; n < epoch; n++) key = evolveKey(key);
  return key;
}

/**
 * The public name of a key chain: 16 hex digits of SHA-256("virtmux-key-id" || K(0)). Seals
 * carry it so that a verifier given the wrong key says so rather than "seal invalid".
 */
export function keyId(initialKey: Uint8Array): string {
  return createHash("sha256").update(KEY_ID_PREFIX).update(initialKey).digest("hex").slice(0, 16);
}

/**
 * The HMAC of a seal: HMAC-SHA256(key, prev bytes || seq as u64 BE || epoch as u64 BE), hex.
 *
 * @param key the epoch key K(epoch)
 * @param prev the chain head the seal covers: hex SHA-256 of the line before the seal
 * @param seq the seal record's own sequence number
 * @param epoch the epoch of `key`
 */
export function sealHmac(key: Uint8Array, prev: string, seq: number, epoch: number): string {
  const numbers = new DataView(new ArrayBuffer(16));
  numbers.setBigUint64(0, BigInt(seq));
  numbers.setBigUint64(8, BigInt(epoch));
  return createHmac("sha256", key)
    .update(hexBytes(prev))
    .update(new Uint8Array(numbers.buffer))
    .digest("hex");
}

/** Bytes of a hex string; throws `SyntaxError` on anything else. */
export function hexBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) {
    throw new SyntaxError(`Cannot read hex "${hex.slice(0, 80)}": not an even run of hex digits`);
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/** Hex text of `bytes`. */
export function bytesHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
