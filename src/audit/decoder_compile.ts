/**
 * Turns the schema's type expressions (src/audit/schema_types.ts) into decode functions, one per
 * named type, made on first use and kept. A decode function reads one value from an
 * {@linkcode XdrReader}; after a failed read it returns what it decoded so far (a struct with the
 * fields before the bad one), and the caller checks `reader.failed`.
 *
 * Output per type: enums by member name (the number when no member has it); unions as
 * `{ <discriminant>: value, <arm>: value }` (a void arm has only the discriminant); optionals as
 * `null` or the value; arrays as arrays.
 *
 * @module
 */

import type { TypeExpr, UnionArm } from "./schema_types.ts";
import type { XdrReader } from "./decoder_reader.ts";

/** Reads one value of a type. */
export type Decode = (reader: XdrReader) => unknown;

const PRIMITIVES: Readonly<Record<string, Decode>> = {
  int: (r) => r.i32(),
  uint: (r) => r.u32(),
  hyper: (r) => r.hyper(),
  uhyper: (r) => r.uhyper(),
  bool: (r) => r.bool(),
  float: (r) => r.float(),
  double: (r) => r.double(),
  void: () => undefined,
};

const PRIMITIVE_BYTES: Readonly<Record<string, number>> = {
  int: 4,
  uint: 4,
  hyper: 8,
  uhyper: 8,
  bool: 4,
  float: 4,
  double: 8,
  void: 0,
};

/** Compiles and caches the decode functions of one set of named types. */
export class DecoderCompiler {
  #types: ReadonlyMap<string, TypeExpr>;
  #compiled = new Map<string, Decode>();
  #sizes = new Map<string, number>();

  /** @param types Every named type, by name. */
  constructor(types: ReadonlyMap<string, TypeExpr>) {
    this.#types = types;
  }

  /**
   * The decode function of a named type.
   *
   * @throws {Error} When no type has that name (a schema bug, not bad input).
   */
  named(name: string): Decode {
    const found = this.#compiled.get(name);
    if (found) return found;
    const type = this.#types.get(name);
    if (type === undefined) throw new Error(`Cannot decode type "${name}": the schema lacks it`);
    // A forwarder first, so a type that contains itself compiles.
    const slot: { decode?: Decode } = {};
    this.#compiled.set(name, (r) => slot.decode!(r));
    slot.decode = this.compile(type);
    this.#compiled.set(name, slot.decode);
    return slot.decode;
  }

  /** The fewest bytes a value of `type` takes on the wire. */
  minBytes(type: TypeExpr): number {
    if (typeof type === "string") {
      const primitive = PRIMITIVE_BYTES[type];
      if (primitive !== undefined) return primitive;
      const known = this.#sizes.get(type);
      if (known !== undefined) return known;
      this.#sizes.set(type, 0);
      const size = this.minBytes(this.#types.get(type) ?? "void");
      this.#sizes.set(type, size);
      return size;
    }
    switch (type[0]) {
      case "fixed_opaque":
        return (type[1] + 3) & ~3;
      case "uuid":
        return 16;
      case "chars":
        return type[2] === "fixed" ? type[1] * 4 : 4;
      case "fixed_array":
        return type[2] * this.minBytes(type[1]);
      case "struct":
        return Object.values(type[1]).reduce((sum, field) => sum + this.minBytes(field), 0);
      case "union": {
        const arms = [...type[3], ...(type[4] ? [type[4]] : [])];
        return this.minBytes(type[2]) + Math.min(...arms.map((arm) => this.minBytes(arm[2])));
      }
      default:
        return 4;
    }
  }

  /** The decode function of a type expression. */
  compile(type: TypeExpr): Decode {
    if (typeof type === "string") return PRIMITIVES[type] ?? this.named(type);
    switch (type[0]) {
      case "string": {
        const max = type[1];
        return (r) => r.string(max);
      }
      case "opaque": {
        const max = type[1];
        return (r) => r.opaque(max);
      }
      case "fixed_opaque": {
        const length = type[1];
        return (r) => r.fixedOpaque(length);
      }
      case "uuid":
        return (r) => r.uuid();
      case "chars": {
        const [, bound, form] = type;
        if (form === "bytes") return (r) => r.charBytes(bound);
        return form === "fixed" ? (r) => r.chars(bound, bound) : (r) => r.chars(-1, bound);
      }
      case "optional": {
        const inner = this.compile(type[1]);
        return (r) => r.u32() === 0 || r.failed ? null : inner(r);
      }
      case "array":
      case "fixed_array": {
        const fixed = type[0] === "fixed_array";
        const element = this.compile(type[1]);
        const minBytes = fixed ? 0 : this.minBytes(type[1]);
        return this.#array(element, type[2], minBytes, fixed, this.#compound(type[1]));
      }
      case "struct":
        return this.#struct(type[1]);
      case "union":
        return this.#union(type[1], this.compile(type[2]), type[3], type[4]);
      case "enum":
        return enumDecoder(type[1]);
    }
  }

  /**
   * Whether a value of `type` is a struct, union or array, whose partial value is worth keeping
   * when decoding fails inside it (a failed scalar read only returns a placeholder).
   */
  #compound(type: TypeExpr): boolean {
    if (typeof type === "string") {
      const named = this.#types.get(type);
      return named !== undefined && this.#compound(named);
    }
    if (type[0] === "optional") return this.#compound(type[1]);
    return ["struct", "union", "array", "fixed_array"].includes(type[0]);
  }

  #array(
    element: Decode,
    bound: number,
    minBytes: number,
    fixed: boolean,
    compound: boolean,
  ): Decode {
    return (r) => {
      const count = fixed ? bound : r.count(bound, minBytes);
      const items: unknown[] = [];
      for (let i = 0; i < count; i++) {
        const item = element(r);
        if (r.failed) {
          r.under(`${i}`);
          if (compound && item != null) items.push(item);
          return items;
        }
        items.push(item);
      }
      return items;
    };
  }

  #struct(fields: Readonly<Record<string, TypeExpr>>): Decode {
    const names = Object.keys(fields);
    const decoders = names.map((name) => this.compile(fields[name]));
    const compound = names.map((name) => this.#compound(fields[name]));
    const count = names.length;
    return (r) => {
      const value: Record<string, unknown> = {};
      for (let i = 0; i < count; i++) {
        const field = decoders[i](r);
        if (r.failed) {
          r.under(names[i]);
          if (compound[i] && field != null) value[names[i]] = field;
          return value;
        }
        value[names[i]] = field;
      }
      return value;
    };
  }

  #union(
    discriminant: string,
    readDiscriminant: Decode,
    arms: readonly UnionArm[],
    defaultArm: UnionArm | undefined,
  ): Decode {
    // Keyed by the discriminant word read as a signed int, whatever its declared type.
    const byCase = new Map<number, [string | null, Decode, boolean]>();
    for (const [cases, name, type] of arms) {
      const decode = this.compile(type);
      for (const value of cases) byCase.set(value | 0, [name, decode, this.#compound(type)]);
    }
    const fallback: [string | null, Decode, boolean] | undefined = defaultArm &&
      [defaultArm[1], this.compile(defaultArm[2]), this.#compound(defaultArm[2])];
    return (r) => {
      const start = r.pos;
      const value = readDiscriminant(r);
      if (r.failed) {
        r.under(discriminant);
        return {};
      }
      const result: Record<string, unknown> = { [discriminant]: value };
      const arm = byCase.get(r.view.getInt32(start)) ?? fallback;
      if (!arm) {
        r.fail(`a case of union ${discriminant}, found ${value}`, start);
        r.under(discriminant);
        return result;
      }
      const [name, decode, compound] = arm;
      if (name === null) return result;
      const armValue = decode(r);
      if (!r.failed) result[name] = armValue;
      else {
        if (compound && armValue != null) result[name] = armValue;
        r.under(name);
      }
      return result;
    };
  }
}

function enumDecoder(members: Readonly<Record<string, number>>): Decode {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(members)) {
    if (!names.has(value)) names.set(value, name);
  }
  return (r) => {
    const value = r.i32();
    return names.get(value) ?? value;
  };
}
