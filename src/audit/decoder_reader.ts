/**
 * A bounds-checked XDR reader over one frame for the audit decoder. It never throws: a read past
 * the end, or a length above its declared maximum, records the first {@linkcode DecodeError} and
 * sets {@linkcode XdrReader.failed}; every later read returns a placeholder, and the compiled
 * decoders (src/audit/decoder_compile.ts) stop at the next check and return what they have.
 *
 * Values are JSON-safe: a hyper is a number when it is a safe integer (|v| < 2^53) and its exact
 * decimal string otherwise; an opaque is `{ length, base64 }`; a UUID its canonical text.
 *
 * @module
 */

/** Where and why decoding stopped. */
export interface DecodeError {
  /** Byte offset in the frame (the length word is at 0) where the bad value starts. */
  offset: number;
  /** What the decoder expected there. */
  expected: string;
  /** The field path to the bad value, such as `args.dom.name`. */
  path: string;
}

const UTF8 = new TextDecoder();
const TWO_32 = 4294967296;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Reads XDR values from one frame; see the module doc. */
export class XdrReader {
  /** The frame. */
  readonly bytes: Uint8Array;
  /** A view of {@linkcode XdrReader.bytes}. */
  readonly view: DataView;
  /** The next byte to read. */
  pos: number;
  /** One past the last byte of the body. */
  end: number;
  /** True once a read failed; {@linkcode XdrReader.error} says why. */
  failed = false;
  /** The first failure. */
  error: DecodeError | undefined;

  /**
   * @param bytes The frame.
   * @param pos Where the body starts.
   * @param end Where the body ends.
   */
  constructor(bytes: Uint8Array, pos: number, end: number) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = pos;
    this.end = end;
  }

  /** Records a failure at `offset` (the current position by default) and stops reading. */
  fail(expected: string, offset = this.pos): void {
    if (this.failed) return;
    this.failed = true;
    this.error = { offset, expected, path: "" };
    this.pos = this.end;
  }

  /** Prepends a field name to the failure's path while the decoders unwind. */
  under(name: string): void {
    const error = this.error!;
    error.path = error.path === "" ? name : `${name}.${error.path}`;
  }

  #need(bytes: number, what: string): boolean {
    if (this.end - this.pos >= bytes) return true;
    this.fail(`${what}: ${bytes} bytes, ${Math.max(0, this.end - this.pos)} left`);
    return false;
  }

  /** A signed 32-bit int (also XDR `char`, `short` and the enums). */
  i32(): number {
    if (!this.#need(4, "int")) return 0;
    const value = this.view.getInt32(this.pos);
    this.pos += 4;
    return value;
  }

  /** An unsigned 32-bit int. */
  u32(): number {
    if (!this.#need(4, "unsigned int")) return 0;
    const value = this.view.getUint32(this.pos);
    this.pos += 4;
    return value;
  }

  /** A signed 64-bit int: a number when safe, else its decimal string. */
  hyper(): number | string {
    if (!this.#need(8, "hyper")) return 0;
    const high = this.view.getInt32(this.pos);
    const low = this.view.getUint32(this.pos + 4);
    this.pos += 8;
    const value = high * TWO_32 + low;
    if (Number.isSafeInteger(value)) return value;
    return ((BigInt(high) << 32n) + BigInt(low)).toString();
  }

  /** An unsigned 64-bit int: a number when safe, else its decimal string. */
  uhyper(): number | string {
    if (!this.#need(8, "unsigned hyper")) return 0;
    const high = this.view.getUint32(this.pos);
    const low = this.view.getUint32(this.pos + 4);
    this.pos += 8;
    const value = high * TWO_32 + low;
    if (Number.isSafeInteger(value)) return value;
    return ((BigInt(high) << 32n) + BigInt(low)).toString();
  }

  /** An XDR bool: any non-zero word is true, as glibc's xdr_bool reads it. */
  bool(): boolean {
    return this.u32() !== 0;
  }

  /** A 32-bit float; NaN and infinities as strings (JSON has no such numbers). */
  float(): number | string {
    if (!this.#need(4, "float")) return 0;
    const value = this.view.getFloat32(this.pos);
    this.pos += 4;
    return Number.isFinite(value) ? value + 0 : String(value); // + 0 turns -0 into 0
  }

  /** A 64-bit double; NaN and infinities as strings. */
  double(): number | string {
    if (!this.#need(8, "double")) return 0;
    const value = this.view.getFloat64(this.pos);
    this.pos += 8;
    return Number.isFinite(value) ? value + 0 : String(value); // + 0 turns -0 into 0
  }

  /** A length word at most `max`, with that many bytes (padded to 4) left; -1 on failure. */
  #length(max: number, unit: number, what: string): number {
    if (!this.#need(4, `${what} length`)) return -1;
    const length = this.view.getUint32(this.pos);
    if (length > max) {
      this.fail(`${what} of at most ${max}, found length ${length}`);
      return -1;
    }
    const bytes = unit === 1 ? (length + 3) & ~3 : length * unit;
    if (this.end - this.pos - 4 < bytes) {
      this.fail(`${what} of length ${length}: ${bytes} bytes, ${this.end - this.pos - 4} left`);
      return -1;
    }
    this.pos += 4;
    return length;
  }

  /** A `string<max>` as UTF-8 text (invalid sequences become U+FFFD). */
  string(max: number): string {
    const length = this.#length(max, 1, "string");
    if (length < 0) return "";
    const start = this.pos;
    this.pos += (length + 3) & ~3;
    if (length <= 32) {
      const bytes = this.bytes;
      let text = "";
      for (let i = start; i < start + length; i++) {
        const byte = bytes[i];
        if (byte >= 0x80) return UTF8.decode(bytes.subarray(start, start + length));
        text += String.fromCharCode(byte);
      }
      return text;
    }
    return UTF8.decode(this.bytes.subarray(start, start + length));
  }

  /** An `opaque<max>` as `{ length, base64 }`. */
  opaque(max: number): { length: number; base64: string } {
    const length = this.#length(max, 1, "opaque");
    if (length < 0) return { length: 0, base64: "" };
    const start = this.pos;
    this.pos += (length + 3) & ~3;
    return { length, base64: this.bytes.subarray(start, start + length).toBase64() };
  }

  /** An `opaque[n]` as `{ length, base64 }`. */
  fixedOpaque(length: number): { length: number; base64: string } {
    if (!this.#need((length + 3) & ~3, `opaque[${length}]`)) return { length: 0, base64: "" };
    const start = this.pos;
    this.pos += (length + 3) & ~3;
    return { length, base64: this.bytes.subarray(start, start + length).toBase64() };
  }

  /** An `opaque[VIR_UUID_BUFLEN]` as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
  uuid(): string {
    if (!this.#need(16, "uuid")) return "";
    const b = this.bytes;
    const p = this.pos;
    this.pos += 16;
    return HEX[b[p]] + HEX[b[p + 1]] + HEX[b[p + 2]] + HEX[b[p + 3]] + "-" + HEX[b[p + 4]] +
      HEX[b[p + 5]] + "-" + HEX[b[p + 6]] + HEX[b[p + 7]] + "-" + HEX[b[p + 8]] + HEX[b[p + 9]] +
      "-" + HEX[b[p + 10]] + HEX[b[p + 11]] + HEX[b[p + 12]] + HEX[b[p + 13]] + HEX[b[p + 14]] +
      HEX[b[p + 15]];
  }

  /**
   * A `char` array holding a C string (`char x<max>`, or `char x[n]` when `fixed` is n, else -1):
   * libvirt sends one 4-byte int per character, NUL included; the text stops at the first NUL
   * (each int's low byte, read as Latin-1).
   */
  chars(fixed: number, max: number): string {
    const count = fixed >= 0 ? fixed : this.#length(max, 4, "char array");
    if (count < 0 || (fixed >= 0 && !this.#need(fixed * 4, `char[${fixed}]`))) return "";
    let text = "";
    let ended = false;
    for (let i = 0; i < count; i++) {
      const code = this.view.getInt32(this.pos) & 0xff;
      this.pos += 4;
      if (code === 0) ended = true;
      if (!ended) text += String.fromCharCode(code);
    }
    return text;
  }

  /** A `char data<max>` of bytes (SASL payloads), one 4-byte int each, as `{ length, base64 }`. */
  charBytes(max: number): { length: number; base64: string } {
    const count = this.#length(max, 4, "char array");
    if (count < 0) return { length: 0, base64: "" };
    const bytes = new Uint8Array(count);
    for (let i = 0; i < count; i++) {
      bytes[i] = this.view.getInt32(this.pos) & 0xff;
      this.pos += 4;
    }
    return { length: count, base64: bytes.toBase64() };
  }

  /** An array count at most `max` whose elements (at least `minBytes` each) fit; -1 on failure. */
  count(max: number, minBytes: number): number {
    return this.#length(max, minBytes, "array");
  }
}
