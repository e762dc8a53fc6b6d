/**
 * A client channel whose CONNECT_OPEN is renamed on the way in: virt-ssh-helper mode routes a
 * client that opened an upstream's name (`qemu+ssh://bastion/system?name=hv2` opens "hv2") to
 * that upstream, which must be opened with its own open name instead, as `route_by_name` does on
 * a shared listener. Only the frames before CONNECT_OPEN are looked at; after it, reads pass
 * straight through.
 *
 * @module
 */

import type { Channel } from "../transport/channel.ts";
import { HEADER_BYTES, MessageType, Program, RemoteProc } from "../wire/constants.ts";
import { frameProcedure, frameProgram, frameType, readU32, writeU32 } from "../wire/header.ts";
import { decodeOpenArgs, encodeOpenArgs } from "../wire/open_args.ts";

/** Frames before CONNECT_OPEN larger than this end the search (the session rejects them). */
const MAX_SCANNED_FRAME_BYTES = 65536;

function isOpenCall(frame: Uint8Array): boolean {
  return frameProgram(frame) === Program.REMOTE && frameType(frame) === MessageType.CALL &&
    frameProcedure(frame) === RemoteProc.CONNECT_OPEN;
}

/** `frame`, a CONNECT_OPEN call, with its name replaced by `name` (flags kept). */
export function renameOpenFrame(frame: Uint8Array, name: string): Uint8Array {
  const args = encodeOpenArgs({ name, flags: decodeOpenArgs(frame).flags });
  const out = new Uint8Array(HEADER_BYTES + args.length);
  out.set(frame.subarray(0, HEADER_BYTES));
  out.set(args, HEADER_BYTES);
  writeU32(out, 0, out.length);
  return out;
}

/**
 * Wraps `client` so that its first CONNECT_OPEN call opens `name`.
 *
 * @param client the client's channel
 * @param name the open name to send upstream
 */
export function renameOpen(client: Channel, name: string): Channel {
  const ready: Uint8Array[] = [];
  let partial: Uint8Array = new Uint8Array(0);
  let done = false;
  const chunk = new Uint8Array(16384);

  /** Moves complete frames from `partial` to `ready`, renaming the open. */
  function split(): void {
    while (!done && partial.length >= 4) {
      const length = readU32(partial, 0);
      if (length < HEADER_BYTES || length > MAX_SCANNED_FRAME_BYTES) {
        done = true;
        break;
      }
      if (partial.length < length) return;
      let frame: Uint8Array = partial.slice(0, length);
      if (isOpenCall(frame)) {
        try {
          frame = renameOpenFrame(frame, name);
        } catch { /* malformed: forwarded as is, for the daemon to refuse */ }
        done = true;
      }
      ready.push(frame);
      partial = partial.subarray(length);
    }
    if (done && partial.length > 0) {
      ready.push(partial.slice());
      partial = new Uint8Array(0);
    }
  }

  return {
    async read(buffer: Uint8Array): Promise<number | null> {
      for (;;) {
        const next = ready[0];
        if (next !== undefined) {
          const n = Math.min(buffer.length, next.length);
          buffer.set(next.subarray(0, n));
          if (n === next.length) ready.shift();
          else ready[0] = next.subarray(n);
          return n;
        }
        if (done) return await client.read(buffer);
        const n = await client.read(chunk);
        if (n === null) {
          done = true;
          if (partial.length === 0) return null;
          ready.push(partial.slice());
          partial = new Uint8Array(0);
          continue;
        }
        const grown = new Uint8Array(partial.length + n);
        grown.set(partial);
        grown.set(chunk.subarray(0, n), partial.length);
        partial = grown;
        split();
      }
    },
    write: (data) => client.write(data),
    closeWrite: () => client.closeWrite(),
    close: () => client.close(),
    diagnostics: client.diagnostics?.bind(client),
  };
}
