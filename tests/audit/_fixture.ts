/**
 * The frame capture format of tests/audit/fixtures/*.frames, written by
 * tests/audit/capture_frames.ts: the magic line `virtmux-frames 1\n`, then one record per frame:
 * `u8 direction` (0 client → daemon, 1 daemon → client), `u16 connection` (big-endian, counted
 * from 1 per capture), then the frame itself (its own length word tells its size).
 *
 * @module
 */

/** One recorded frame. */
export interface CapturedFrame {
  /** `up`: client → daemon; `down`: daemon → client. */
  direction: "up" | "down";
  /** Which client connection carried it. */
  connection: number;
  /** The whole frame, length word included. */
  frame: Uint8Array;
}

const MAGIC = new TextEncoder().encode("virtmux-frames 1\n");

/** Serialises frames in the capture format. */
export function encodeCapture(frames: readonly CapturedFrame[]): Uint8Array {
  const size = frames.reduce((sum, item) => sum + 3 + item.frame.length, MAGIC.length);
  const out = new Uint8Array(size);
  out.set(MAGIC);
  let pos = MAGIC.length;
  for (const item of frames) {
    out[pos] = item.direction === "up" ? 0 : 1;
    out[pos + 1] = item.connection >> 8;
    out[pos + 2] = item.connection & 0xff;
    out.set(item.frame, pos + 3);
    pos += 3 + item.frame.length;
  }
  return out;
}

/**
 * Reads a capture.
 *
 * @throws {Error} When the magic line or a record is wrong.
 */
export function decodeCapture(bytes: Uint8Array, name = "<capture>"): CapturedFrame[] {
  if (!MAGIC.every((byte, i) => bytes[i] === byte)) {
    throw new Error(`Cannot read "${name}": not a virtmux-frames 1 file`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: CapturedFrame[] = [];
  let pos = MAGIC.length;
  while (pos < bytes.length) {
    if (bytes.length - pos < 7) throw new Error(`Cannot read "${name}": torn record at ${pos}`);
    const length = view.getUint32(pos + 3);
    if (length < 4 || pos + 3 + length > bytes.length) {
      throw new Error(`Cannot read "${name}": frame length ${length} at ${pos} runs past the end`);
    }
    frames.push({
      direction: bytes[pos] === 0 ? "up" : "down",
      connection: view.getUint16(pos + 1),
      frame: bytes.subarray(pos + 3, pos + 3 + length),
    });
    pos += 3 + length;
  }
  return frames;
}

/** The committed capture of a real libvirtd (see tests/audit/capture_frames.ts). */
export const LIBVIRTD_CAPTURE = new URL("./fixtures/libvirtd.frames", import.meta.url);

/** Reads the committed capture of a real libvirtd. */
export async function readLibvirtdCapture(): Promise<CapturedFrame[]> {
  return decodeCapture(await Deno.readFile(LIBVIRTD_CAPTURE), LIBVIRTD_CAPTURE.pathname);
}
