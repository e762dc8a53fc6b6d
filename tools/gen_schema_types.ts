/**
 * The type half of tools/gen_schema.ts: resolves the names of constants and converts the parsed
 * declarations of tools/xdr_ast.ts into the schema's compact type encoding
 * (src/audit/schema_types.ts), with every bound a number.
 *
 * @module
 */

import type { XdrDeclaration, XdrEnumMember, XdrType, XdrUnionBody, XdrValue } from "./xdr_ast.ts";
import type { TypeExpr, UnionArm } from "../src/audit/schema_types.ts";

/**
 * Constants the .x files take from libvirt's C headers (include/libvirt/libvirt-host.h and
 * libvirt-common.h), which rpcgen leaves to the C compiler.
 */
export const EXTERNAL_CONSTANTS: Readonly<Record<string, number>> = {
  VIR_UUID_BUFLEN: 16,
  VIR_SECURITY_LABEL_BUFLEN: 4096 + 1,
  VIR_SECURITY_MODEL_BUFLEN: 256 + 1,
  VIR_SECURITY_DOI_BUFLEN: 256 + 1,
  VIR_TYPED_PARAM_INT: 1,
  VIR_TYPED_PARAM_UINT: 2,
  VIR_TYPED_PARAM_LLONG: 3,
  VIR_TYPED_PARAM_ULLONG: 4,
  VIR_TYPED_PARAM_DOUBLE: 5,
  VIR_TYPED_PARAM_BOOLEAN: 6,
  VIR_TYPED_PARAM_STRING: 7,
};

/** XDR's largest length, the bound of an unbounded `<>`. */
const UNBOUNDED = 0xffffffff;

/** rpcgen's scalar type names → the schema's. */
export const PRIMITIVES: Readonly<Record<string, string>> = {
  "int": "int",
  "unsigned int": "uint",
  "hyper": "hyper",
  "unsigned hyper": "uhyper",
  "float": "float",
  "double": "double",
  "bool": "bool",
  "char": "int",
  "unsigned char": "uint",
  "short": "int",
  "unsigned short": "uint",
};

/** Resolves names of constants (and enum members) to numbers. */
export class Constants {
  #values = new Map<string, XdrValue>(Object.entries(EXTERNAL_CONSTANTS));

  /** Adds a constant; `where` names the file for the error when it is defined twice. */
  define(name: string, value: XdrValue, where: string): void {
    if (this.#values.has(name)) throw new Error(`Cannot define "${name}" twice (${where})`);
    this.#values.set(name, value);
  }

  /** Follows names until a number; `where` says what asked, for the error. */
  resolve(value: XdrValue, where: string): number {
    const seen = new Set<string>();
    while (typeof value === "string") {
      if (seen.has(value)) throw new Error(`Cannot resolve "${value}" in ${where}: a cycle`);
      seen.add(value);
      const next = this.#values.get(value);
      if (next === undefined) {
        throw new Error(
          `Cannot resolve constant "${value}" in ${where}: add it to EXTERNAL_CONSTANTS`,
        );
      }
      value = next;
    }
    return value;
  }
}

/** Converts a parsed type with its shape to the compact encoding. */
export function declarationType(
  declaration: XdrDeclaration,
  constants: Constants,
  where: string,
): TypeExpr {
  if (declaration.kind === "void") return "void";
  const { type, shape } = declaration;
  const here = `${where}.${declaration.name}`;
  const bound = (value: XdrValue | undefined) =>
    value === undefined ? UNBOUNDED : constants.resolve(value, here);
  if (type.kind === "opaque") {
    if (shape.kind === "fixed") {
      return shape.length === "VIR_UUID_BUFLEN" ? ["uuid"] : ["fixed_opaque", bound(shape.length)];
    }
    if (shape.kind === "variable") return ["opaque", bound(shape.max)];
    throw new Error(`Cannot read ${here}: opaque without a length`);
  }
  if (type.kind === "string") {
    if (shape.kind !== "variable") throw new Error(`Cannot read ${here}: string without <max>`);
    return ["string", bound(shape.max)];
  }
  const base = baseType(type, constants, here);
  switch (shape.kind) {
    case "scalar":
      return base;
    case "optional":
      return ["optional", base];
    case "fixed":
      if (isChar(type)) return ["chars", bound(shape.length), "fixed"];
      return ["fixed_array", base, bound(shape.length)];
    case "variable":
      if (isChar(type)) {
        return ["chars", bound(shape.max), declaration.name === "data" ? "bytes" : "text"];
      }
      return ["array", base, bound(shape.max)];
  }
}

/**
 * rpcgen sends each `char` of a `char x<N>` or `char x[N]` array as a 4-byte int. libvirt uses
 * them for C strings (security labels and models, the node's CPU model), and for SASL payloads,
 * the arrays named `data`, which are bytes.
 */
function isChar(type: XdrType): boolean {
  return type.kind === "primitive" && (type.name === "char" || type.name === "unsigned char");
}

function baseType(type: XdrType, constants: Constants, where: string): TypeExpr {
  switch (type.kind) {
    case "primitive": {
      const name = PRIMITIVES[type.name];
      if (!name) throw new Error(`Cannot read ${where}: ${type.name} is not supported`);
      return name;
    }
    case "ref":
      return type.name;
    case "enum":
      return enumType(type.members, constants, where);
    case "struct":
      return structType(type.members, constants, where);
    case "union":
      return unionType(type.body, constants, where);
    default:
      throw new Error(`Cannot read ${where}: a bare ${type.kind}`);
  }
}

/** An enum body as `["enum", { NAME: value }]`. */
export function enumType(members: XdrEnumMember[], constants: Constants, where: string): TypeExpr {
  const values: Record<string, number> = {};
  for (const member of members) values[member.name] = constants.resolve(member.value, where);
  return ["enum", values];
}

/** A struct body as `["struct", { field: type }]`, fields in wire order. */
export function structType(
  members: XdrDeclaration[],
  constants: Constants,
  where: string,
): TypeExpr {
  const fields: Record<string, TypeExpr> = {};
  for (const member of members) {
    if (member.kind === "void") continue;
    if (member.name in fields) throw new Error(`Cannot read ${where}: "${member.name}" twice`);
    fields[member.name] = declarationType(member, constants, where);
  }
  return ["struct", fields];
}

/** A union body as `["union", discriminant, its type, arms, default arm?]`. */
export function unionType(
  body: XdrUnionBody,
  constants: Constants,
  where: string,
): TypeExpr {
  const { discriminant } = body;
  if (discriminant.kind === "void") throw new Error(`Cannot read ${where}: void discriminant`);
  const arm = (cases: XdrValue[], declaration: XdrDeclaration): UnionArm => [
    cases.map((value) => constants.resolve(value, where)),
    declaration.kind === "void" ? null : declaration.name,
    declarationType(declaration, constants, where),
  ];
  const arms = body.arms.map(({ cases, declaration }) => arm(cases, declaration));
  const discriminantType = declarationType(discriminant, constants, where);
  if (body.defaultArm) {
    return ["union", discriminant.name, discriminantType, arms, arm([], body.defaultArm)];
  }
  return ["union", discriminant.name, discriminantType, arms];
}

/** Throws when a type refers to a name that no file defines. */
export function checkReferences(types: ReadonlyMap<string, TypeExpr>): void {
  const primitives = new Set(Object.values(PRIMITIVES).concat("void"));
  const visit = (type: TypeExpr, where: string): void => {
    if (typeof type === "string") {
      if (!primitives.has(type) && !types.has(type)) {
        throw new Error(`Cannot resolve type "${type}" used by ${where}`);
      }
      return;
    }
    switch (type[0]) {
      case "array":
      case "fixed_array":
      case "optional":
        return visit(type[1], where);
      case "struct":
        for (const field of Object.values(type[1])) visit(field, where);
        return;
      case "union":
        visit(type[2], where);
        for (const arm of type[3]) visit(arm[2], where);
        if (type[4]) visit(type[4][2], where);
        return;
    }
  };
  for (const [name, type] of types) visit(type, name);
}
