/**
 * What libvirt's remote driver derives from a parsed URI to find the daemon: the default port and
 * the unix socket (`remoteGetUNIXSocket`, src/remote/remote_sockets.c), local for the unix
 * transport, remote for the ssh ones. The ssh command line itself is planned in
 * src/transport/ssh_command.ts.
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

// ---------------------------------------------------------------------------------------------
// Internals

/**
 * Whether `uri` reaches a per-user (session) daemon, as libvirt's REMOTE_DRIVER_OPEN_USER
 * (remoteGetURIDaemonInfo): a /session path or a `test+` scheme, for a user other than root.
 */
export function isSessionConnection(
  uri: LibvirtUri,
  options: Pick<SocketPathOptions, "uid">,
): boolean {
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
