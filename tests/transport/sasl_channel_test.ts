import assert from "node:assert/strict";
import type { Channel } from "../../src/transport/channel.ts";
import { SaslChannel, type SecurityLayer } from "../../src/transport/sasl_channel.ts";

/** A layer that frames like SASL (4-byte length + body) and XORs the body, buffering partial packets. */
function xorLayer(maxOutput: number): SecurityLayer & { encoded: number[] } {
  let pending = new Uint8Array(0);
  const encoded: number[] = [];
  return {
    encoded,
    encode(data) {
      encoded.push(data.length);
      const out = new Uint8Array(4 + data.length);
      new DataView(out.buffer).setUint32(0, data.length);
      data.forEach((byte, i) => out[4 + i] = byte ^ 0x5a);
      return out;
    },
    decode(data) {
      const all = new Uint8Array(pending.length + data.length);
      all.set(pending);
      all.set(data, pending.length);
      const parts: number[] = [];
      let at = 0;
      while (all.length - at >= 4) {
        const length = new DataView(all.buffer).getUint32(at);
        if (all.length - at - 4 < length) break;
        for (const byte of all.subarray(at + 4, at + 4 + length)) parts.push(byte ^ 0x5a);
        at += 4 + length;
      }
      pending = all.slice(at);
      return new Uint8Array(parts);
    },
    maxOutputBytes: () => maxOutput,
    dispose() {},
  };
}

/** A channel that returns `wire` in reads of at most `step` bytes and records writes. */
function scriptedChannel(wire: Uint8Array, step: number): Channel & { written: Uint8Array[] } {
  let at = 0;
  const written: Uint8Array[] = [];
  return {
    written,
    read(buffer) {
      if (at >= wire.length) return Promise.resolve(null);
      const count = Math.min(step, buffer.length, wire.length - at);
      buffer.set(wire.subarray(at, at + count));
      at += count;
      return Promise.resolve(count);
    },
    write(data) {
      written.push(data.slice());
      return Promise.resolve(data.length);
    },
    closeWrite: () => Promise.resolve(),
    close() {},
  };
}

Deno.test("writes are encoded in packets of at most the layer's output size", async () => {
  const layer = xorLayer(1000);
  const inner = scriptedChannel(new Uint8Array(0), 1);
  const channel = new SaslChannel(inner, layer);
  const data = new Uint8Array(2500).map((_, i) => i & 0xff);
  let sent = 0;
  while (sent < data.length) sent += await channel.write(data.subarray(sent));
  assert.deepEqual(layer.encoded, [1000, 1000, 500]);
  const back = new SaslChannel(scriptedChannel(concat(inner.written), 7), xorLayer(1000));
  assert.deepEqual(await readAll(back, 3), data);
});

Deno.test("reads decode packets split at every offset and deliver them in small reads", async () => {
  const layer = xorLayer(64);
  const packets = concat([
    layer.encode(new Uint8Array([1, 2, 3])),
    layer.encode(new Uint8Array(100).fill(9)),
  ]);
  for (let step = 1; step <= packets.length; step++) {
    const channel = new SaslChannel(scriptedChannel(packets, step), xorLayer(64));
    const got = await readAll(channel, 5);
    assert.deepEqual(
      got,
      concat([new Uint8Array([1, 2, 3]), new Uint8Array(100).fill(9)]),
      `step ${step}`,
    );
  }
});

async function readAll(channel: Channel, size: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(size);
  let count;
  while ((count = await channel.read(buffer)) !== null) chunks.push(buffer.slice(0, count));
  return concat(chunks);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
