/**
 * Property tests on the captured frames of a real libvirtd: truncated frames always decode to a
 * `decode_error`, and mutated frames (flipped bytes, huge length words, random tails) never make
 * the decoder throw and always give JSON-safe records whose error offset lies inside the frame.
 */

import assert from "node:assert/strict";
import { type DecodedMessage, decodeFrame } from "../../src/audit/decoder.ts";
import { readLibvirtdCapture } from "./_fixture.ts";
import { Random } from "./_random_value.ts";

const FRAMES = (await readLibvirtdCapture()).map((item) => item.frame);

/** A copy of `frame` cut to `length` bytes, with its length word saying so. */
function truncated(frame: Uint8Array, length: number): Uint8Array {
  const copy = frame.slice(0, length);
  if (length >= 4) new DataView(copy.buffer).setUint32(0, length);
  return copy;
}

function checkRecord(decoded: DecodedMessage, frame: Uint8Array, what: string): void {
  assert.deepEqual(JSON.parse(JSON.stringify(decoded)), decoded, what);
  if (decoded.decode_error) {
    assert.ok(
      decoded.decode_error.offset >= 0 && decoded.decode_error.offset <= frame.length,
      what,
    );
    assert.equal(typeof decoded.decode_error.expected, "string");
  }
}

Deno.test("every truncation of a captured frame's body is a decode_error, never a throw", () => {
  const random = new Random(7);
  let cases = 0;
  for (const frame of FRAMES) {
    const decoded = decodeFrame(frame);
    if (decoded.type === "STREAM" && decoded.status === "CONTINUE") continue; // any size is data
    if (frame.length === 28) continue;
    const cuts = frame.length <= 200
      ? Array.from({ length: frame.length - 1 }, (_, i) => i)
      : Array.from({ length: 40 }, () => random.below(frame.length));
    for (const cut of cuts) {
      const short = truncated(frame, cut);
      const result = decodeFrame(short);
      assert.ok(result.decode_error, `cut at ${cut} of ${JSON.stringify(decoded).slice(0, 200)}`);
      checkRecord(result, short, `cut at ${cut}`);
      cases++;
    }
  }
  assert.ok(cases > 5000, `${cases} cases`);
});

Deno.test("mutated frames never throw and give JSON-safe records", () => {
  const random = new Random(99);
  let cases = 0;
  let errors = 0;
  for (let round = 0; round < 20; round++) {
    for (const original of FRAMES) {
      const frame = original.slice();
      const view = new DataView(frame.buffer);
      switch (random.below(4)) {
        case 0: // flip a few body bytes
          for (let i = 0; i < 1 + random.below(4); i++) {
            frame[28 + random.below(Math.max(1, frame.length - 28))] ^= 1 << random.below(8);
          }
          break;
        case 1: // a huge or odd word where a length may be
          if (frame.length >= 32) {
            view.setUint32(
              28 + 4 * random.below((frame.length - 28) >> 2),
              random.pick([0xffffffff, 0x7fffffff, 4194305, 65537, 3, 0]),
            );
          }
          break;
        case 2: // random bytes after the header
          frame.set(random.bytes(frame.length - 28), 28);
          break;
        default: // a random header word
          view.setUint32(4 + 4 * random.below(6), random.below(2 ** 32));
      }
      const decoded = decodeFrame(frame);
      checkRecord(decoded, frame, `round ${round}`);
      if (decoded.decode_error) errors++;
      cases++;
    }
  }
  assert.ok(cases > 10000, `${cases} cases`);
  assert.ok(errors > cases / 4, `${errors} of ${cases} mutations detected`);
});
