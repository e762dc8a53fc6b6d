import assert from "node:assert/strict";
import { tokenizeXdr, type XdrToken } from "../../tools/xdr_lexer.ts";

/** Each token as `kind:text`, so expectations can focus on the split. */
function texts(tokens: XdrToken[]): string[] {
  return tokens.map((token) => `${token.kind}:${token.text}`);
}

Deno.test("tokenizeXdr splits identifiers, numbers and punctuation and ends with eof", () => {
  const tokens = tokenizeXdr("const A_1 = 0x1F;\nopaque b<-7>[12abc]*:,(){}");
  assert.deepEqual(texts(tokens), [
    "ident:const",
    "ident:A_1",
    "punct:=",
    "number:0x1F",
    "punct:;",
    "ident:opaque",
    "ident:b",
    "punct:<",
    "number:-7",
    "punct:>",
    "punct:[",
    "number:12",
    "ident:abc",
    "punct:]",
    "punct:*",
    "punct::",
    "punct:,",
    "punct:(",
    "punct:)",
    "punct:{",
    "punct:}",
    "eof:",
  ]);
});

Deno.test("tokenizeXdr gives each token its 1-based line and column", () => {
  const tokens = tokenizeXdr("a\n\t  bb cc\n\n");
  assert.deepEqual(tokens.map(({ text, line, column }) => [text, line, column]), [
    ["a", 1, 1],
    ["bb", 2, 4],
    ["cc", 2, 7],
    ["", 4, 1],
  ]);
});

Deno.test("tokenizeXdr returns a lone eof token for empty input and comments alone", () => {
  assert.deepEqual(tokenizeXdr(""), [{ kind: "eof", text: "", line: 1, column: 1 }]);
  assert.deepEqual(texts(tokenizeXdr("/* only */\n// a comment\n")), ["eof:"]);
});

Deno.test("tokenizeXdr reads a % line at the start of a line as one pass-through token", () => {
  const tokens = tokenizeXdr('%#include "internal.h"\n  %  indented\nconst');
  assert.deepEqual(texts(tokens), [
    'passthrough:#include "internal.h"',
    "passthrough:  indented",
    "ident:const",
    "eof:",
  ]);
  assert.deepEqual(tokens.map((token) => token.line), [1, 2, 3, 3]);
});

Deno.test("tokenizeXdr attaches a leading comment to the next token, delimiters removed", () => {
  const tokens = tokenizeXdr(`
/**
 * @generate: both
 * @readstream: 2
 */
A
// line comment
B`);
  assert.deepEqual(tokens.map((token) => token.comment), [
    "@generate: both\n@readstream: 2",
    "line comment",
    undefined,
  ]);
});

Deno.test("tokenizeXdr keeps only the leading comment nearest the token", () => {
  const [token] = tokenizeXdr("/* Each function must be preceded by a comment. */\n/* two */\nA");
  assert.equal(token.comment, "two");
});

Deno.test("tokenizeXdr drops a comment that starts on the line of the previous token", () => {
  const tokens = tokenizeXdr("A, /* trailing */\nB /* starts on B's line\n spans */ C");
  assert.deepEqual(tokens.map((token) => token.comment), [
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

Deno.test("tokenizeXdr keeps the indentation after the leading star of a comment line", () => {
  const [token] = tokenizeXdr("/**\n * @a: 1\n *   indented\n */\nX");
  assert.equal(token.comment, "@a: 1\n  indented");
});

/** Rows: why, source, the message after the file name, with its line and column. */
const ERROR_ROWS: [string, string, string][] = [
  ["an unterminated comment", "a /* never closed", "line 1, column 3: unterminated comment"],
  [
    "a preprocessor line",
    "#include <x.h>",
    "line 1, column 1: preprocessor lines are not supported",
  ],
  [
    "an indented preprocessor line",
    "a\n  #define X",
    "line 2, column 3: preprocessor lines are not supported",
  ],
  ["a % after a token", "a %b", 'line 1, column 3: unexpected character "%"'],
  ["a minus without digits", "a - b", 'line 1, column 3: unexpected character "-"'],
  ["a stray character", "a\n\t$", 'line 2, column 2: unexpected character "$"'],
];

for (const [why, source, message] of ERROR_ROWS) {
  Deno.test(`tokenizeXdr rejects ${why}`, () => {
    assert.throws(() => tokenizeXdr(source, { fileName: "demo.x" }), {
      name: "SyntaxError",
      message: `Cannot parse XDR in "demo.x" at ${message}`,
    });
  });
}

Deno.test("tokenizeXdr names <input> in errors when no file name is given", () => {
  assert.throws(() => tokenizeXdr("$"), {
    name: "SyntaxError",
    message: 'Cannot parse XDR in "<input>" at line 1, column 1: unexpected character "$"',
  });
});
