import assert from "node:assert/strict";
import { renameOpen, renameOpenFrame } from "../../src/cli/open_name_channel.ts";
import type { Channel } from "../../src/transport/channel.ts";
import { MessageType, Program, RemoteProc } from "../../src/wire/constants.ts";
import { decodeOpenArgs, encodeOpenArgs } from "../../src/wire/open_args.ts";
import { concat, frame } from "../_helpers/frames.ts";

const authList = frame({ procedure: RemoteProc.AUTH_LIST, serial: 0 });
const open = frame({
  procedure: RemoteProc.CONNECT_OPEN,
  serial: 2,
  body: encodeOpenArgs({ name: "hv2", flags: 1 }),
});
const list = frame({ procedure: RemoteProc.AUTH_LIST, serial: 3 });

/** A channel that yields `bytes` in reads of at most `step` bytes. */
function source(bytes: Uint8Array, step: number): Channel {
  let at = 0;
  return {
    read(buffer) {
      if (at >= bytes.length) return Promise.resolve(null);
      const n = Math.min(step, buffer.length, bytes.length - at);
      buffer.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
    write: (data) => Promise.resolve(data.length),
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

async function drain(channel: Channel, readSize: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buffer = new Uint8Array(readSize);
  for (;;) {
    const n = await channel.read(buffer);
    if (n === null) return concat(...parts);
    parts.push(buffer.slice(0, n));
  }
}

Deno.test("renameOpenFrame keeps header and flags, replaces the name, fixes the length", () => {
  const renamed = renameOpenFrame(open, "qemu:///system");
  assert.deepEqual(decodeOpenArgs(renamed), { name: "qemu:///system", flags: 1 });
  assert.equal(new DataView(renamed.buffer).getUint32(0), renamed.length);
  assert.deepEqual(renamed.subarray(4, 28), open.subarray(4, 28));
});

Deno.test("renameOpen renames the first CONNECT_OPEN whatever the read sizes", async (t) => {
  const input = concat(authList, open, list, open);
  const expected = concat(authList, renameOpenFrame(open, "qemu:///system"), list, open);
  for (const step of [1, 3, 28, 29, 1000]) {
    for (const readSize of [1, 7, 65536]) {
      await t.step(`chunks of ${step}, reads of ${readSize}`, async () => {
        const out = await drain(renameOpen(source(input, step), "qemu:///system"), readSize);
        assert.deepEqual(out, expected);
      });
    }
  }
});

Deno.test("renameOpen passes anything that is not a small frame through untouched", async () => {
  const huge = frame({ type: MessageType.CALL, program: Program.REMOTE, length: 1 << 20 });
  const input = concat(huge, open);
  assert.deepEqual(await drain(renameOpen(source(input, 5), "x"), 64), input);
  const truncated = open.subarray(0, 30);
  assert.deepEqual(await drain(renameOpen(source(truncated, 5), "x"), 64), truncated);
});
