/**
 * A parser for the XDR language (RFC 4506 §6) as rpcgen accepts it in libvirt's .x files:
 * `const`, `enum`, `struct`, `union switch`, `typedef`, optional data (`*`), fixed `[N]` and
 * variable `<N>` arrays, `opaque`, `string`, and rpcgen's `%` pass-through lines. It reads the
 * tokens of tools/xdr_lexer.ts, builds the AST of tools/xdr_ast.ts and knows nothing of libvirt;
 * tools/gen_protocol.ts reads procedure tables from it, and the audit schema generator can read the
 * types of each procedure's args and ret from the same AST.
 *
 * Comments are kept where they carry meaning: each definition and enum member gets the block
 * comment that precedes it (libvirt puts its `@readstream: N` style annotations there; the lexer
 * attaches it to the first token). A comment that starts on the line of the previous token is a
 * trailing comment and belongs to nothing.
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

import type {
  XdrDeclaration,
  XdrDefinition,
  XdrEnumMember,
  XdrFile,
  XdrPrimitiveName,
  XdrShape,
  XdrType,
  XdrUnionArm,
  XdrUnionBody,
  XdrValue,
} from "./xdr_ast.ts";
import { tokenizeXdr, type XdrToken } from "./xdr_lexer.ts";

/** Options for {@linkcode parseXdr}. */
export interface ParseXdrOptions {
  /**
   * Name of the source, used in error messages.
   *
   * @default {"<input>"}
   */
  fileName?: string;
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
  #tokens: XdrToken[];
  #index = 0;
  #fileName: string;

  constructor(tokens: XdrToken[], fileName: string) {
    this.#tokens = tokens;
    this.#fileName = fileName;
  }

  get #peek(): XdrToken {
    return this.#tokens[this.#index];
  }

  #next(): XdrToken {
    const token = this.#tokens[this.#index];
    if (token.kind !== "eof") this.#index++;
    return token;
  }

  #fail(token: XdrToken, expected: string): never {
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

  #expectPunct(text: string): XdrToken {
    if (!this.#isPunct(text)) this.#fail(this.#peek, `"${text}"`);
    return this.#next();
  }

  #expectKeyword(text: string): XdrToken {
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
  return new Parser(tokenizeXdr(source, { fileName }), fileName).parseFile();
}
