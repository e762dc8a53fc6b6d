/**
 * The inverse of src/audit/decoder.ts for tests: encodes a {@linkcode DecodedMessage} back into
 * frame bytes with the same schema, so a captured frame can be checked to decode losslessly
 * (`encodeMessage(decodeFrame(frame))` gives the frame back) and random values can be generated
 * and decoded. Stream data is not kept by the decoder, so a STREAM CONTINUE frame's payload comes
 * back as zero bytes of the same length.
 *
 * @module
 */

import type { DecodedMessage } from "../../src/audit/decoder.ts";
import { SCHEMA_PROGRAMS, SCHEMA_TYPES } from "../../src/audit/schema.ts";
import type { TypeExpr } from "../../src/audit/schema_types.ts";
import { MessageStatus, MessageType } from "../../src/wire/constants.ts";

/** Growable big-endian byte writer. */
class Writer {
  bytes = new Uint8Array(256);
  view = new DataView(this.bytes.buffer);
  length = 0;

  reserve(n: number): number {
    while (this.length + n > this.bytes.length) {
      const bigger = new Uint8Array(this.bytes.length * 2);
      bigger.set(this.bytes);
      this.bytes = bigger;
      this.view = new DataView(bigger.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  u32(value: number): void {
    const at = this.reserve(4); // before this.view: reserve may replace it
    this.view.setUint32(at, value >>> 0);
  }

  raw(bytes: Uint8Array): void {
    const at = this.reserve((bytes.length + 3) & ~3);
    this.bytes.set(bytes, at);
  }

  float32(value: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, value);
  }

  float64(value: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, value);
  }

  hyper(value: unknown): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt.asUintN(64, BigInt(value as number | string)));
  }
}

/** Encodes `value` of `type` into `w`. */
export function encodeValue(w: Writer, type: TypeExpr, value: unknown): void {
  if (typeof type === "string") {
    switch (type) {
      case "int":
      case "uint":
        return w.u32(value as number);
      case "bool":
        return w.u32(value ? 1 : 0);
      case "hyper":
      case "uhyper":
        return w.hyper(value);
      case "float":
        return w.float32(Number(value));
      case "double":
        return w.float64(Number(value));
      case "void":
        return;
    }
    return encodeValue(w, SCHEMA_TYPES.get(type)!, value);
  }
  switch (type[0]) {
    case "string": {
      const bytes = new TextEncoder().encode(value as string);
      w.u32(bytes.length);
      return w.raw(bytes);
    }
    case "opaque":
    case "fixed_opaque": {
      const bytes = Uint8Array.fromBase64((value as { base64: string }).base64);
      if (type[0] === "opaque") w.u32(bytes.length);
      return w.raw(bytes);
    }
    case "uuid":
      return w.raw(Uint8Array.fromHex((value as string).replaceAll("-", "")));
    case "chars": {
      const [, bound, form] = type;
      if (form === "bytes") {
        const bytes = Uint8Array.fromBase64((value as { base64: string }).base64);
        w.u32(bytes.length);
        for (const byte of bytes) w.u32(byte);
        return;
      }
      // libvirt sends the C string with its NUL (remote_daemon_dispatch.c: strlen + 1); a fixed
      // array is NUL-padded to its size.
      const text = form === "fixed"
        ? (value as string).padEnd(bound, "\0")
        : `${value as string}\0`;
      if (form === "text") w.u32(text.length);
      for (const char of text) w.u32(char.charCodeAt(0));
      return;
    }
    case "optional":
      w.u32(value === null ? 0 : 1);
      if (value !== null) encodeValue(w, type[1], value);
      return;
    case "array":
    case "fixed_array": {
      const items = value as unknown[];
      if (type[0] === "array") w.u32(items.length);
      for (const item of items) encodeValue(w, type[1], item);
      return;
    }
    case "struct":
      for (const [name, field] of Object.entries(type[1])) {
        encodeValue(w, field, (value as Record<string, unknown>)[name]);
      }
      return;
    case "union": {
      const [, name, discriminantType, arms, defaultArm] = type;
      const record = value as Record<string, unknown>;
      const discriminant = record[name];
      encodeValue(w, discriminantType, discriminant);
      const number = typeof discriminant === "number"
        ? discriminant
        : enumValue(discriminantType, discriminant as string);
      const arm = arms.find(([cases]) => cases.includes(number)) ?? defaultArm!;
      if (arm[1] !== null) encodeValue(w, arm[2], record[arm[1]]);
      return;
    }
    case "enum":
      return w.u32(typeof value === "number" ? value : type[1][value as string]);
  }
}

function enumValue(type: TypeExpr, name: string): number {
  const resolved = typeof type === "string" ? SCHEMA_TYPES.get(type)! : type;
  if (typeof resolved === "string" || resolved[0] !== "enum") {
    throw new Error(`Cannot encode discriminant "${name}": not an enum`);
  }
  return resolved[1][name];
}

function lookup(table: Readonly<Record<string, number>>, value: unknown): number {
  return typeof value === "number" ? value : table[value as string];
}

/** Encodes a decoded message back into a frame. */
export function encodeMessage(message: DecodedMessage): Uint8Array {
  const program = [...SCHEMA_PROGRAMS.values()].find((p) =>
    p.name === message.program || p.number === message.program
  );
  const procedureNumber = typeof message.procedure === "number" ? message.procedure : Number(
    Object.entries(program!.procedures).find(([, p]) => p[0] === message.procedure)![0],
  );
  const procedure = program?.procedures[procedureNumber];
  const w = new Writer();
  w.reserve(4);
  w.u32(program?.number ?? (message.program as number));
  w.u32(message.version!);
  w.u32(procedureNumber);
  w.u32(lookup(MessageType, message.type));
  w.u32(message.serial!);
  w.u32(lookup(MessageStatus, message.status));
  if (message.fds !== undefined) w.u32(message.fds);
  const body = (name: string | null | undefined, value: unknown) => {
    if (name) encodeValue(w, name, value);
  };
  if ("args" in message) body(procedure?.[1], message.args);
  if ("ret" in message) body(procedure?.[2], message.ret);
  if ("msg" in message) body(procedure?.[3], message.msg);
  if ("error" in message) body(program!.error, message.error);
  if ("hole" in message) body("virNetStreamHole", message.hole);
  if (message.data) w.reserve(message.data);
  w.view.setUint32(0, w.length);
  return w.bytes.slice(0, w.length);
}
