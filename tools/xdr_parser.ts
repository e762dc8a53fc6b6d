/**
 * A parser for the XDR language (RFC 4506 §6) as rpcgen accepts it in libvirt's .x files:
 * `const`, `enum`, `struct`, `union switch`, `typedef`, optional data (`*`), fixed `[N]` and
 * variable `<N>` arrays, `opaque`, `string`, and rpcgen's `%` pass-through lines. It builds an AST
 * and knows nothing of libvirt; tools/gen_protocol.ts reads procedure tables from it, and the audit
 * schema generator can read the types of each procedure's args and ret from the same AST.
 *
 * Comments are kept where they carry meaning: each definition and enum member gets the block
 * comment that precedes it (libvirt puts its `@readstream: N` style annotations there). A comment
 * that starts on the line of the previous token is a trailing comment and belongs to nothing.
 *
 * Not supported, because none of libvirt's files use them: rpcgen's `program`/`version` blocks and
 * C preprocessor lines (`#include`); both are rejected with a SyntaxError.
 *
 * @example Parse a small file
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseXdr } from "./xdr_parser.ts";
 *
 * const file = parseXdr("const MAX = 16;\ntypedef string name<MAX>;");
 * assert.deepEqual(file.definitions[0], { kind: "const", name: "MAX", value: 16, line: 1 });
 * ```
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

/** Options for {@linkcode parseXdr}. */
export interface ParseXdrOptions {
  /**
   * Name of the source, used in error messages.
   *
   * @default {"<input>"}
   */
  fileName?: string;
}

type TokenKind = "ident" | "number" | "punct" | "passthrough" | "eof";

interface Token {
  kind: TokenKind;
  text: string;
  line: number;
  column: number;
  /** Block comment before this token that did not start on the previous token's line. */
  comment?: string;
}

const PUNCTUATION = new Set(["{", "}", "(", ")", "[", "]", "<", ">", ";", ",", "=", "*", ":"]);

/** Strips comment delimiters and the leading ` * ` of each line. */
function commentText(raw: string): string {
  const body = raw.startsWith("/*") ? raw.slice(2, -2) : raw.slice(2);
  return body
    .split("\n")
    .map((line) => line.replace(/^\s*\*+ ?/, "").trimEnd())
    .join("\n")
    .replace(/^\*+/, "")
    .trim();
}

function tokenize(source: string, fileName: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  let line = 1;
  let lineStart = 0;
  let lastTokenLine = 0;
  let pendingComment: string | undefined;
  const fail = (message: string): never => {
    throw new SyntaxError(
      `Cannot parse XDR in "${fileName}" at line ${line}, column ${
        pos - lineStart + 1
      }: ${message}`,
    );
  };
  const advanceTo = (end: number) => {
    for (let i = pos; i < end; i++) {
      if (source.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    pos = end;
  };
  const push = (kind: TokenKind, text: string, end: number) => {
    tokens.push({
      kind,
      text,
      line,
      column: pos - lineStart + 1,
      ...(pendingComment === undefined ? {} : { comment: pendingComment }),
    });
    pendingComment = undefined;
    lastTokenLine = line;
    advanceTo(end);
  };
  while (pos < source.length) {
    const ch = source[pos];
    if (/\s/.test(ch)) {
      advanceTo(pos + 1);
    } else if (source.startsWith("/*", pos) || source.startsWith("//", pos)) {
      const block = source[pos + 1] === "*";
      let end = block ? source.indexOf("*/", pos + 2) : source.indexOf("\n", pos);
      if (end < 0) {
        if (block) fail("unterminated comment");
        end = source.length;
      } else if (block) {
        end += 2;
      }
      const trailing = line === lastTokenLine;
      const text = commentText(source.slice(pos, end));
      // A trailing comment documents the token before it; a new leading comment replaces an
      // older one (only the comment nearest a definition is its doc comment).
      if (!trailing) pendingComment = text;
      advanceTo(end);
    } else if (ch === "%" && source.slice(lineStart, pos).trim() === "") {
      let end = source.indexOf("\n", pos);
      if (end < 0) end = source.length;
      push("passthrough", source.slice(pos + 1, end), end);
    } else if (ch === "#" && source.slice(lineStart, pos).trim() === "") {
      fail("preprocessor lines are not supported");
    } else if (/[A-Za-z_]/.test(ch)) {
      const match = /[A-Za-z_][A-Za-z0-9_]*/y;
      match.lastIndex = pos;
      const text = match.exec(source)![0];
      push("ident", text, pos + text.length);
    } else if (/[-0-9]/.test(ch)) {
      const match = /-?(?:0[xX][0-9a-fA-F]+|[0-9]+)/y;
      match.lastIndex = pos;
      const found = match.exec(source);
      if (!found) fail(`unexpected character "${ch}"`);
      push("number", found![0], pos + found![0].length);
    } else if (PUNCTUATION.has(ch)) {
      push("punct", ch, pos + 1);
    } else {
      fail(`unexpected character "${ch}"`);
    }
  }
  push("eof", "", pos);
  return tokens;
}

const KEYWORDS = new Set([
  "bool",
  "case",
  "char",
  "const",
  "default",
  "double",
  "enum",
  "float",
  "hyper",
  "int",
  "opaque",
  "quadruple",
  "short",
  "string",
  "struct",
  "switch",
  "typedef",
  "union",
  "unsigned",
  "void",
]);

class Parser {
  #tokens: Token[];
  #index = 0;
  #fileName: string;

  constructor(tokens: Token[], fileName: string) {
    this.#tokens = tokens;
    this.#fileName = fileName;
  }

  get #peek(): Token {
    return this.#tokens[this.#index];
  }

  #next(): Token {
    const token = this.#tokens[this.#index];
    if (token.kind !== "eof") this.#index++;
    return token;
  }

  #fail(token: Token, expected: string): never {
    const found = token.kind === "eof" ? "end of input" : `"${token.text}"`;
    throw new SyntaxError(
      `Cannot parse XDR in "${this.#fileName}" at line ${token.line}, column ${token.column}: ` +
        `expected ${expected} but found ${found}`,
    );
  }

  #isPunct(text: string): boolean {
    return this.#peek.kind === "punct" && this.#peek.text === text;
  }

  #isKeyword(text: string): boolean {
    return this.#peek.kind === "ident" && this.#peek.text === text;
  }

  #expectPunct(text: string): Token {
    if (!this.#isPunct(text)) this.#fail(this.#peek, `"${text}"`);
    return this.#next();
  }

  #expectKeyword(text: string): Token {
    if (!this.#isKeyword(text)) this.#fail(this.#peek, `"${text}"`);
    return this.#next();
  }

  #identifier(): string {
    const token = this.#peek;
    if (token.kind !== "ident" || KEYWORDS.has(token.text)) this.#fail(token, "an identifier");
    return this.#next().text;
  }

  #value(): XdrValue {
    const token = this.#peek;
    if (token.kind === "number") {
      this.#next();
      const negative = token.text.startsWith("-");
      const digits = negative ? token.text.slice(1) : token.text;
      const magnitude = Number(digits);
      if (!Number.isSafeInteger(magnitude)) this.#fail(token, "an integer below 2^53");
      return negative ? -magnitude : magnitude;
    }
    return this.#identifier();
  }

  parseFile(): XdrFile {
    const definitions: XdrDefinition[] = [];
    while (this.#peek.kind !== "eof") definitions.push(this.#definition());
    return { definitions };
  }

  #definition(): XdrDefinition {
    const start = this.#peek;
    const base = {
      ...(start.comment === undefined ? {} : { comment: start.comment }),
      line: start.line,
    };
    if (start.kind === "passthrough") {
      this.#next();
      return { kind: "passthrough", text: start.text, ...base };
    }
    if (start.kind !== "ident") this.#fail(start, "a definition");
    let definition: XdrDefinition;
    switch (start.text) {
      case "const": {
        this.#next();
        const name = this.#identifier();
        this.#expectPunct("=");
        definition = { kind: "const", name, value: this.#value(), ...base };
        break;
      }
      case "enum": {
        this.#next();
        const name = this.#identifier();
        definition = { kind: "enum", name, members: this.#enumBody(), ...base };
        break;
      }
      case "struct": {
        this.#next();
        const name = this.#identifier();
        definition = { kind: "struct", name, members: this.#structBody(), ...base };
        break;
      }
      case "union": {
        this.#next();
        const name = this.#identifier();
        definition = { kind: "union", name, body: this.#unionBody(), ...base };
        break;
      }
      case "typedef": {
        this.#next();
        const declaration = this.#declaration();
        if (declaration.kind === "void") this.#fail(start, "a named typedef");
        definition = { kind: "typedef", name: declaration.name, declaration, ...base };
        break;
      }
      default:
        this.#fail(start, "const, enum, struct, union or typedef");
    }
    this.#expectPunct(";");
    return definition;
  }

  #enumBody(): XdrEnumMember[] {
    this.#expectPunct("{");
    const members: XdrEnumMember[] = [];
    do {
      const token = this.#peek;
      const name = this.#identifier();
      let value: XdrValue;
      if (this.#isPunct("=")) {
        this.#next();
        value = this.#value();
      } else {
        // rpcgen emits a C enum, so an omitted value is the previous one plus 1 (the first is 0).
        const previous = members.length ? members[members.length - 1].value : -1;
        if (typeof previous !== "number") this.#fail(this.#peek, '"=" after a named value');
        value = (previous as number) + 1;
      }
      members.push({
        name,
        value,
        ...(token.comment === undefined ? {} : { comment: token.comment }),
        line: token.line,
      });
    } while (this.#isPunct(",") && this.#next());
    this.#expectPunct("}");
    return members;
  }

  #structBody(): XdrDeclaration[] {
    this.#expectPunct("{");
    const members: XdrDeclaration[] = [];
    do {
      members.push(this.#declaration());
      this.#expectPunct(";");
    } while (!this.#isPunct("}"));
    this.#next();
    return members;
  }

  #unionBody(): XdrUnionBody {
    this.#expectKeyword("switch");
    this.#expectPunct("(");
    const discriminant = this.#declaration();
    this.#expectPunct(")");
    this.#expectPunct("{");
    const arms: XdrUnionArm[] = [];
    let defaultArm: XdrDeclaration | undefined;
    while (!this.#isPunct("}")) {
      if (this.#isKeyword("default")) {
        if (defaultArm) this.#fail(this.#peek, "one default arm");
        this.#next();
        this.#expectPunct(":");
        defaultArm = this.#declaration();
        this.#expectPunct(";");
        continue;
      }
      const cases: XdrValue[] = [];
      do {
        this.#expectKeyword("case");
        cases.push(this.#value());
        this.#expectPunct(":");
      } while (this.#isKeyword("case"));
      arms.push({ cases, declaration: this.#declaration() });
      this.#expectPunct(";");
    }
    this.#next();
    if (arms.length === 0) this.#fail(this.#peek, "at least one case arm");
    return { discriminant, arms, ...(defaultArm ? { defaultArm } : {}) };
  }

  #declaration(): XdrDeclaration {
    if (this.#isKeyword("void")) {
      this.#next();
      return { kind: "void" };
    }
    if (this.#isKeyword("opaque") || this.#isKeyword("string")) {
      const keyword = this.#next().text as "opaque" | "string";
      const name = this.#identifier();
      if (keyword === "opaque" && this.#isPunct("[")) {
        return { kind: "field", name, type: { kind: "opaque" }, shape: this.#fixedShape() };
      }
      if (!this.#isPunct("<")) this.#fail(this.#peek, keyword === "opaque" ? '"[" or "<"' : '"<"');
      return { kind: "field", name, type: { kind: keyword }, shape: this.#variableShape() };
    }
    const type = this.#typeSpecifier();
    if (this.#isPunct("*")) {
      this.#next();
      return { kind: "field", name: this.#identifier(), type, shape: { kind: "optional" } };
    }
    const name = this.#identifier();
    let shape: XdrShape = { kind: "scalar" };
    if (this.#isPunct("[")) shape = this.#fixedShape();
    else if (this.#isPunct("<")) shape = this.#variableShape();
    return { kind: "field", name, type, shape };
  }

  #fixedShape(): XdrShape {
    this.#expectPunct("[");
    const length = this.#value();
    this.#expectPunct("]");
    return { kind: "fixed", length };
  }

  #variableShape(): XdrShape {
    this.#expectPunct("<");
    if (this.#isPunct(">")) {
      this.#next();
      return { kind: "variable" };
    }
    const max = this.#value();
    this.#expectPunct(">");
    return { kind: "variable", max };
  }

  #typeSpecifier(): XdrType {
    const token = this.#peek;
    if (token.kind !== "ident") this.#fail(token, "a type");
    switch (token.text) {
      case "unsigned": {
        this.#next();
        const inner = this.#peek.text;
        if (this.#peek.kind === "ident" && ["int", "hyper", "char", "short"].includes(inner)) {
          this.#next();
          return { kind: "primitive", name: `unsigned ${inner}` as XdrPrimitiveName };
        }
        return { kind: "primitive", name: "unsigned int" };
      }
      case "int":
      case "hyper":
      case "float":
      case "double":
      case "quadruple":
      case "bool":
      case "char":
      case "short":
        this.#next();
        return { kind: "primitive", name: token.text as XdrPrimitiveName };
      case "enum":
        this.#next();
        if (this.#isPunct("{")) return { kind: "enum", members: this.#enumBody() };
        return { kind: "ref", name: this.#identifier() };
      case "struct":
        this.#next();
        if (this.#isPunct("{")) return { kind: "struct", members: this.#structBody() };
        return { kind: "ref", name: this.#identifier() };
      case "union":
        this.#next();
        if (this.#isKeyword("switch")) return { kind: "union", body: this.#unionBody() };
        return { kind: "ref", name: this.#identifier() };
      default:
        return { kind: "ref", name: this.#identifier() };
    }
  }
}

/**
 * Parses the text of an .x file into its definitions.
 *
 * @param source The XDR source text.
 * @param options Where the text came from, for error messages.
 * @returns The definitions in source order.
 * @throws {SyntaxError} When the text is not valid XDR, naming the file, line and column.
 *
 * @example Read the values of an enum
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseXdr } from "./xdr_parser.ts";
 *
 * const [definition] = parseXdr("enum color { RED = 1, GREEN = 2 };").definitions;
 * assert.deepEqual(definition.kind === "enum" && definition.members.map((m) => m.value), [1, 2]);
 * ```
 */
export function parseXdr(source: string, options: ParseXdrOptions = {}): XdrFile {
  const fileName = options.fileName ?? "<input>";
  return new Parser(tokenize(source, fileName), fileName).parseFile();
}
