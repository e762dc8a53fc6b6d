/**
 * The lexer of tools/xdr_parser.ts: splits the XDR language (RFC 4506 §6) as rpcgen accepts it in
 * libvirt's .x files into identifiers, numbers, punctuation and rpcgen's `%` pass-through lines,
 * and decides which comment documents which token.
 *
 * Comments are kept where they carry meaning: a comment that does not start on the line of the
 * previous token is a leading comment and is attached to the next token (libvirt puts its
 * `@readstream: N` style annotations there); when several leading comments follow each other,
 * the one nearest the token wins. A comment that starts on the line of the previous token is a
 * trailing comment and belongs to nothing.
 *
 * C preprocessor lines (`#include`) are rejected with a SyntaxError, because none of libvirt's
 * files use them.
 *
 * @module
 */

/** What a token is: keywords are `ident` tokens too; the parser tells them apart. */
export type XdrTokenKind = "ident" | "number" | "punct" | "passthrough" | "eof";

/** One token of an .x file. */
export interface XdrToken {
  /** What the token is. */
  kind: XdrTokenKind;
  /** The token's text; for `passthrough`, the line after its `%`; empty for `eof`. */
  text: string;
  /** 1-based line of the token's first character. */
  line: number;
  /** 1-based column of the token's first character. */
  column: number;
  /** Text of the comment before this token that did not start on the previous token's line. */
  comment?: string;
}

/** Options for {@linkcode tokenizeXdr}. */
export interface TokenizeXdrOptions {
  /**
   * Name of the source, used in error messages.
   *
   * @default {"<input>"}
   */
  fileName?: string;
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

/**
 * Splits the text of an .x file into tokens, ending with one `eof` token, and attaches to each
 * token the leading comment before it.
 *
 * @param source The XDR source text.
 * @param options Where the text came from, for error messages.
 * @returns The tokens in source order; the last one has kind `eof`.
 * @throws {SyntaxError} On an unterminated comment, a preprocessor line or a character XDR does
 * not use, naming the file, line and column.
 *
 * @example Attach a leading comment to the token after it
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenizeXdr } from "./xdr_lexer.ts";
 *
 * const tokens = tokenizeXdr("// Doc.\nconst A = 1; // trailing\n");
 * assert.deepEqual(tokens.map((token) => token.text), ["const", "A", "=", "1", ";", ""]);
 * assert.equal(tokens[0].comment, "Doc.");
 * ```
 */
export function tokenizeXdr(source: string, options: TokenizeXdrOptions = {}): XdrToken[] {
  const fileName = options.fileName ?? "<input>";
  const tokens: XdrToken[] = [];
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
  const push = (kind: XdrTokenKind, text: string, end: number) => {
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
