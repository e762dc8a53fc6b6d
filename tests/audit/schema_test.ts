/**
 * Coverage of the generated schema: every procedure of the six .x files has body types that
 * resolve and decode (or a body libvirt sends empty), the tables agree with src/wire/procedures.ts,
 * and random values of every procedure's types survive encode → decode.
 */

import assert from "node:assert/strict";
import { decodeFrame } from "../../src/audit/decoder.ts";
import { DecoderCompiler } from "../../src/audit/decoder_compile.ts";
import { describeProcedure, SCHEMA_PROGRAMS, SCHEMA_TYPES } from "../../src/audit/schema.ts";
import { MessageType } from "../../src/wire/constants.ts";
import {
  ADMIN_PROCEDURES,
  KEEPALIVE_PROCEDURES,
  LXC_PROCEDURES,
  type ProcedureTable,
  QEMU_PROCEDURES,
  REMOTE_PROCEDURES,
} from "../../src/wire/procedures.ts";
import { Random, randomValue } from "./_random_value.ts";
import { encodeMessage } from "./_xdr_encoder.ts";

const WIRE_TABLES: Record<string, ProcedureTable> = {
  REMOTE: REMOTE_PROCEDURES,
  QEMU: QEMU_PROCEDURES,
  LXC: LXC_PROCEDURES,
  ADMIN: ADMIN_PROCEDURES,
  KEEPALIVE: KEEPALIVE_PROCEDURES,
};

/**
 * Procedures whose calls, replies and messages have no body in libvirt 9.0 (their dispatch takes
 * `void` both ways): keepalive's PING/PONG, closing a connection, and the close callback.
 */
const EMPTY_BODIES = [
  "KEEPALIVE.PING",
  "KEEPALIVE.PONG",
  "REMOTE.CONNECT_CLOSE",
  "REMOTE.CONNECT_REGISTER_CLOSE_CALLBACK",
  "REMOTE.CONNECT_UNREGISTER_CLOSE_CALLBACK",
  "ADMIN.CONNECT_CLOSE",
];

Deno.test("the schema has the five programs and every procedure src/wire/procedures.ts lists", () => {
  assert.deepEqual(
    [...SCHEMA_PROGRAMS.values()].map((program) => program.name).sort(),
    Object.keys(WIRE_TABLES).sort(),
  );
  for (const program of SCHEMA_PROGRAMS.values()) {
    const wire = WIRE_TABLES[program.name];
    assert.deepEqual(Object.keys(program.procedures), Object.keys(wire), program.name);
    for (const [number, procedure] of Object.entries(program.procedures)) {
      const info = wire[Number(number)];
      assert.equal(procedure[0], info.name);
      assert.equal(procedure[5], info.stream, `${program.name}.${info.name} stream`);
    }
  }
  assert.equal(Object.keys(SCHEMA_PROGRAMS.get(0x20008086)!.procedures).length, 443);
});

Deno.test("100% of procedures have resolvable body types or a documented empty body", () => {
  const compiler = new DecoderCompiler(SCHEMA_TYPES);
  let procedures = 0;
  const empty: string[] = [];
  for (const program of SCHEMA_PROGRAMS.values()) {
    compiler.named(program.error);
    for (const [name, args, ret, msg] of Object.values(program.procedures)) {
      procedures++;
      for (const type of [args, ret, msg]) if (type) compiler.named(type);
      if (!args && !ret && !msg) empty.push(`${program.name}.${name}`);
    }
  }
  assert.equal(procedures, 443 + 7 + 1 + 19 + 2);
  assert.deepEqual(empty.sort(), [...EMPTY_BODIES].sort());
});

Deno.test("every named type compiles and takes at least 4 bytes on the wire", () => {
  // No zero-size type means an array count is always bounded by the bytes left in the frame
  // (XdrReader.count), so a forged count cannot make the decoder loop or allocate beyond them.
  const compiler = new DecoderCompiler(SCHEMA_TYPES);
  for (const name of SCHEMA_TYPES.keys()) {
    assert.equal(typeof compiler.named(name), "function");
    assert.ok(compiler.minBytes(name) >= 4, name);
  }
});

Deno.test("random values of every procedure's args, ret and msg round-trip", () => {
  const random = new Random(12);
  let cases = 0;
  for (const program of SCHEMA_PROGRAMS.values()) {
    for (const [number, [name, args, ret, msg]] of Object.entries(program.procedures)) {
      const kinds = [
        ["args", args, MessageType.CALL],
        ["ret", ret, MessageType.REPLY],
        ["msg", msg, MessageType.MESSAGE],
      ] as const;
      for (const [field, type, messageType] of kinds) {
        if (!type) continue;
        for (let i = 0; i < 3; i++) {
          const value = randomValue(random, type);
          const message = {
            program: program.name,
            version: 1,
            procedure: name,
            type: Object.keys(MessageType)[messageType],
            serial: 7,
            status: "OK",
            bytes: 0,
            [field]: value,
          };
          const frame = encodeMessage(message);
          const decoded = decodeFrame(frame);
          assert.equal(decoded.decode_error, undefined, `${program.name}.${name} ${field}`);
          assert.deepEqual(decoded, { ...message, bytes: frame.length }, `${number} ${field}`);
          cases++;
        }
      }
    }
  }
  assert.ok(cases > 1500, `${cases}`);
});

Deno.test("nothing in src/wire or src/proxy imports src/audit", async () => {
  for (const dir of ["wire", "proxy", "transport", "uri", "config", "log"]) {
    const root = new URL(`../../src/${dir}/`, import.meta.url);
    const walk = async (url: URL): Promise<void> => {
      for await (const entry of Deno.readDir(url)) {
        const child = new URL(entry.name + (entry.isDirectory ? "/" : ""), url);
        if (entry.isDirectory) await walk(child);
        else if (entry.name.endsWith(".ts")) {
          const text = await Deno.readTextFile(child);
          assert.doesNotMatch(text, /from "[./]*audit\//, child.pathname);
        }
      }
    };
    await walk(root);
  }
});

Deno.test("describeProcedure names and classifies from the header numbers alone", () => {
  assert.deepEqual(describeProcedure(0x20008086, 211), {
    program: "REMOTE",
    procedure: "DOMAIN_SCREENSHOT",
    access: "read",
    stream: "read",
  });
  assert.deepEqual(describeProcedure(0x06900690, 11), {
    program: "ADMIN",
    procedure: "CLIENT_CLOSE",
    access: "write",
  });
  assert.equal(describeProcedure(0x20008086, 99999), undefined);
  assert.equal(describeProcedure(1, 1), undefined);
});
