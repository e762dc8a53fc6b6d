/**
 * CONNECT_OPEN's arguments, `remote_connect_open_args` in remote_protocol.x:
 * `{ remote_string name; unsigned int flags; }`, where `remote_string` is an optional
 * `remote_nonnull_string` (a present word, then a length, the bytes and padding to 4). The proxy
 * reads them from clients (the shared pool's name and flags), writes them for its own opens, and
 * sets VIR_CONNECT_RO in them for read-only listeners.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeOpenArgs, encodeOpenArgs } from "./open_args.ts";
 *
 * const body = encodeOpenArgs({ name: "test:///default", flags: 0 });
 * const frame = new Uint8Array(28 + body.length);
 * frame.set(body, 28);
 * assert.deepEqual(decodeOpenArgs(frame), { name: "test:///default", flags: 0 });
 * ```
 *
 * @module
 */

import { CONNECT_RO, HEADER_BYTES, STRING_MAX } from "./constants.ts";
import { readU32, writeU32 } from "./header.ts";

/** The arguments of CONNECT_OPEN: `{ remote_string name; unsigned int flags; }`. */
export interface OpenArgs {
  /** The name the client opens, or null. */
  name: string | null;
  /** The open flags (VIR_CONNECT_RO is 1). */
  flags: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Where an open's name bytes and flags word lie in its frame. */
interface OpenLayout {
  /** Offset of the name's bytes, or -1 when the name is absent. */
  nameAt: number;
  /** The name's length in bytes. */
  nameBytes: number;
  /** Offset of the flags word. */
  flagsAt: number;
}

/**
 * Walks the arguments of the CONNECT_OPEN call `frame` the way libvirt's XDR decoder does, checking
 * each length before using it, so no declared length allocates anything.
 *
 * @throws {RangeError} when the body is shorter than it declares or the name exceeds STRING_MAX.
 */
function openLayout(frame: Uint8Array): OpenLayout {
  const need = (at: number, bytes: number, what: string) => {
    if (at + bytes > frame.length) {
      throw new RangeError(
        `Cannot decode CONNECT_OPEN arguments: ${what} needs ${bytes} bytes at offset ${at}, ` +
          `the frame has ${frame.length}`,
      );
    }
  };
  let at = HEADER_BYTES;
  need(at, 4, "the name's present word");
  const present = readU32(frame, at);
  at += 4;
  let nameAt = -1;
  let nameBytes = 0;
  if (present !== 0) {
    need(at, 4, "the name's length");
    nameBytes = readU32(frame, at);
    at += 4;
    if (nameBytes > STRING_MAX) {
      throw new RangeError(
        `Cannot decode CONNECT_OPEN arguments: name length ${nameBytes} exceeds ${STRING_MAX}`,
      );
    }
    need(at, nameBytes, "the name");
    nameAt = at;
    at += (nameBytes + 3) & ~3;
  }
  need(at, 4, "the flags");
  return { nameAt, nameBytes, flagsAt: at };
}

/**
 * Decodes CONNECT_OPEN's arguments from its frame. Bytes after the flags are ignored, as libvirt's
 * decoder ignores them.
 *
 * @param frame The whole CONNECT_OPEN call frame, header included.
 * @returns The name (null when absent) and the flags.
 * @throws {RangeError} when the body is shorter than it declares or the name exceeds STRING_MAX.
 */
export function decodeOpenArgs(frame: Uint8Array): OpenArgs {
  const { nameAt, nameBytes, flagsAt } = openLayout(frame);
  const name = nameAt < 0 ? null : decoder.decode(frame.subarray(nameAt, nameAt + nameBytes));
  return { name, flags: readU32(frame, flagsAt) };
}

/**
 * Sets VIR_CONNECT_RO in the flags of the CONNECT_OPEN call `frame`, in place. The flags word is
 * found by decoding the name, not taken as the frame's last word: libvirt ignores bytes after the
 * flags, so a client could append a word to take the patch in their place.
 *
 * @param frame The whole CONNECT_OPEN call frame, header included.
 * @throws {RangeError} when the arguments cannot be read; refuse the call then, never forward it
 * unpatched.
 */
export function patchOpenReadOnly(frame: Uint8Array): void {
  const { flagsAt } = openLayout(frame);
  writeU32(frame, flagsAt, readU32(frame, flagsAt) | CONNECT_RO);
}

/** XDR-encodes `remote_string` (an optional string): null encodes as absent. */
export function encodeOptionalString(text: string | null): Uint8Array {
  if (text === null) return new Uint8Array(4);
  const bytes = encoder.encode(text);
  const out = new Uint8Array(8 + ((bytes.length + 3) & ~3));
  writeU32(out, 0, 1);
  writeU32(out, 4, bytes.length);
  out.set(bytes, 8);
  return out;
}

/** The CONNECT_OPEN arguments for `name` and `flags`, as a body to follow the header. */
export function encodeOpenArgs(args: OpenArgs): Uint8Array {
  const name = encodeOptionalString(args.name);
  const out = new Uint8Array(name.length + 4);
  out.set(name);
  writeU32(out, name.length, args.flags);
  return out;
}
