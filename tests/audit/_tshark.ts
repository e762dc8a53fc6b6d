/**
 * What the tshark cross-checks share: whether tshark and Debian's libvirt-wireshark dissector are
 * installed, and both sides of a message reduced to comparable leaves (`field=value`, by the
 * last field name, as the dissector shows them). Used by tests/audit/decoder_tshark_test.ts and
 * the audit log's integration test.
 *
 * @module
 */

import type { DecodedMessage } from "../../src/audit/decoder.ts";
import { SCHEMA_PROGRAMS, SCHEMA_TYPES } from "../../src/audit/schema.ts";
import type { TypeExpr } from "../../src/audit/schema_types.ts";

/** The dissector plugin of Debian's libvirt-wireshark. */
export const DISSECTOR = "/usr/lib/x86_64-linux-gnu/wireshark/plugins/4.0/epan/libvirt.so";

/** Whether tshark and the libvirt dissector are installed. */
export function haveTshark(): boolean {
  try {
    const probe = new Deno.Command("tshark", { args: ["-v"], stdout: "null", stderr: "null" });
    return probe.outputSync().success && Deno.statSync(DISSECTOR).isFile;
  } catch {
    return false;
  }
}
/** Whether tshark and the dissector are here. */
export const HAVE_TSHARK: boolean = haveTshark();

/** `field=value` items. */
export type Leaves = string[];

function hex(bytes: Uint8Array): string {
  return [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join(":");
}

/** The leaves of a value as the dissector names them: the last field name, then the value. */
export function leaves(type: TypeExpr, value: unknown, name: string, out: Leaves): void {
  const push = (text: string): void => void out.push(`${name}=${text}`);
  if (typeof type === "string") {
    switch (type) {
      case "int":
      case "uint":
      case "hyper":
      case "uhyper":
        return push(String(value));
      case "bool":
        return push(value ? "1" : "0");
      case "float":
      case "double":
        return push(String(Number(value)));
      case "void":
        return;
    }
    return leaves(SCHEMA_TYPES.get(type)!, value, name, out);
  }
  switch (type[0]) {
    case "string":
      return push(value as string);
    case "opaque":
    case "fixed_opaque": {
      const bytes = Uint8Array.fromBase64((value as { base64: string }).base64);
      if (type[0] === "fixed_opaque") return push(hex(bytes));
      // The dissector shows an opaque<> as its whole XDR item: length word, data, padding.
      const item = new Uint8Array(4 + ((bytes.length + 3) & ~3));
      new DataView(item.buffer).setUint32(0, bytes.length);
      item.set(bytes, 4);
      return push(hex(item));
    }
    case "uuid":
      return push(hex(Uint8Array.fromHex((value as string).replaceAll("-", ""))));
    case "chars": {
      const [, bound, form] = type;
      const codes = form === "bytes"
        ? [...Uint8Array.fromBase64((value as { base64: string }).base64)]
        : [...(value as string)].map((char) => char.charCodeAt(0)).concat(0);
      if (form === "fixed") { while (codes.length < bound) codes.push(0); }
      for (const code of codes) push(String(code));
      return;
    }
    case "optional":
      if (value === null) return push("");
      return leaves(type[1], value, name, out);
    case "array":
    case "fixed_array":
      for (const item of value as unknown[]) leaves(type[1], item, name, out);
      return;
    case "struct":
      for (const [field, fieldType] of Object.entries(type[1])) {
        leaves(fieldType, (value as Record<string, unknown>)[field], field, out);
      }
      return;
    case "union": {
      // The dissector shows the arm, not the discriminant.
      const [, , , arms, defaultArm] = type;
      const record = value as Record<string, unknown>;
      for (const arm of [...arms, ...(defaultArm ? [defaultArm] : [])]) {
        if (arm[1] !== null && arm[1] in record) return leaves(arm[2], record[arm[1]], arm[1], out);
      }
      return;
    }
    case "enum":
      return push(String(typeof value === "number" ? value : type[1][value as string]));
  }
}

/** The dissector's leaves: every string under the libvirt layer but the header's. */
export function tsharkLeaves(node: unknown, key: string, out: Leaves): void {
  if (typeof node === "string") out.push(`${key.slice(key.lastIndexOf(".") + 1)}=${node}`);
  else if (Array.isArray(node)) { for (const item of node) tsharkLeaves(item, key, out); }
  else if (node && typeof node === "object") {
    for (const [child, value] of Object.entries(node)) tsharkLeaves(value, child, out);
  }
}

/** The header fields of the dissector's libvirt layer. */
export const HEADER = ["length", "program", "version", "procedure", "type", "serial", "status"];

/**
 * Where libvirt-wireshark 9.0 itself is wrong: its generator registers every field named `type`
 * as FT_UINT32 (`tshark -G fields | grep '\.type\b'`), so for a `remote_nonnull_string type`
 * it shows the string's length word ("5" for "linux") and misreads the fields after it. Bodies
 * holding such a field are compared by header only.
 */
export function dissectorMisreads(type: TypeExpr, seen = new Set<string>()): boolean {
  if (typeof type === "string") {
    const named = SCHEMA_TYPES.get(type);
    if (!named || seen.has(type)) return false;
    seen.add(type);
    return dissectorMisreads(named, seen);
  }
  switch (type[0]) {
    case "optional":
    case "array":
    case "fixed_array":
      return dissectorMisreads(type[1], seen);
    case "struct":
      return Object.entries(type[1]).some(([name, field]) =>
        (name === "type" && !isWord(field)) || dissectorMisreads(field, seen)
      );
    case "union":
      return type[3].some((arm) => dissectorMisreads(arm[2], seen));
    default:
      return false;
  }
}

/** Whether a type is one 4-byte word (int, unsigned int or enum). */
function isWord(type: TypeExpr): boolean {
  const resolved = typeof type === "string" && SCHEMA_TYPES.has(type)
    ? SCHEMA_TYPES.get(type)!
    : type;
  return resolved === "int" || resolved === "uint" ||
    (Array.isArray(resolved) && resolved[0] === "enum");
}

/** The leaves of a decoded message's body. */
export function ourLeaves(message: DecodedMessage, program: number): Leaves {
  const out: Leaves = [];
  const schema = SCHEMA_PROGRAMS.get(program)!;
  const procedure = Object.values(schema.procedures).find((p) => p[0] === message.procedure);
  const body = (type: string | null | undefined, value: unknown) => {
    if (type) leaves(type, value, type, out);
  };
  if ("args" in message) body(procedure?.[1], message.args);
  if ("ret" in message) body(procedure?.[2], message.ret);
  if ("msg" in message) body(procedure?.[3], message.msg);
  if ("error" in message) body(schema.error, message.error);
  return out;
}

/** The body type of a decoded message, if any. */
export function bodyType(message: DecodedMessage, program: number): string | null | undefined {
  const schema = SCHEMA_PROGRAMS.get(program)!;
  const procedure = Object.values(schema.procedures).find((p) => p[0] === message.procedure);
  if ("args" in message) return procedure?.[1];
  if ("ret" in message) return procedure?.[2];
  if ("msg" in message) return procedure?.[3];
  if ("error" in message) return schema.error;
}

/** Leaves without empty values, sorted. */
export function normal(items: Leaves): Leaves {
  return items.filter((item) => !item.endsWith("=")).sort();
}
