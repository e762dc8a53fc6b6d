/**
 * The ssh command line libvirt 9.0 builds for a URI, planned in one place: the proxy choice
 * (doRemoteOpen), the remote command (virNetClientSSHHelperCommand in src/rpc/virnetclient.c),
 * the argv (virNetSocketNewConnectSSH in src/rpc/virnetsocket.c), all quoted exactly as libvirt
 * quotes them, and the mapping of libssh and libssh2 URIs onto the `ssh` command.
 * {@linkcode planSsh} puts them together; it is pure apart from reading the environment. The
 * remote socket comes from src/uri/remote.ts (`unixSocketPath`, remoteGetUNIXSocket).
 *
 * ## libssh and libssh2 URIs
 *
 * libvirt's `+libssh` and `+libssh2` transports are ssh clients inside libvirt. virtmux serves them
 * through the same `ssh` command, with the same remote command, mapping their parameters:
 *
 * - the user defaults to `root` and the port to 22, as in libvirt (`-l root`, `-p 22`);
 * - `keyfile=` → `-i FILE`;
 * - `known_hosts=` → `-o UserKnownHostsFile=FILE`; without it, libvirt's own file
 *   `$XDG_CONFIG_HOME/libvirt/known_hosts` (default `~/.config/libvirt/known_hosts`), not
 *   `~/.ssh/known_hosts`;
 * - `known_hosts_verify=normal|auto|ignore` → `-o StrictHostKeyChecking=yes|accept-new|no`
 *   (ignore also sets `UserKnownHostsFile=/dev/null`);
 * - `sshauth=` (libvirt: agent, privkey, password, keyboard-interactive) →
 *   `-o PreferredAuthentications=` (agent and privkey both mean publickey);
 * - `-o BatchMode=yes` always: libvirt asks for passwords through the client's auth callback,
 *   which a proxy cannot offer, and a proxy has no terminal to prompt on.
 *
 * Differences that remain: OpenSSH reads ~/.ssh/config (libssh reads it too, libssh2 does not),
 * and host keys libssh would add interactively are refused instead.
 *
 * For `+ssh` URIs, `known_hosts=` and `known_hosts_verify=` (which libvirt 9.0 ignores there) are
 * applied the same way when given; without them the argv is exactly libvirt's.
 *
 * @module
 */

import { isSessionConnection, type SocketPathOptions, unixSocketPath } from "../uri/remote.ts";
import type { LibvirtUri } from "../uri/uri.ts";

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

/** libvirt's virGetUserConfigDirectory: $XDG_CONFIG_HOME/libvirt, else ~/.config/libvirt. */
function configDirectory(env: (name: string) => string | undefined): string {
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return `${xdg}/libvirt`;
  return `${env("HOME") ?? ""}/.config/libvirt`;
}

const AUTH_METHODS: Record<string, string> = {
  agent: "publickey",
  privkey: "publickey",
  password: "password",
  "keyboard-interactive": "keyboard-interactive",
};

/** The `-o` options for `known_hosts=` and `known_hosts_verify=` (see the module doc). */
function knownHostsOptions(uri: LibvirtUri, configDir: () => string): string[] {
  const opts = uri.options;
  const libssh = uri.transport === "libssh" || uri.transport === "libssh2";
  const verify = opts.knownHostsVerify?.toLowerCase() ?? (libssh ? "normal" : undefined);
  const extra: string[] = [];
  switch (verify) {
    case undefined:
      break;
    case "normal":
      extra.push("StrictHostKeyChecking=yes");
      break;
    case "auto":
      extra.push("StrictHostKeyChecking=accept-new");
      break;
    case "ignore":
      return ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"];
    default:
      throw new TypeError(`Invalid host key verification method: "${opts.knownHostsVerify}"`);
  }
  const file = opts.knownHosts ?? (libssh ? `${configDir()}/known_hosts` : undefined);
  if (file !== undefined) extra.push(`UserKnownHostsFile=${file}`);
  return extra;
}

/** `sshauth=` as `PreferredAuthentications=` (agent and privkey are both publickey). */
function authOptions(sshauth: string): string {
  const methods: string[] = [];
  for (const name of sshauth.split(",")) {
    const method = AUTH_METHODS[name.trim().toLowerCase()];
    if (method === undefined) throw new TypeError(`Invalid authentication method: "${name}"`);
    if (!methods.includes(method)) methods.push(method);
  }
  return `PreferredAuthentications=${methods.join(",")}`;
}

/** Options for {@linkcode planSsh}. */
export interface PlanSshOptions {
  /** The client opens read-only: virt-ssh-helper `-r`, netcat to the `-ro` socket. */
  readonly: boolean;
  /** Effective uid; a non-zero one with a /session or test+ URI means a per-user daemon. */
  uid?: number;
  /** Reads an environment variable (runtime and config directories); defaults to Deno.env. */
  env?: (name: string) => string | undefined;
}

/** What {@linkcode planSsh} decided. */
export interface SshPlan {
  /** The command line to run. */
  argv: string[];
  /** The proxy chosen, after libvirt's defaults. */
  proxy: "auto" | "netcat" | "native";
  /** The daemon socket the netcat form connects to on the remote host. */
  socketPath: string;
}

/**
 * Works out the whole ssh command line for `uri` (an ssh, libssh or libssh2 URI) as libvirt's
 * doRemoteOpen would: remote socket, default proxy, remote command, argv. Pure apart from reading
 * the environment (through `options.env`).
 *
 * @throws {TypeError} for parameter combinations libvirt refuses (`mode=direct`,
 * `proxy=native` with `netcat=`, unknown `known_hosts_verify` or `sshauth` values).
 */
export function planSsh(uri: LibvirtUri, options: PlanSshOptions): SshPlan {
  const opts = uri.options;
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const pathOptions = { readonly: options.readonly, uid: options.uid, env };
  const proxy = sshProxy(uri, pathOptions);
  if (opts.proxy === "native" && opts.netcat !== undefined) {
    throw new TypeError("netcat path not valid with native proxy mode");
  }
  const socketPath = unixSocketPath(uri, pathOptions);
  const libssh = uri.transport === "libssh" || uri.transport === "libssh2";
  const extra = knownHostsOptions(uri, () => configDirectory(env));
  if (!libssh) {
    const argv = sshArgv(uri, pathOptions);
    if (extra.length > 0) {
      const end = argv.lastIndexOf("--");
      argv.splice(end, 0, ...extra.flatMap((option) => ["-o", option]));
    }
    return { argv, proxy, socketPath };
  }
  if (opts.sshauth !== undefined) extra.push(authOptions(opts.sshauth));
  const argv = ["ssh", "-p", String(uri.port ?? 22), "-l", uri.user ?? "root"];
  if (opts.keyfile !== undefined) argv.push("-i", opts.keyfile);
  argv.push("-T", "-e", "none", "-o", "BatchMode=yes");
  for (const option of extra) argv.push("-o", option);
  argv.push("--", uri.host || "localhost", sshRemoteCommand(uri, pathOptions));
  return { argv, proxy, socketPath };
}

/** virNetClientDoubleEscapeShell: the ssh server runs our command with sh, which runs sh again. */
function doubleEscapeShell(text: string): string {
  return escapeShell(escapeShell(text));
}
