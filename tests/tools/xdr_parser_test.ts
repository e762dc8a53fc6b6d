import assert from "node:assert/strict";
import { join } from "node:path";
import type { XdrDefinition } from "../../tools/xdr_ast.ts";
import { parseXdr } from "../../tools/xdr_parser.ts";
import { XDR_FILES } from "../../tools/gen_protocol.ts";

/** The unpacked libvirt 9.0 tree of DESIGN.md §5; LIBVIRT_SRC overrides it. */
function libvirtSourceDir(): string | undefined {
  const dir = Deno.env.get("LIBVIRT_SRC") ?? "/tmp/libvirt-src/libvirt-9.0.0";
  try {
    return Deno.statSync(join(dir, "src/remote/remote_protocol.x")).isFile ? dir : undefined;
  } catch {
    return undefined;
  }
}
const SOURCE_DIR = libvirtSourceDir();

/** Drops the `line` and `comment` fields, so expectations can focus on structure. */
function shape(definitions: XdrDefinition[]): unknown[] {
  return definitions.map(({ line: _line, comment: _comment, ...rest }) => rest);
}

Deno.test("parseXdr reads constants in decimal, hex, negative and by name", () => {
  const file = parseXdr(`
    const A = 42;
    const B = 0x20008086;
    const C = -1;
    const D = VIR_UUID_BUFLEN;
    const E=64;
  `);
  assert.deepEqual(shape(file.definitions), [
    { kind: "const", name: "A", value: 42 },
    { kind: "const", name: "B", value: 0x20008086 },
    { kind: "const", name: "C", value: -1 },
    { kind: "const", name: "D", value: "VIR_UUID_BUFLEN" },
    { kind: "const", name: "E", value: 64 },
  ]);
});

Deno.test("parseXdr keeps the block comment before each enum member", () => {
  const file = parseXdr(`
enum demo_procedure {
    /* Each function must be preceded by a comment. */
    /**
     * @generate: both
     * @readstream: 2
     */
    DEMO_PROC_OPEN = 1,

    DEMO_PROC_CLOSE = 2, /* trailing, documents nothing */
    DEMO_PROC_NEXT
};`);
  const [definition] = file.definitions;
  assert.equal(definition.kind, "enum");
  assert.equal(definition.kind === "enum" && definition.name, "demo_procedure");
  assert.deepEqual(definition.kind === "enum" && definition.members, [
    { name: "DEMO_PROC_OPEN", value: 1, comment: "@generate: both\n@readstream: 2", line: 8 },
    { name: "DEMO_PROC_CLOSE", value: 2, line: 10 },
    { name: "DEMO_PROC_NEXT", value: 3, line: 11 },
  ]);
});

Deno.test("parseXdr reads struct members of every declaration shape", () => {
  const file = parseXdr(`
/* A struct. */
struct demo_args {
    unsigned hyper size;
    unsigned flags;
    unsigned char c;
    remote_nonnull_string name;
    remote_string *maybe;
    opaque uuid[VIR_UUID_BUFLEN];
    opaque cookie<REMOTE_MIGRATE_COOKIE_MAX>;
    opaque blob<>;
    string text<64>;
    int cpumap[16];
    remote_typed_param params<REMOTE_PARAMS_MAX>;
    struct other inline_ref;
};`);
  const [definition] = file.definitions;
  assert.equal(definition.comment, "A struct.");
  assert.equal(definition.line, 3);
  const scalar = { kind: "scalar" };
  assert.deepEqual(shape(file.definitions), [{
    kind: "struct",
    name: "demo_args",
    members: [
      {
        kind: "field",
        name: "size",
        type: { kind: "primitive", name: "unsigned hyper" },
        shape: scalar,
      },
      {
        kind: "field",
        name: "flags",
        type: { kind: "primitive", name: "unsigned int" },
        shape: scalar,
      },
      {
        kind: "field",
        name: "c",
        type: { kind: "primitive", name: "unsigned char" },
        shape: scalar,
      },
      {
        kind: "field",
        name: "name",
        type: { kind: "ref", name: "remote_nonnull_string" },
        shape: scalar,
      },
      {
        kind: "field",
        name: "maybe",
        type: { kind: "ref", name: "remote_string" },
        shape: { kind: "optional" },
      },
      {
        kind: "field",
        name: "uuid",
        type: { kind: "opaque" },
        shape: { kind: "fixed", length: "VIR_UUID_BUFLEN" },
      },
      {
        kind: "field",
        name: "cookie",
        type: { kind: "opaque" },
        shape: { kind: "variable", max: "REMOTE_MIGRATE_COOKIE_MAX" },
      },
      { kind: "field", name: "blob", type: { kind: "opaque" }, shape: { kind: "variable" } },
      {
        kind: "field",
        name: "text",
        type: { kind: "string" },
        shape: { kind: "variable", max: 64 },
      },
      {
        kind: "field",
        name: "cpumap",
        type: { kind: "primitive", name: "int" },
        shape: { kind: "fixed", length: 16 },
      },
      {
        kind: "field",
        name: "params",
        type: { kind: "ref", name: "remote_typed_param" },
        shape: { kind: "variable", max: "REMOTE_PARAMS_MAX" },
      },
      { kind: "field", name: "inline_ref", type: { kind: "ref", name: "other" }, shape: scalar },
    ],
  }]);
});

Deno.test("parseXdr reads a union with shared case labels, void and default arms", () => {
  const file = parseXdr(`
union demo_value switch (int type) {
 case 1:
     int i;
 case 2:
 case 3:
     hyper h;
 case DEMO_NONE:
     void;
 default:
     string s<>;
};`);
  const int = { kind: "primitive", name: "int" };
  assert.deepEqual(shape(file.definitions), [{
    kind: "union",
    name: "demo_value",
    body: {
      discriminant: { kind: "field", name: "type", type: int, shape: { kind: "scalar" } },
      arms: [
        {
          cases: [1],
          declaration: { kind: "field", name: "i", type: int, shape: { kind: "scalar" } },
        },
        {
          cases: [2, 3],
          declaration: {
            kind: "field",
            name: "h",
            type: { kind: "primitive", name: "hyper" },
            shape: { kind: "scalar" },
          },
        },
        { cases: ["DEMO_NONE"], declaration: { kind: "void" } },
      ],
      defaultArm: {
        kind: "field",
        name: "s",
        type: { kind: "string" },
        shape: { kind: "variable" },
      },
    },
  }]);
});

Deno.test("parseXdr reads typedefs, inline bodies and pass-through lines", () => {
  const file = parseXdr(`%#include "internal.h"
typedef string remote_nonnull_string<REMOTE_STRING_MAX>;
typedef remote_nonnull_string *remote_string;
typedef opaque remote_uuid[16];
typedef struct { int a; } inline_struct;
typedef enum { X = 1 } inline_enum;
`);
  assert.deepEqual(shape(file.definitions), [
    { kind: "passthrough", text: '#include "internal.h"' },
    {
      kind: "typedef",
      name: "remote_nonnull_string",
      declaration: {
        kind: "field",
        name: "remote_nonnull_string",
        type: { kind: "string" },
        shape: { kind: "variable", max: "REMOTE_STRING_MAX" },
      },
    },
    {
      kind: "typedef",
      name: "remote_string",
      declaration: {
        kind: "field",
        name: "remote_string",
        type: { kind: "ref", name: "remote_nonnull_string" },
        shape: { kind: "optional" },
      },
    },
    {
      kind: "typedef",
      name: "remote_uuid",
      declaration: {
        kind: "field",
        name: "remote_uuid",
        type: { kind: "opaque" },
        shape: { kind: "fixed", length: 16 },
      },
    },
    {
      kind: "typedef",
      name: "inline_struct",
      declaration: {
        kind: "field",
        name: "inline_struct",
        type: {
          kind: "struct",
          members: [{
            kind: "field",
            name: "a",
            type: { kind: "primitive", name: "int" },
            shape: { kind: "scalar" },
          }],
        },
        shape: { kind: "scalar" },
      },
    },
    {
      kind: "typedef",
      name: "inline_enum",
      declaration: {
        kind: "field",
        name: "inline_enum",
        type: { kind: "enum", members: [{ name: "X", value: 1, line: 6 }] },
        shape: { kind: "scalar" },
      },
    },
  ]);
});

Deno.test("parseXdr accepts an empty file and comments alone", () => {
  assert.deepEqual(parseXdr("").definitions, []);
  assert.deepEqual(parseXdr("/* only */\n// a comment\n").definitions, []);
});

/** Rows: why, source, a fragment the error message must contain. */
const ERROR_ROWS: [string, string, string][] = [
  ["missing semicolon", "const A = 1", 'expected ";" but found end of input'],
  ["missing value", "const A = ;", 'expected an identifier but found ";"'],
  ["keyword as a name", "const int = 1;", 'expected an identifier but found "int"'],
  ["unknown definition", "program P { } = 1;", "expected const, enum, struct, union or typedef"],
  ["string without a bound", "struct s { string name; };", 'expected "<" but found ";"'],
  ["string with a fixed size", "struct s { string name[4]; };", 'expected "<" but found "["'],
  ["unterminated comment", "/* never closed", "unterminated comment"],
  ["preprocessor line", "#include <x.h>", "preprocessor lines are not supported"],
  ["stray character", "const A = 1 $;", 'unexpected character "$"'],
  ["union with no arms", "union u switch (int t) { };", "expected at least one case arm"],
  ["two default arms", "union u switch (int t) { default: void; default: void; };", "one default"],
  ["value after a named one", "enum e { A = B, C };", '"=" after a named value'],
  ["void typedef", "typedef void;", "a named typedef"],
];

for (const [why, source, message] of ERROR_ROWS) {
  Deno.test(`parseXdr rejects input with ${why}`, () => {
    assert.throws(
      () => parseXdr(source, { fileName: "demo.x" }),
      (error: unknown) =>
        error instanceof SyntaxError &&
        error.message.startsWith('Cannot parse XDR in "demo.x" at line') &&
        error.message.includes(message),
    );
  });
}

Deno.test("parseXdr reports the line and column of an error", () => {
  assert.throws(
    () => parseXdr("const A = 1;\nstruct s {\n    int a\n};", { fileName: "demo.x" }),
    {
      name: "SyntaxError",
      message: 'Cannot parse XDR in "demo.x" at line 4, column 1: expected ";" but found "}"',
    },
  );
});

Deno.test({
  name: "parseXdr parses the six .x files of libvirt 9.0",
  ignore: SOURCE_DIR === undefined,
  fn() {
    const counts: Record<string, Record<string, number>> = {};
    for (const file of XDR_FILES) {
      const path = join(SOURCE_DIR!, file);
      const parsed = parseXdr(Deno.readTextFileSync(path), { fileName: path });
      const kinds: Record<string, number> = {};
      for (const definition of parsed.definitions) {
        kinds[definition.kind] = (kinds[definition.kind] ?? 0) + 1;
      }
      counts[file] = kinds;
    }
    assert.deepEqual(counts, {
      "src/remote/remote_protocol.x": {
        passthrough: 4,
        const: 72,
        typedef: 12,
        struct: 689,
        enum: 2,
        union: 1,
      },
      "src/remote/qemu_protocol.x": { passthrough: 2, struct: 12, const: 2, enum: 1 },
      "src/remote/lxc_protocol.x": { passthrough: 2, struct: 1, const: 2, enum: 1 },
      "src/admin/admin_protocol.x": {
        passthrough: 2,
        const: 8,
        typedef: 2,
        union: 1,
        struct: 30,
        enum: 1,
      },
      "src/rpc/virnetprotocol.x": { passthrough: 3, const: 9, enum: 2, struct: 5, typedef: 5 },
      "src/rpc/virkeepaliveprotocol.x": { const: 2, enum: 1 },
    });
  },
});

Deno.test({
  name: "parseXdr finds 443 annotated procedures in remote_protocol.x",
  ignore: SOURCE_DIR === undefined,
  fn() {
    const path = join(SOURCE_DIR!, "src/remote/remote_protocol.x");
    const parsed = parseXdr(Deno.readTextFileSync(path), { fileName: path });
    const procedures = parsed.definitions.find((definition) =>
      definition.kind === "enum" && definition.name === "remote_procedure"
    );
    assert.ok(procedures?.kind === "enum");
    assert.equal(procedures.members.length, 443);
    assert.ok(procedures.members.every((member) => member.comment?.includes("@generate:")));
    const screenshot = procedures.members.find((m) => m.name === "REMOTE_PROC_DOMAIN_SCREENSHOT");
    assert.match(screenshot?.comment ?? "", /^@readstream: 1$/m);
  },
});
