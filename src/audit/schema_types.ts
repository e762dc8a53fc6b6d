/**
 * The shape of the audit schema that tools/gen_schema.ts generates from libvirt's .x files
 * (src/audit/schema_*.ts). The encoding is compact JSON-like data, one line per named type, that
 * src/audit/decoder_compile.ts turns into decode functions on first use.
 *
 * A {@linkcode TypeExpr} is one of:
 * - a primitive name: `"int"`, `"uint"`, `"hyper"`, `"uhyper"`, `"bool"`, `"float"`, `"double"`
 *   or `"void"` (rpcgen's `char` and `short` are 4-byte ints: `"int"` / `"uint"`);
 * - the name of a type of {@linkcode SchemaFile.types} (names never clash with primitives, and
 *   are unique across the six files);
 * - `["string", max]`: `string<max>`; `["opaque", max]`: `opaque<max>`; `["fixed_opaque", n]`:
 *   `opaque[n]`; `["uuid"]`: `opaque[VIR_UUID_BUFLEN]`, shown as a canonical UUID;
 * - `["chars", n, form]`: a `char` array, which rpcgen sends one 4-byte int per character:
 *   `form` is `"text"` for `char x<n>` holding a C string (security labels and models), `"fixed"`
 *   for `char x[n]` holding one (the node's CPU model), `"bytes"` for `char data<n>` (SASL);
 * - `["array", T, max]`: `T<max>`; `["fixed_array", T, n]`: `T[n]`; `["optional", T]`: `T *`;
 * - `["struct", { field: T, ... }]` (fields in wire order);
 * - `["union", discriminantName, discriminantType, arms, defaultArm?]`, each arm
 *   `[caseValues, armName | null, T]` (`null` and `"void"` for a void arm);
 * - `["enum", { NAME: value, ... }]`.
 *
 * Every bound is a number: names of constants are resolved by the generator, an unbounded `<>` is
 * 4294967295.
 *
 * @module
 */

/** Scalar types, with rpcgen's 4-byte `char`/`short` folded into `int`/`uint`. */
export type PrimitiveName =
  | "int"
  | "uint"
  | "hyper"
  | "uhyper"
  | "bool"
  | "float"
  | "double"
  | "void";

/** One arm of a union: the discriminant values that select it, its field name and type. */
export type UnionArm = readonly [cases: readonly number[], name: string | null, type: TypeExpr];

/** A type in the schema's compact encoding (see the module doc). */
export type TypeExpr =
  | string
  | readonly ["string", number]
  | readonly ["opaque", number]
  | readonly ["fixed_opaque", number]
  | readonly ["uuid"]
  | readonly ["chars", number, "text" | "fixed" | "bytes"]
  | readonly ["array", TypeExpr, number]
  | readonly ["fixed_array", TypeExpr, number]
  | readonly ["optional", TypeExpr]
  | readonly ["struct", Readonly<Record<string, TypeExpr>>]
  | readonly ["union", string, TypeExpr, readonly UnionArm[], UnionArm?]
  | readonly ["enum", Readonly<Record<string, number>>];

/**
 * Whether a procedure only observes (`read`) or may change state (`write`), from its `@acl`
 * annotations: see tools/gen_schema.ts for the rule.
 */
export type AccessClass = "read" | "write";

/**
 * One procedure: its name without `<PROG>_PROC_`, the names of its args, ret and event message
 * types (null when the body is empty), its access class, and the stream it opens, if any
 * (`read`: data flows from the daemon).
 */
export type ProcedureSchema = readonly [
  name: string,
  args: string | null,
  ret: string | null,
  msg: string | null,
  access: AccessClass,
  stream?: "read" | "write",
];

/** An RPC program of one .x file. */
export interface ProgramSchema {
  /** The program key, such as `REMOTE`. */
  readonly name: string;
  /** The program number (`<KEY>_PROGRAM`). */
  readonly number: number;
  /** The protocol version (`<KEY>_PROTOCOL_VERSION`). */
  readonly version: number;
  /** The type of an error reply's body. */
  readonly error: string;
  /** Procedures by number. */
  readonly procedures: Readonly<Record<number, ProcedureSchema>>;
}

/** What one .x file defines. */
export interface SchemaFile {
  /** The .x file, relative to the libvirt source tree. */
  readonly file: string;
  /** Its `const` definitions, resolved to numbers. */
  readonly constants: Readonly<Record<string, number>>;
  /** Its typedefs, structs, unions and enums (the procedure enum excepted: see `program`). */
  readonly types: Readonly<Record<string, TypeExpr>>;
  /** The RPC program, when the file defines one. */
  readonly program?: ProgramSchema;
}
