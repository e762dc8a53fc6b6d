/**
 * The generic part of a libvirt URI: RFC 3986 syntax as libxml2 2.9.14 parses it
 * (`xmlParse3986URI`, the parser libvirt's `virURIParse` wraps, src/util/viruri.c), query
 * parameters as `virURIParseParams` splits them, and the escaping `virURIFormat` (xmlSaveUri)
 * and `virURIFormatParams` (g_uri_escape) apply. Nothing here knows what a libvirt URI means;
 * that is uri.ts.
 *
 * @example Split a URI
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeText, parseGenericUri } from "./generic_uri.ts";
 *
 * const uri = parseGenericUri("qemu+ssh://root@hv1:2222/system?keyfile=/k");
 * assert.equal(uri.scheme, "qemu+ssh");
 * assert.equal(decodeText(uri.server!), "hv1");
 * assert.equal(uri.port, 2222);
 * ```
 *
 * @module
 */

/** A URI libvirt's client would refuse; the message names the URI and says why. */
export class UriError extends SyntaxError {
  /** The URI text that failed. */
  readonly uri: string;

  /**
   * @param uri the URI text
   * @param reason why it was refused, appended after a colon
   */
  constructor(uri: string, reason: string) {
    super(`Cannot parse URI "${uri}": ${reason}`);
    this.name = "UriError";
    this.uri = uri;
  }
}

/** The pieces of a URI as libxml2 leaves them: raw bytes, percent-encoded where noted. */
export interface GenericUri {
  /** The scheme as written, e.g. `qemu+ssh`. */
  scheme: string;
  /** Percent-decoded. */
  user?: Uint8Array;
  /** Percent-decoded, brackets kept. */
  server?: Uint8Array;
  /** The port; 0 when absent. */
  port: number;
  /** Percent-decoded. */
  path?: Uint8Array;
  /** Raw (query_raw). */
  query?: Uint8Array;
  /** Percent-decoded. */
  fragment?: Uint8Array;
}

const Char = {
  Percent: 0x25,
  Slash: 0x2f,
  Colon: 0x3a,
  Question: 0x3f,
  At: 0x40,
  Hash: 0x23,
  LeftBracket: 0x5b,
  RightBracket: 0x5d,
} as const;

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** libxml2 ISA_UNRESERVED: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return isAlpha(c) || isDigit(c) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

/** libxml2 ISA_SUB_DELIM: "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "=". */
function isSubDelim(c: number): boolean {
  return c === 0x21 || c === 0x24 || (c >= 0x26 && c <= 0x2c) || c === 0x3b || c === 0x3d;
}

/**
 * Parses `text` as libxml2 2.9.14's xmlParse3986URI does (absolute URIs only).
 *
 * @param text The URI.
 * @returns Its pieces.
 * @throws {UriError} When libxml2 would refuse it, naming the URI and the offending character.
 */
export function parseGenericUri(text: string): GenericUri {
  return new GenericUriParser(text, new TextEncoder().encode(text)).parse();
}

/** A recursive-descent port of libxml2 2.9.14's xmlParse3986URI (absolute URIs only). */
class GenericUriParser {
  #text: string;
  #bytes: Uint8Array;
  #at = 0;

  constructor(text: string, bytes: Uint8Array) {
    this.#text = text;
    this.#bytes = bytes;
  }

  parse(): GenericUri {
    const bytes = this.#bytes;
    if (bytes.length === 0) this.#fail("it is empty");
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"
    if (!isAlpha(bytes[0])) this.#fail("it does not start with a driver name");
    let at = 1;
    while (
      at < bytes.length &&
      (isAlpha(bytes[at]) || isDigit(bytes[at]) || bytes[at] === 0x2b || bytes[at] === 0x2d ||
        bytes[at] === 0x2e)
    ) at++;
    if (bytes[at] !== Char.Colon) {
      this.#at = at;
      this.#fail(at === bytes.length ? 'it has no driver name before ":"' : this.#unexpected());
    }
    const uri: GenericUri = { scheme: this.#text.slice(0, at), port: 0 };
    this.#at = at + 1;

    if (this.#peek(0) === Char.Slash && this.#peek(1) === Char.Slash) {
      this.#at += 2;
      this.#authority(uri);
      uri.path = this.#segments(false);
    } else if (this.#peek(0) === Char.Slash) {
      uri.path = this.#segments(true);
    } else if (this.#isPchar()) {
      uri.path = this.#segments(true);
    }
    if (this.#peek(0) === Char.Question) {
      const start = ++this.#at;
      while (this.#isPchar() || this.#peek(0) === Char.Slash || this.#peek(0) === Char.Question) {
        this.#advance();
      }
      uri.query = bytes.subarray(start, this.#at);
    }
    if (this.#peek(0) === Char.Hash) {
      const start = ++this.#at;
      while (
        this.#isPchar() || this.#peek(0) === Char.Slash || this.#peek(0) === Char.Question ||
        this.#peek(0) === Char.LeftBracket || this.#peek(0) === Char.RightBracket
      ) this.#advance();
      uri.fragment = unescape(bytes.subarray(start, this.#at));
    }
    if (this.#at < bytes.length) this.#fail(this.#unexpected());
    return uri;
  }

  /** authority = [ userinfo "@" ] host [ ":" port ] */
  #authority(uri: GenericUri): void {
    const bytes = this.#bytes;
    const start = this.#at;
    while (
      this.#isUnreservedPctSubDelim() || this.#peek(0) === Char.Colon
    ) this.#advance();
    if (this.#peek(0) === Char.At) {
      if (this.#at === start) {
        // libxml2 would take the rest of the URI as the user name (xmlURIUnescapeString with
        // length 0 means "to the end"); refuse instead.
        this.#fail(`the user name before "@" is empty`);
      }
      uri.user = unescape(bytes.subarray(start, this.#at));
      this.#at++;
    } else {
      this.#at = start;
    }
    const host = this.#at;
    if (this.#peek(0) === Char.LeftBracket) {
      const close = bytes.indexOf(Char.RightBracket, host);
      if (close < 0) this.#fail(`the "[" of an IPv6 address is not closed`);
      this.#at = close + 1;
    } else {
      while (this.#isUnreservedPctSubDelim()) this.#advance();
    }
    if (this.#at > host) uri.server = unescape(bytes.subarray(host, this.#at));
    if (this.#peek(0) === Char.Colon) {
      const portStart = ++this.#at;
      while (isDigit(this.#peek(0))) this.#at++;
      if (this.#at === portStart) {
        const next = this.#peek(0);
        const empty = next < 0 || next === Char.Slash || next === Char.Question ||
          next === Char.Hash;
        this.#fail(empty ? "the port is empty" : this.#unexpected());
      }
      const digits = this.#text.slice(portStart, this.#at);
      const port = Number(digits);
      if (port > 2147483647) this.#fail(`port "${digits}" is out of range`);
      uri.port = port;
    }
  }

  /** path-abempty (after an authority) or path-absolute / path-rootless: percent-decoded. */
  #segments(allowFirst: boolean): Uint8Array | undefined {
    const start = this.#at;
    if (allowFirst && this.#peek(0) !== Char.Slash) {
      while (this.#isPchar()) this.#advance();
    }
    while (this.#peek(0) === Char.Slash) {
      this.#at++;
      while (this.#isPchar()) this.#advance();
    }
    return this.#at === start ? undefined : unescape(this.#bytes.subarray(start, this.#at));
  }

  #peek(offset: number): number {
    return this.#bytes[this.#at + offset] ?? -1;
  }

  /** Steps over one character, or a whole "%XX". */
  #advance(): void {
    this.#at += this.#peek(0) === Char.Percent ? 3 : 1;
  }

  #isPctEncoded(): boolean {
    return this.#peek(0) === Char.Percent && isHex(this.#peek(1)) && isHex(this.#peek(2));
  }

  #isUnreservedPctSubDelim(): boolean {
    const c = this.#peek(0);
    return isUnreserved(c) || isSubDelim(c) || this.#isPctEncoded();
  }

  /** pchar = unreserved / pct-encoded / sub-delims / ":" / "@" */
  #isPchar(): boolean {
    const c = this.#peek(0);
    return this.#isUnreservedPctSubDelim() || c === Char.Colon || c === Char.At;
  }

  #unexpected(): string {
    const c = this.#peek(0);
    if (c === Char.Percent) {
      const escape = new TextDecoder().decode(this.#bytes.subarray(this.#at, this.#at + 3));
      return `"${escape}" is not a valid percent-escape`;
    }
    const rest = new TextDecoder().decode(this.#bytes.subarray(this.#at));
    const char = String.fromCodePoint(rest.codePointAt(0) ?? 0);
    return `character "${char}" at offset ${this.#at} is not allowed there`;
  }

  #fail(reason: string): never {
    throw new UriError(this.#text, reason);
  }
}

/**
 * virURIParseParams: split at '&' (or at ';' once no '&' is left), skip empty sections and
 * "=value", treat "name" as "name=". Returns raw percent-decoded bytes, cut at a decoded NUL as
 * C strings are.
 */
export function parseParams(
  query: Uint8Array | undefined,
): Array<readonly [Uint8Array, Uint8Array]> {
  const result: Array<readonly [Uint8Array, Uint8Array]> = [];
  if (query === undefined) return result;
  let at = 0;
  while (at < query.length) {
    let end = query.indexOf(0x26, at);
    if (end < 0) end = query.indexOf(0x3b, at);
    if (end < 0) end = query.length;
    let eq = query.indexOf(0x3d, at);
    if (eq >= end) eq = -1;
    if (end === at || eq === at) {
      // empty section, or "=value": ignored, as CGI.pm does
    } else if (eq < 0) {
      result.push([cString(unescape(query.subarray(at, end))), new Uint8Array(0)]);
    } else {
      result.push([
        cString(unescape(query.subarray(at, eq))),
        cString(unescape(query.subarray(eq + 1, end))),
      ]);
    }
    at = end < query.length ? end + 1 : end;
  }
  return result;
}

/** xmlURIUnescapeString: "%XX" with two hex digits becomes a byte; '+' stays '+'. */
function unescape(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let length = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (
      bytes[i] === Char.Percent && i + 2 < bytes.length && isHex(bytes[i + 1]) &&
      isHex(bytes[i + 2])
    ) {
      out[length++] = parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2]), 16);
      i += 2;
    } else {
      out[length++] = bytes[i];
    }
  }
  return out.subarray(0, length);
}

/** `bytes` up to its first NUL, as C reads a string. */
function cString(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

/** Bytes as UTF-8 text, cut at the first NUL as a C string is. */
export function decodeText(bytes: Uint8Array): string {
  return new TextDecoder().decode(cString(bytes));
}

/** Escapes a path as xmlSaveUri does: unreserved characters and "/;@&=+$," stay. */
export function escapePath(bytes: Uint8Array): string {
  return escapeBytes(bytes, isPathSafe);
}

/** Escapes a fragment as xmlSaveUri does: unreserved and reserved characters stay. */
export function escapeFragment(bytes: Uint8Array): string {
  return escapeBytes(bytes, isFragmentSafe);
}

/** Escapes a query value as g_uri_escape_string with no reserved characters allowed. */
export function escapeQueryValue(bytes: Uint8Array): string {
  return escapeBytes(bytes, isUnreserved);
}

/** xmlSaveUri's path set: IS_UNRESERVED (alnum, "-_.!~*'()") and "/;@&=+$,". */
function isPathSafe(c: number): boolean {
  return isAlpha(c) || isDigit(c) || "-_.!~*'()/;@&=+$,".includes(String.fromCharCode(c));
}

/** xmlSaveUri's fragment set: IS_UNRESERVED and IS_RESERVED (";/?:@&=+$,[]"). */
function isFragmentSafe(c: number): boolean {
  return isAlpha(c) || isDigit(c) || "-_.!~*'();/?:@&=+$,[]".includes(String.fromCharCode(c));
}

function escapeBytes(bytes: Uint8Array, safe: (c: number) => boolean): string {
  let out = "";
  let run: number[] = [];
  const flush = () => {
    if (run.length > 0) out += new TextDecoder().decode(new Uint8Array(run));
    run = [];
  };
  for (const c of bytes) {
    if (c < 0x80 && safe(c)) {
      run.push(c);
    } else {
      flush();
      out += "%" + c.toString(16).toUpperCase().padStart(2, "0");
    }
  }
  flush();
  return out;
}
