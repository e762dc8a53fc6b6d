/**
 * Random values of any schema type, in the decoder's output form, for round-trip tests: encode
 * with tests/audit/_xdr_encoder.ts, decode, compare. Sizes stay small (arrays of at most 3,
 * strings of at most 12 characters) but every kind of value appears: hypers past 2^53 (as
 * strings), negative ints, non-ASCII text, each union arm, unknown enum values.
 *
 * @module
 */

import { SCHEMA_TYPES } from "../../src/audit/schema.ts";
import type { TypeExpr } from "../../src/audit/schema_types.ts";

/** A small seeded PRNG (mulberry32). */
export class Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    return Uint8Array.from({ length: n }, () => this.below(256));
  }
}

const TEXTS = ["", "test", "audit-vm", "<domain/>", "héllo wörld", "日本", "a\u0000b"];

function hyper(random: Random, signed: boolean): number | string {
  const big = random.below(3) === 0;
  if (!big) return signed ? random.below(2 ** 40) - 2 ** 39 : random.below(2 ** 40);
  const value = signed
    ? BigInt.asIntN(64, (BigInt(random.below(2 ** 32)) << 32n) | BigInt(random.below(2 ** 32)))
    : (BigInt((random.below(2 ** 32) | 0x00400000) >>> 0) << 32n) | BigInt(random.below(2 ** 32));
  return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
}

/** A random value of `type` as the decoder would return it. */
export function randomValue(random: Random, type: TypeExpr, depth = 0): unknown {
  if (typeof type === "string") {
    switch (type) {
      case "int":
        return random.below(2 ** 32) - 2 ** 31;
      case "uint":
        return random.below(2 ** 32);
      case "hyper":
        return hyper(random, true);
      case "uhyper":
        return hyper(random, false);
      case "bool":
        return random.below(2) === 1;
      case "float":
        return Math.fround(random.next() * 1000 - 500);
      case "double":
        return random.next() * 1e6 - 5e5;
      case "void":
        return undefined;
    }
    return randomValue(random, SCHEMA_TYPES.get(type)!, depth);
  }
  const count = (max: number) => Math.min(max, depth > 3 ? 0 : random.below(4));
  switch (type[0]) {
    case "string":
      return random.pick(TEXTS.filter((text) => new TextEncoder().encode(text).length <= type[1]));
    case "opaque": {
      const bytes = random.bytes(Math.min(type[1], random.below(9)));
      return { length: bytes.length, base64: bytes.toBase64() };
    }
    case "fixed_opaque":
      return { length: type[1], base64: random.bytes(type[1]).toBase64() };
    case "uuid":
      return random.bytes(16).toHex().replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-");
    case "chars": {
      if (type[2] === "bytes") {
        const bytes = random.bytes(Math.min(type[1], random.below(9)));
        return { length: bytes.length, base64: bytes.toBase64() };
      }
      return random.pick(["", "label", "system_u:object_r"]).slice(0, Math.max(0, type[1] - 1));
    }
    case "optional":
      return random.below(2) === 0 ? null : randomValue(random, type[1], depth + 1);
    case "array":
      return Array.from({ length: count(type[2]) }, () => randomValue(random, type[1], depth + 1));
    case "fixed_array":
      return Array.from({ length: type[2] }, () => randomValue(random, type[1], depth + 1));
    case "struct":
      return Object.fromEntries(
        Object.entries(type[1]).map((
          [name, field],
        ) => [name, randomValue(random, field, depth + 1)]),
      );
    case "union": {
      const [, name, discriminantType, arms] = type;
      const [cases, armName, armType] = random.pick(arms);
      const value = random.pick(cases);
      const discriminant = enumName(discriminantType, value) ?? value;
      const result: Record<string, unknown> = { [name]: discriminant };
      if (armName !== null) result[armName] = randomValue(random, armType, depth + 1);
      return result;
    }
    case "enum": {
      const names = Object.keys(type[1]);
      // Now and then a value no member has: the decoder keeps its number.
      return random.below(8) === 0 ? 1000 + random.below(1000) : random.pick(names);
    }
  }
}

function enumName(type: TypeExpr, value: number): string | undefined {
  const resolved = typeof type === "string" ? SCHEMA_TYPES.get(type) : type;
  if (resolved === undefined || typeof resolved === "string" || resolved[0] !== "enum") return;
  return Object.entries(resolved[1]).find(([, member]) => member === value)?.[0];
}
