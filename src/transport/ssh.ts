/**
 * The ssh transport: runs the `ssh` command line libvirt 9.0 builds, with the remote command
 * libvirt builds, and carries frames over its stdin/stdout (a {@linkcode ChildChannel}).
 *
 * {@linkcode planSsh} is pure: it takes the argv, the remote command, the remote socket and the
 * default proxy from src/uri/remote.ts (`sshArgv`, `sshRemoteCommand`, `unixSocketPath`,
 * `sshProxy`, which follow libvirt's virNetSocketNewConnectSSH, virNetClientSSHHelperCommand,
 * remoteGetUNIXSocket and doRemoteOpen) and adds what the libssh mapping below needs.
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

import type { Logger } from "../log/logger.ts";
import { sshArgv, sshProxy, sshRemoteCommand, unixSocketPath } from "../uri/remote.ts";
import type { LibvirtUri } from "../uri/uri.ts";
import { DialError } from "./channel.ts";
import { type ChildChannel, spawnChannel } from "./child_channel.ts";
import { describeCause, type DialOptions } from "./dial.ts";

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

/** Options for {@linkcode dialSsh}: {@linkcode DialOptions} plus the knobs tests use. */
export interface DialSshOptions extends DialOptions {
  /** Passed to {@linkcode planSsh}. */
  uid?: number;
}

/**
 * Starts ssh for `uri` and returns its channel. Authentication happens while the first frames
 * travel: a failure shows as end of stream, and the channel's `diagnostics()` then holds ssh's
 * stderr ("Permission denied (publickey)") for the error the client sees.
 *
 * @throws {DialError} when the parameters are invalid or the command cannot be started.
 */
export function dialSsh(uri: LibvirtUri, options: DialSshOptions): Promise<ChildChannel> {
  const what = `Cannot connect to upstream "${options.name}" (${uri.text})`;
  try {
    const plan = planSsh(uri, { readonly: options.readonly ?? false, uid: options.uid });
    return Promise.resolve(startCommand(what, plan.argv, options.name, options.logger));
  } catch (error) {
    if (error instanceof DialError) return Promise.reject(error);
    return Promise.reject(new DialError(`${what}: ${describeCause(error)}`, { cause: error }));
  }
}

/** Spawns `argv` as the upstream's channel; shared with the ext transport. */
export function startCommand(
  what: string,
  argv: string[],
  name: string,
  logger: Logger | undefined,
): ChildChannel {
  logger?.debug("Starting upstream command", { upstream: name, argv: argv.join(" ") });
  try {
    return spawnChannel(argv, { name, logger });
  } catch (error) {
    throw new DialError(`${what}: cannot run "${argv[0]}": ${describeCause(error)}`, {
      cause: error,
    });
  }
}
