/**
 * Where each key of a TOML document sits, so that config errors can say `FILE:LINE:COL`.
 * smol-toml reports positions only for syntax errors, so this is a small scanner of its own. It
 * assumes a document that has already parsed: it never fails, it only records.
 *
 * Paths are the ones the parsed value has: `["upstream", 1, "uri"]` is the `uri` key of the second
 * `[[upstream]]` table. Recorded are table headers (at their `[`), every segment of every key (at
 * the segment), keys inside inline tables, and array items (at the item).
 *
 * @example Find a key
 * ```ts
 * import assert from "node:assert/strict";
 * import { scanKeyPositions } from "./locate.ts";
 *
 * const positions = scanKeyPositions('[[upstream]]\nname = "a"\n\n[[upstream]]\n  uri = "x"\n');
 * assert.deepEqual(positions.get(["upstream", 1, "uri"]), { line: 5, column: 3 });
 * assert.deepEqual(positions.get(["upstream", 1]), { line: 4, column: 1 });
 * ```
 *
 * @module
 */

/** A path into a parsed TOML value: table keys and array indexes. */
export type KeyPath = readonly (string | number)[];

/** A 1-based line and column, counted in UTF-16 code units as smol-toml does. */
export interface SourcePosition {
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
}

/** The positions of the keys, headers and array items of one TOML document. */
export class KeyPositions {
  readonly #positions = new Map<string, SourcePosition>();

  /** Records `position` for `path` unless it has one already: the first definition wins. */
  record(path: KeyPath, position: SourcePosition): void {
    const key = JSON.stringify(path);
    if (!this.#positions.has(key)) this.#positions.set(key, position);
  }

  /** The position recorded for exactly `path`, if any. */
  get(path: KeyPath): SourcePosition | undefined {
    return this.#positions.get(JSON.stringify(path));
  }

  /** The position of `path` or of its longest recorded prefix; line 1, column 1 for none. */
  nearest(path: KeyPath): SourcePosition {
    for (let length = path.length; length > 0; length--) {
      const position = this.get(path.slice(0, length));
      if (position !== undefined) return position;
    }
    return { line: 1, column: 1 };
  }
}

/**
 * Scans a TOML document that smol-toml has parsed and records where its keys are.
 *
 * @param source The TOML text.
 * @returns The positions found.
 */
export function scanKeyPositions(source: string): KeyPositions {
  const scanner = new Scanner(source);
  scanner.scanDocument();
  return scanner.positions;
}

/** A key segment and the offset it starts at. */
interface Segment {
  name: string;
  offset: number;
}

const BARE_KEY_CHAR = /[A-Za-z0-9_-]/;
/** Characters that end an unquoted value (number, boolean, date) inside or after a value. */
const SCALAR_END = new Set([",", "]", "}", "#", "\n", "\r"]);
const ESCAPES: Record<string, string> = {
  b: "\b",
  t: "\t",
  n: "\n",
  f: "\f",
  r: "\r",
  e: "\x1b",
  '"': '"',
  "\\": "\\",
};

/** A cursor over the source; every loop makes progress, so malformed text cannot hang it. */
class Scanner {
  readonly positions: KeyPositions = new KeyPositions();
  readonly #text: string;
  readonly #lineStarts: number[] = [0];
  #offset = 0;
  /** Resolved paths (JSON) of arrays of tables, with how many entries each has so far. */
  readonly #arrayTableCounts = new Map<string, number>();

  constructor(text: string) {
    this.#text = text;
    for (let i = 0; i < text.length; i++) {
      if (text[i] === "\n") this.#lineStarts.push(i + 1);
    }
  }

  scanDocument(): void {
    let table: (string | number)[] = [];
    while (true) {
      this.#skipBlank(true);
      if (this.#offset >= this.#text.length) return;
      const start = this.#offset;
      if (this.#peek() === "[") {
        table = this.#header();
      } else {
        this.#keyValue(table);
      }
      this.#skipBlank(false);
      if (this.#offset === start) this.#offset++;
    }
  }

  /** `[a.b]` or `[[a.b]]`; returns the resolved path of the table it opens. */
  #header(): (string | number)[] {
    const at = this.#offset;
    const isArray = this.#text[at + 1] === "[";
    this.#offset += isArray ? 2 : 1;
    const segments = this.#keySegments();
    this.#skipInline();
    this.#offset += isArray && this.#text.startsWith("]]", this.#offset) ? 2 : 1;
    const path: (string | number)[] = [];
    for (const [index, segment] of segments.entries()) {
      path.push(segment.name);
      const key = JSON.stringify(path);
      const isLast = index === segments.length - 1;
      if (isLast && isArray) {
        const count = this.#arrayTableCounts.get(key) ?? 0;
        this.#arrayTableCounts.set(key, count + 1);
        this.positions.record(path, this.#position(at));
        path.push(count);
      } else if (!isLast) {
        this.positions.record(path, this.#position(segment.offset));
        const count = this.#arrayTableCounts.get(key);
        if (count !== undefined) path.push(count - 1);
      }
    }
    this.positions.record(path, this.#position(at));
    return path;
  }

  /** `a.b = value`, at statement level or inside an inline table. */
  #keyValue(table: readonly (string | number)[]): void {
    const segments = this.#keySegments();
    if (segments.length === 0) return;
    const path = [...table];
    for (const segment of segments) {
      path.push(segment.name);
      this.positions.record(path, this.#position(segment.offset));
    }
    this.#skipInline();
    if (this.#peek() !== "=") return;
    this.#offset++;
    this.#skipInline();
    this.#value(path);
  }

  /** A dotted key: bare, "basic" or 'literal' segments. */
  #keySegments(): Segment[] {
    const segments: Segment[] = [];
    while (true) {
      this.#skipInline();
      const offset = this.#offset;
      const char = this.#peek();
      let name: string;
      if (char === '"' || char === "'") {
        name = this.#string();
      } else {
        while (this.#offset < this.#text.length && BARE_KEY_CHAR.test(this.#text[this.#offset])) {
          this.#offset++;
        }
        if (this.#offset === offset) return segments;
        name = this.#text.slice(offset, this.#offset);
      }
      segments.push({ name, offset });
      this.#skipInline();
      if (this.#peek() !== ".") return segments;
      this.#offset++;
    }
  }

  /** Any value; records the keys of inline tables and the items of arrays below `path`. */
  #value(path: readonly (string | number)[]): void {
    const char = this.#peek();
    if (char === '"' || char === "'") {
      this.#string();
    } else if (char === "[") {
      this.#array(path);
    } else if (char === "{") {
      this.#inlineTable(path);
    } else {
      while (this.#offset < this.#text.length && !SCALAR_END.has(this.#text[this.#offset])) {
        this.#offset++;
      }
    }
  }

  #array(path: readonly (string | number)[]): void {
    this.#offset++;
    for (let index = 0;; index++) {
      this.#skipBlank(true);
      if (this.#offset >= this.#text.length) return;
      if (this.#peek() === "]") {
        this.#offset++;
        return;
      }
      const start = this.#offset;
      const item = [...path, index];
      this.positions.record(item, this.#position(start));
      this.#value(item);
      this.#skipBlank(true);
      if (this.#peek() === ",") this.#offset++;
      if (this.#offset === start) this.#offset++;
    }
  }

  #inlineTable(path: readonly (string | number)[]): void {
    this.#offset++;
    while (true) {
      this.#skipBlank(true);
      if (this.#offset >= this.#text.length) return;
      if (this.#peek() === "}") {
        this.#offset++;
        return;
      }
      const start = this.#offset;
      this.#keyValue(path);
      this.#skipBlank(true);
      if (this.#peek() === ",") this.#offset++;
      if (this.#offset === start) this.#offset++;
    }
  }

  /** Any of the four string forms; returns the value (escapes decoded) for use as a key. */
  #string(): string {
    const quote = this.#peek();
    const basic = quote === '"';
    const multiline = this.#text.startsWith(quote.repeat(3), this.#offset);
    this.#offset += multiline ? 3 : 1;
    let value = "";
    while (this.#offset < this.#text.length) {
      const char = this.#text[this.#offset];
      if (char === quote) {
        if (!multiline) {
          this.#offset++;
          return value;
        }
        if (this.#text.startsWith(quote.repeat(3), this.#offset)) {
          this.#offset += 3;
          // Up to two more quotes belong to the content: `"""a"""""` is `a""`.
          for (let extra = 0; extra < 2 && this.#peek() === quote; extra++) {
            value += quote;
            this.#offset++;
          }
          return value;
        }
      }
      if (basic && char === "\\") {
        value += this.#escape();
        continue;
      }
      if (!multiline && char === "\n") return value;
      value += char;
      this.#offset++;
    }
    return value;
  }

  /** A backslash escape in a basic string, with the cursor on the backslash. */
  #escape(): string {
    const code = this.#text[this.#offset + 1] ?? "";
    this.#offset += 2;
    if (code in ESCAPES) return ESCAPES[code];
    const hexLength = code === "u" ? 4 : code === "U" ? 8 : code === "x" ? 2 : 0;
    if (hexLength > 0) {
      const hex = this.#text.slice(this.#offset, this.#offset + hexLength);
      this.#offset += hexLength;
      const point = Number.parseInt(hex, 16);
      return Number.isNaN(point) || point > 0x10ffff ? "" : String.fromCodePoint(point);
    }
    // A line-ending backslash in a multiline string: the newline and following blanks vanish.
    this.#offset--;
    while (/[ \t\r\n]/.test(this.#peek())) this.#offset++;
    return "";
  }

  /** Skips spaces and tabs, and also comments and line breaks when `lines` is true. */
  #skipBlank(lines: boolean): void {
    while (this.#offset < this.#text.length) {
      const char = this.#text[this.#offset];
      if (char === " " || char === "\t" || char === "\r" || (lines && char === "\n")) {
        this.#offset++;
      } else if (char === "#") {
        const end = this.#text.indexOf("\n", this.#offset);
        this.#offset = end < 0 ? this.#text.length : end;
      } else {
        return;
      }
    }
  }

  /** Skips spaces and tabs only. */
  #skipInline(): void {
    while (this.#peek() === " " || this.#peek() === "\t") this.#offset++;
  }

  #peek(): string {
    return this.#text[this.#offset] ?? "";
  }

  #position(offset: number): SourcePosition {
    let low = 0;
    let high = this.#lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.#lineStarts[middle] <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - this.#lineStarts[low] + 1 };
  }
}
