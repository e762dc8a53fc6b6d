/**
 * libvirt connection URIs, parsed the way libvirt 9.0's client does it.
 *
 * The grammar is libxml2's RFC 3986 parser (`xmlParseURI`, libxml2 2.9.14 as in Debian 12) as
 * wrapped by libvirt's `virURIParse` and `virURIParseParams` (src/util/viruri.c); the meaning of the
 * query parameters, the transport, the open name and the socket paths follow `doRemoteOpen`
 * (src/remote/remote_driver.c) and `remoteSplitURIScheme` / `remoteGetUNIXSocket`
 * (src/remote/remote_sockets.c). The expected values in tests/uri/uri_test.ts were taken from
 * libvirt 9.0.0's own debug log (`LIBVIRT_LOG_FILTERS="1:remote"`: "proceeding with name",
 * "Chosen UNIX socket", and the ssh command line).
 *
 * @example Parse a remote URI
 * ```ts
 * import { parseUri } from "./uri.ts";
 * const uri = parseUri("qemu+tls://hv1/system?x=1");
 * console.log(uri.host, uri.transport, uri.openName); // hv1 tls qemu:///system?x=1
 * ```
 *
 * @module
 */

/** How the client reaches the daemon: the part of the scheme after `+`. */
export type Transport = "unix" | "tcp" | "tls" | "ssh" | "ext" | "libssh" | "libssh2";

/** The query parameters libvirt's client consumes itself, typed; absent = not given. */
export interface UriOptions {
  /** `name=`: the name sent in CONNECT_OPEN, replacing the one the URI implies. */
  name?: string;
  /** `command=`: the ssh binary (ssh transport) or the program to run (ext transport). */
  command?: string;
  /** `socket=`: the unix socket path (local for unix, remote for the ssh transports). */
  socket?: string;
  /** `auth=`: the authentication type to request from the daemon, e.g. `sasl.gssapi`. */
  auth?: string;
  /** `sshauth=`: comma-separated ssh authentication methods (libssh, libssh2). */
  sshauth?: string;
  /** `netcat=`: the netcat command on the remote host; `nc` when absent. */
  netcat?: string;
  /** `keyfile=`: the ssh private key. */
  keyfile?: string;
  /** `pkipath=`: the directory holding cacert.pem, clientcert.pem and clientkey.pem. */
  pkipath?: string;
  /** `known_hosts=`: the known_hosts file (libssh, libssh2). */
  knownHosts?: string;
  /** `known_hosts_verify=`: `normal`, `auto` or `ignore` (libssh, libssh2). */
  knownHostsVerify?: string;
  /** `tls_priority=`: a GnuTLS priority string. */
  tlsPriority?: string;
  /** `authfile=`: the auth.conf file libvirt's client reads credentials from. */
  authfile?: string;
  /** `mode=`: per-driver daemons (`direct`), libvirtd (`legacy`) or probe (`auto`). */
  mode?: "auto" | "legacy" | "direct";
  /** `proxy=`: what the ssh transports run remotely: virt-ssh-helper (`native`), `netcat`, or `auto`. */
  proxy?: "auto" | "netcat" | "native";
  /** `no_sanity=N` with N ≠ 0: skip the sanity checks of the local TLS certificates. */
  noSanity: boolean;
  /** `no_verify=N` with N ≠ 0: do not verify the server's certificate or ssh host key. */
  noVerify: boolean;
  /** `no_tty=N` with N ≠ 0: ssh must not ask for a password (`-o BatchMode=yes`). */
  noTty: boolean;
}

/** A parsed libvirt connection URI. */
export interface LibvirtUri {
  /** The URI as given. */
  readonly text: string;
  /** The driver: the scheme before `+`, e.g. `qemu`, `test`, `remote` (case as given). */
  readonly driver: string;
  /** The explicit transport, else `tls` when a host is given, else `unix`. */
  readonly transport: Transport;
  /** The user name before `@`, percent-decoded. */
  readonly user?: string;
  /** The host, percent-decoded, without brackets: `::1` for `[::1]`. */
  readonly host?: string;
  /** The port, only when given and not 0 (libvirt treats port 0 as "use the default"). */
  readonly port?: number;
  /** The path, percent-decoded: `/system`, `/default`, or `""` when absent. */
  readonly path: string;
  /** Every query parameter, percent-decoded, in order; a name without `=` has the value `""`. */
  readonly params: ReadonlyArray<readonly [string, string]>;
  /** The parameters libvirt's client consumes. */
  readonly options: UriOptions;
  /** The name the client sends in CONNECT_OPEN. */
  readonly openName: string;
}

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

/** The TLS port libvirt's client uses when the URI gives none (LIBVIRTD_TLS_PORT). */
export const LIBVIRT_TLS_PORT = 16514;
/** The TCP port libvirt's client uses when the URI gives none (LIBVIRTD_TCP_PORT). */
export const LIBVIRT_TCP_PORT = 16509;
/** The ssh port (ssh picks it itself: libvirt passes `-p` only when the URI has a port). */
export const SSH_PORT = 22;

const TRANSPORTS: readonly Transport[] = ["tls", "unix", "ssh", "libssh2", "ext", "tcp", "libssh"];
const MODES = ["auto", "legacy", "direct"] as const;
const PROXIES = ["auto", "netcat", "native"] as const;

/**
 * Parses a libvirt URI as libvirt 9.0's client does.
 *
 * @param text the URI, e.g. `qemu+ssh://root@hv1/system?keyfile=/k`
 * @returns the parsed URI
 * @throws {UriError} when libvirt would refuse the URI
 *
 * @example
 * ```ts
 * import { parseUri } from "./uri.ts";
 * import assert from "node:assert/strict";
 * const uri = parseUri("qemu+tcp://[::1]:16510/system");
 * assert.equal(uri.host, "::1");
 * assert.equal(uri.port, 16510);
 * ```
 */
export function parseUri(text: string): LibvirtUri {
  const raw = new TextEncoder().encode(text);
  const parsed = new RawUriParser(text, raw).parse();
  const fail = (reason: string): never => {
    throw new UriError(text, reason);
  };

  // virURIParse: no port without a server; strip the brackets of an IPv6 literal.
  let host = parsed.server === undefined ? undefined : decodeText(parsed.server);
  if (host !== undefined && host.startsWith("[") && host.endsWith("]") && host.includes(":")) {
    host = host.slice(1, -1);
  }
  const port = host === undefined || parsed.port === 0 ? undefined : parsed.port;
  if (port !== undefined && port > 65535) fail(`port "${port}" is out of range`);

  // remoteSplitURIScheme: driver before the first '+', transport after it, lowercased.
  const plus = parsed.scheme.indexOf("+");
  const driver = plus < 0 ? parsed.scheme : parsed.scheme.slice(0, plus);
  let transport: Transport;
  if (plus < 0) {
    transport = host !== undefined ? "tls" : "unix";
  } else {
    const name = parsed.scheme.slice(plus + 1).toLowerCase();
    if (!(TRANSPORTS as readonly string[]).includes(name)) {
      fail(`transport "${parsed.scheme.slice(plus + 1)}" is not supported`);
    }
    transport = name as Transport;
    if (transport === "unix" && host !== undefined) {
      fail(`the unix transport cannot be used with remote host "${host}"`);
    }
  }

  // virURIParseParams, then doRemoteOpen's EXTRACT_URI_ARG_* loop: the params libvirt 9.0's
  // client consumes (matched case-insensitively; `authfile` is read by src/util/virauth.c) are
  // taken out of the open name, every other one passes through.
  const rawParams = parseParams(parsed.query);
  const params = rawParams.map(([name, value]) => [decodeText(name), decodeText(value)] as const);
  const options: UriOptions = { noSanity: false, noVerify: false, noTty: false };
  const passThrough: Array<readonly [Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < params.length; i++) {
    const [name, value] = params[i];
    switch (name.toLowerCase()) {
      case "name":
        options.name = value;
        break;
      case "command":
        options.command = value;
        break;
      case "socket":
        options.socket = value;
        break;
      case "auth":
        options.auth = value;
        break;
      case "sshauth":
        options.sshauth = value;
        break;
      case "netcat":
        options.netcat = value;
        break;
      case "keyfile":
        options.keyfile = value;
        break;
      case "pkipath":
        options.pkipath = value;
        break;
      case "known_hosts":
        options.knownHosts = value;
        break;
      case "known_hosts_verify":
        options.knownHostsVerify = value;
        break;
      case "tls_priority":
        options.tlsPriority = value;
        break;
      case "authfile":
        options.authfile = value;
        break;
      case "mode":
        if (!(MODES as readonly string[]).includes(value)) {
          fail(`mode "${value}" is not one of "auto", "legacy", "direct"`);
        }
        options.mode = value as UriOptions["mode"];
        break;
      case "proxy":
        if (!(PROXIES as readonly string[]).includes(value)) {
          fail(`proxy "${value}" is not one of "auto", "netcat", "native"`);
        }
        options.proxy = value as UriOptions["proxy"];
        break;
      case "no_sanity":
        options.noSanity = parseFlag(value) ?? fail(flagReason(name, value));
        break;
      case "no_verify":
        options.noVerify = parseFlag(value) ?? fail(flagReason(name, value));
        break;
      case "no_tty":
        options.noTty = parseFlag(value) ?? fail(flagReason(name, value));
        break;
      default:
        passThrough.push(rawParams[i]);
    }
  }

  // The checks doRemoteOpen, remoteGetUNIXSocket and virNetClientSSHHelperCommand make before
  // connecting, whatever the environment.
  if (transport === "ext" && options.command === undefined) {
    fail(`the ext transport needs a "command" parameter`);
  }
  const sshFamily = transport === "ssh" || transport === "libssh" || transport === "libssh2";
  if (sshFamily && options.mode === "direct" && options.socket === undefined) {
    fail(`mode "direct" cannot be used with the ${transport} transport`);
  }
  if (sshFamily && options.proxy === "native" && options.netcat !== undefined) {
    fail(`the "netcat" parameter cannot be used with proxy "native"`);
  }

  let openName: string;
  if (options.name !== undefined) {
    openName = options.name;
  } else if (parsed.scheme === "remote" || parsed.scheme.startsWith("remote+")) {
    openName = ""; // "Allow remote serve to probe"
  } else {
    openName = formatOpenName(driver, parsed.path, passThrough, parsed.fragment);
  }

  const uri: LibvirtUri = {
    text,
    driver,
    transport,
    ...(parsed.user !== undefined ? { user: decodeText(parsed.user) } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(port !== undefined ? { port } : {}),
    path: parsed.path === undefined ? "" : decodeText(parsed.path),
    params,
    options,
    openName,
  };
  return uri;
}

/** virStrToLong_i then `tmp == 0`: returns whether the flag is set, or undefined when invalid. */
function parseFlag(value: string): boolean | undefined {
  const match = /^[ \t\n\v\f\r]*([+-]?\d+)$/.exec(value);
  if (match === null) return undefined;
  const number = Number(match[1]);
  if (number < -2147483648 || number > 2147483647) return undefined;
  return number !== 0;
}

function flagReason(name: string, value: string): string {
  return `value "${value}" of parameter "${name}" is not an integer`;
}

/** The pieces of a URI as libxml2 leaves them: raw bytes, percent-encoded where noted. */
interface RawUri {
  scheme: string;
  /** Percent-decoded. */
  user?: Uint8Array;
  /** Percent-decoded, brackets kept. */
  server?: Uint8Array;
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

/** A recursive-descent port of libxml2 2.9.14's xmlParse3986URI (absolute URIs only). */
class RawUriParser {
  #text: string;
  #bytes: Uint8Array;
  #at = 0;

  constructor(text: string, bytes: Uint8Array) {
    this.#text = text;
    this.#bytes = bytes;
  }

  parse(): RawUri {
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
    const uri: RawUri = { scheme: this.#text.slice(0, at), port: 0 };
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
  #authority(uri: RawUri): void {
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
function parseParams(query: Uint8Array | undefined): Array<readonly [Uint8Array, Uint8Array]> {
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

function cString(bytes: Uint8Array): Uint8Array {
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul);
}

function decodeText(bytes: Uint8Array): string {
  return new TextDecoder().decode(cString(bytes));
}

/**
 * The default open name, as libvirt 9.0 builds it with virURIFormat (xmlSaveUri) from a URI with
 * only the driver as scheme, the path, the pass-through params and the fragment:
 * `driver://` + path + `?` params + `#` fragment.
 */
function formatOpenName(
  driver: string,
  path: Uint8Array | undefined,
  params: ReadonlyArray<readonly [Uint8Array, Uint8Array]>,
  fragment: Uint8Array | undefined,
): string {
  // virURIFormat sets port -1 when there is no server, so xmlSaveUri always writes "//".
  let name = `${driver}://`;
  if (path !== undefined) name += escapeBytes(path, isPathSafe);
  // virURIFormatParams: the name as decoded, "=", the value through g_uri_escape (no reserved
  // characters allowed, uppercase hex). An empty result means no query at all.
  const query = params.map(([key, value]) =>
    new TextDecoder().decode(key) + "=" + escapeBytes(value, isUnreserved)
  ).join("&");
  if (query !== "") name += `?${query}`;
  if (fragment !== undefined) name += `#${escapeBytes(fragment, isFragmentSafe)}`;
  return name;
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
