/**
 * libvirt connection URIs, parsed the way libvirt 9.0's client does it.
 *
 * The grammar is libxml2's RFC 3986 parser (`xmlParseURI`, libxml2 2.9.14 as in Debian 12) as
 * wrapped by libvirt's `virURIParse` and `virURIParseParams` (src/util/viruri.c), in
 * generic_uri.ts; here is what libvirt makes of the pieces: the meaning of the query parameters, the transport, the open name and the socket paths follow `doRemoteOpen`
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

import {
  decodeText,
  escapeFragment,
  escapePath,
  escapeQueryValue,
  parseGenericUri,
  parseParams,
  UriError,
} from "./generic_uri.ts";

export { UriError };

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
  const parsed = parseGenericUri(text);
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
  if (path !== undefined) name += escapePath(path);
  // virURIFormatParams: the name as decoded, "=", the value through g_uri_escape (no reserved
  // characters allowed, uppercase hex). An empty result means no query at all.
  const query = params.map(([key, value]) =>
    new TextDecoder().decode(key) + "=" + escapeQueryValue(value)
  ).join("&");
  if (query !== "") name += `?${query}`;
  if (fragment !== undefined) name += `#${escapeFragment(fragment)}`;
  return name;
}
