/**
 * The syntax tree tools/xdr_parser.ts builds from an .x file: one node type per construct of the
 * XDR language (RFC 4506 §6) that libvirt's .x files use. It knows nothing of libvirt;
 * tools/gen_protocol.ts, tools/gen_events.ts and the audit schema generator read it.
 *
 * @module
 */

/** A constant: a number literal, or the name of a constant defined here or in libvirt's C headers. */
export type XdrValue = number | string;

/** Built-in scalar types. rpcgen encodes `char` and `short` (signed or not) as 4-byte ints. */
export type XdrPrimitiveName =
  | "int"
  | "unsigned int"
  | "hyper"
  | "unsigned hyper"
  | "float"
  | "double"
  | "quadruple"
  | "bool"
  | "char"
  | "unsigned char"
  | "short"
  | "unsigned short";

/** A type specifier: a built-in type, a reference to a named type, or an inline body. */
export type XdrType =
  | { kind: "primitive"; name: XdrPrimitiveName }
  | { kind: "opaque" }
  | { kind: "string" }
  | { kind: "ref"; name: string }
  | { kind: "enum"; members: XdrEnumMember[] }
  | { kind: "struct"; members: XdrDeclaration[] }
  | { kind: "union"; body: XdrUnionBody };

/**
 * How a declared name holds its type. `fixed` is `name[N]` (opaque: N bytes), `variable` is
 * `name<N>` or `name<>` (`max` is absent when unbounded), `optional` is `type *name`.
 */
export type XdrShape =
  | { kind: "scalar" }
  | { kind: "optional" }
  | { kind: "fixed"; length: XdrValue }
  | { kind: "variable"; max?: XdrValue };

/** A declaration: a named slot of a struct, union arm or typedef, or `void`. */
export type XdrDeclaration =
  | { kind: "void" }
  | { kind: "field"; name: string; type: XdrType; shape: XdrShape };

/** One `NAME = value` of an enum, with the block comment before it. */
export interface XdrEnumMember {
  /** The member's name. */
  name: string;
  /** The member's value; when the source omits it, the previous member's value plus 1 (or 0). */
  value: XdrValue;
  /** The text of the block comment that precedes the member, delimiters removed. */
  comment?: string;
  /** 1-based line of the member's name. */
  line: number;
}

/** One arm of a union: the case values that select it and what it holds. */
export interface XdrUnionArm {
  /** The case labels; several labels may share one arm. */
  cases: XdrValue[];
  /** The arm's declaration, possibly `void`. */
  declaration: XdrDeclaration;
}

/** The part of a union after its name: `switch (discriminant) { arms }`. */
export interface XdrUnionBody {
  /** The discriminant, for example `int type`. */
  discriminant: XdrDeclaration;
  /** The `case` arms in source order. */
  arms: XdrUnionArm[];
  /** The `default:` arm, if any. */
  defaultArm?: XdrDeclaration;
}

/** Fields every top-level definition has. */
interface XdrDefinitionBase {
  /** The text of the block comment that precedes the definition, delimiters removed. */
  comment?: string;
  /** 1-based line where the definition starts. */
  line: number;
}

/** A top-level definition of an .x file. */
export type XdrDefinition =
  & XdrDefinitionBase
  & (
    | { kind: "const"; name: string; value: XdrValue }
    | { kind: "enum"; name: string; members: XdrEnumMember[] }
    | { kind: "struct"; name: string; members: XdrDeclaration[] }
    | { kind: "union"; name: string; body: XdrUnionBody }
    | { kind: "typedef"; name: string; declaration: XdrDeclaration }
    | { kind: "passthrough"; text: string }
  );

/** A parsed .x file: its definitions in source order. */
export interface XdrFile {
  /** Every definition, including `%` pass-through lines. */
  definitions: XdrDefinition[];
}
