/**
 * What libvirt's remote driver derives from a parsed URI to reach the daemon: the default port,
 * the local unix socket (`remoteGetUNIXSocket`, src/remote/remote_sockets.c), and for the ssh
 * transports the proxy choice, the remote command and the ssh argv (`virNetClientNewSSH`,
 * src/rpc/virnetclient.c) — quoted exactly as libvirt 9.0 quotes them.
 *
 * @module
 */

import { LIBVIRT_TCP_PORT, LIBVIRT_TLS_PORT, type LibvirtUri, SSH_PORT } from "./uri.ts";

/**
 * The port libvirt's client dials when the URI names none.
 *
 * @param uri a parsed URI with a tcp, tls or ssh-family transport
 * @returns 16514 for tls, 16509 for tcp, 22 for ssh, libssh and libssh2
 * @throws {TypeError} for the unix and ext transports, which have no port
 */
export function defaultPort(uri: LibvirtUri): number {
  switch (uri.transport) {
    case "tls":
      return LIBVIRT_TLS_PORT;
    case "tcp":
      return LIBVIRT_TCP_PORT;
    case "ssh":
    case "libssh":
    case "libssh2":
      return SSH_PORT;
    default:
      throw new TypeError(
        `Cannot choose a port for URI "${uri.text}": the ${uri.transport} transport has no port`,
      );
  }
}

/** Options for {@linkcode unixSocketPath} and the ssh helpers. */
export interface SocketPathOptions {
  /** Whether the connection is read-only (VIR_CONNECT_RO): the `-sock-ro` sockets. */
  readonly: boolean;
  /**
   * The effective user id; libvirt uses the session daemon only when it is not 0.
   *
   * @default {Deno.uid(), or non-root when that is not permitted}
   */
  uid?: number;
  /**
   * Reads an environment variable (`XDG_RUNTIME_DIR`, `XDG_CACHE_HOME`, `HOME`).
   *
   * @default {Deno.env.get, or nothing when that is not permitted}
   */
  env?: (name: string) => string | undefined;
  /**
   * Whether a socket exists, for `mode=auto` on the unix transport.
   *
   * @default {Deno.statSync succeeds}
   */
  exists?: (path: string) => boolean;
}

/**
 * The unix socket a URI connects to, as libvirt 9.0's `remoteGetUNIXSocket` chooses it.
 *
 * For the unix transport it is the local socket; for ssh, libssh and libssh2 it is the socket
 * netcat connects to on the remote host (computed locally, as libvirt does). `socket=` wins.
 * Otherwise, for a session URI (`/session`, or a `test+` scheme) of a non-root user, the socket is
 * in `$XDG_RUNTIME_DIR/libvirt` (else `$XDG_CACHE_HOME/libvirt`, else `$HOME/.cache/libvirt`) and
 * never `-ro`; else in `/var/run/libvirt`. `mode=direct` names the per-driver daemon
 * (`virtqemud-sock`), `legacy` libvirtd's (`libvirt-sock`); `auto` on the unix transport picks
 * direct if that socket exists, else legacy; on the ssh transports `auto` means legacy.
 *
 * @param uri a parsed URI with a unix or ssh-family transport
 * @param options read-only flag and, for tests, the environment
 * @returns the socket path
 * @throws {TypeError} for the tcp, tls and ext transports
 */
export function unixSocketPath(uri: LibvirtUri, options: SocketPathOptions): string {
  if (uri.options.socket !== undefined) return uri.options.socket;
  if (uri.transport === "tcp" || uri.transport === "tls" || uri.transport === "ext") {
    throw new TypeError(
      `Cannot choose a unix socket for URI "${uri.text}": the ${uri.transport} transport uses none`,
    );
  }
  const user = isSessionConnection(uri, options);
  const socketFor = (prefix: string): string => {
    if (user) return `${userRuntimeDirectory(options)}/${prefix}-sock`;
    return `/var/run/libvirt/${prefix}-${options.readonly ? "sock-ro" : "sock"}`;
  };
  const direct = socketFor(`virt${uri.driver}d`);
  const legacy = socketFor("libvirt");
  let mode = uri.options.mode ?? "auto";
  if (mode === "auto") {
    if (uri.transport === "unix") {
      const exists = options.exists ?? fileExists;
      // REMOTE_DRIVER_MODE_DEFAULT: Debian 12 builds with remote_default_mode=legacy.
      mode = exists(direct) ? "direct" : "legacy";
    } else {
      mode = "legacy";
    }
  }
  if (mode === "direct" && uri.transport !== "unix") {
    throw new TypeError(
      `Cannot choose a unix socket for URI "${uri.text}": ` +
        `mode "direct" cannot be used with the ${uri.transport} transport`,
    );
  }
  return mode === "direct" ? direct : legacy;
}

/**
 * The URI libvirt 9.0's client passes to virt-ssh-helper on the remote host: the open name.
 * (Later libvirt releases keep `mode=` and `socket=` in it; 9.0 does not.)
 *
 * @param uri a parsed URI
 * @returns the URI for `virt-ssh-helper [-r] URI`
 */
export function sshHelperUri(uri: LibvirtUri): string {
  return uri.openName;
}

/**
 * The proxy an ssh-family connection runs remotely, as doRemoteOpen and
 * virNetClientSSHHelperCommand choose it: `proxy=` if given (but `auto` with `netcat=` means
 * netcat); else netcat when `socket=` is given, native virt-ssh-helper for a non-root session URI,
 * auto (helper, falling back to netcat) otherwise.
 *
 * @param uri a parsed URI
 * @param options the user id, for the session check
 * @returns the effective proxy
 */
export function sshProxy(
  uri: LibvirtUri,
  options: Pick<SocketPathOptions, "uid"> = {},
): "auto" | "netcat" | "native" {
  let proxy = uri.options.proxy;
  if (proxy === undefined) {
    if (uri.options.socket !== undefined) proxy = "netcat";
    else if (isSessionConnection(uri, options)) proxy = "native";
    else proxy = "auto";
  }
  if (proxy === "auto" && uri.options.netcat !== undefined) proxy = "netcat";
  return proxy;
}

/**
 * The command libvirt 9.0's client asks ssh to run on the remote host
 * (virNetClientSSHHelperCommand in src/rpc/virnetclient.c), one argument:
 * `sh -c '…nc… -U <socket>'`, `sh -c 'virt-ssh-helper [-r ]'<uri>''`, or the `which
 * virt-ssh-helper` form that tries the helper and falls back to netcat.
 *
 * @param uri a parsed URI with an ssh-family transport
 * @param options read-only flag and, for tests, the environment
 * @returns the remote command
 */
export function sshRemoteCommand(uri: LibvirtUri, options: SocketPathOptions): string {
  const proxy = sshProxy(uri, options);
  const netcat = doubleEscapeShell(uri.options.netcat ?? "nc");
  const socket = unixSocketPath(uri, options);
  const nc = `if '${netcat}' -q 2>&1 | grep "requires an argument" >/dev/null 2>&1; then ` +
    `ARG=-q0;else ARG=;fi;'${netcat}' $ARG -U ${socket}`;
  const helper = `virt-ssh-helper${options.readonly ? " -r " : " "}'${
    doubleEscapeShell(sshHelperUri(uri))
  }'`;
  switch (proxy) {
    case "auto":
      return `sh -c 'which virt-ssh-helper 1>/dev/null 2>&1; if test $? = 0; then ` +
        `    ${helper}; else    ${nc}; fi'`;
    case "netcat":
      return `sh -c '${nc}'`;
    case "native":
      return `sh -c '${helper}'`;
  }
}

/**
 * The argv libvirt 9.0's ssh transport runs (virNetSocketNewConnectSSH in
 * src/rpc/virnetsocket.c): `ssh [-p port] [-l user] [-i keyfile] -T -e none
 * [-o BatchMode=yes] [-o StrictHostKeyChecking=no] -- host '<remote command>'`, where `command=`
 * replaces `ssh` and the host defaults to `localhost`. libvirt also sets `TERM=xterm`.
 *
 * @param uri a parsed URI with the ssh transport
 * @param options read-only flag and, for tests, the environment
 * @returns the program and its arguments
 */
export function sshArgv(uri: LibvirtUri, options: SocketPathOptions): string[] {
  const argv = [uri.options.command ?? "ssh"];
  if (uri.port !== undefined) argv.push("-p", String(uri.port));
  if (uri.user !== undefined) argv.push("-l", uri.user);
  if (uri.options.keyfile !== undefined) argv.push("-i", uri.options.keyfile);
  argv.push("-T", "-e", "none");
  if (uri.options.noTty) argv.push("-o", "BatchMode=yes");
  if (uri.options.noVerify) argv.push("-o", "StrictHostKeyChecking=no");
  argv.push("--", uri.host ?? "localhost", sshRemoteCommand(uri, options));
  return argv;
}

/**
 * Quotes a string for /bin/sh as libvirt's virBufferEscapeShell does: unchanged when it has no
 * shell metacharacters, `''` when empty, else single-quoted with `'` written as `'\''`.
 *
 * @param text the string
 * @returns the quoted string
 */
export function escapeShell(text: string): string {
  if (text === "") return "''";
  if (!/[\r\t\n !"#$&'()*;<>?[\\\]^`{|}~]/.test(text)) return text;
  return `'${text.replaceAll("'", "'\\''")}'`;
}

// ---------------------------------------------------------------------------------------------
// Internals

/** libvirt: REMOTE_DRIVER_OPEN_USER (remoteGetURIDaemonInfo). */
function isSessionConnection(uri: LibvirtUri, options: Pick<SocketPathOptions, "uid">): boolean {
  // The scheme is the start of the text, so its "test+" prefix is the text's.
  if (uri.path !== "/session" && !uri.text.startsWith("test+")) return false;
  return (options.uid ?? currentUid()) !== 0;
}

/** virGetUserRuntimeDirectory: g_get_user_runtime_dir() + "/libvirt". */
function userRuntimeDirectory(options: SocketPathOptions): string {
  const env = options.env ?? readEnv;
  const runtime = env("XDG_RUNTIME_DIR");
  if (runtime) return `${runtime}/libvirt`;
  const cache = env("XDG_CACHE_HOME");
  if (cache) return `${cache}/libvirt`;
  return `${env("HOME") ?? ""}/.cache/libvirt`;
}

function currentUid(): number | null {
  try {
    return Deno.uid();
  } catch {
    return null;
  }
}

function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Whether anything exists at `path` (following links), as libvirt's virFileExists. */
export function fileExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** virNetClientDoubleEscapeShell: the ssh server runs our command with sh, which runs sh again. */
function doubleEscapeShell(text: string): string {
  return escapeShell(escapeShell(text));
}
