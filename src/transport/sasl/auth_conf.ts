/**
 * SASL credentials found as libvirt's own client finds them: the auth.conf file
 * (docs/auth.rst, src/util/virauth.c, src/util/virauthconfig.c), a GKeyFile-style ini file with
 * `[credentials-NAME]` groups (authname, username, password, realm) and
 * `[auth-libvirt-HOST]` / `[auth-libvirt-default]` groups whose `credentials=NAME` picks one.
 *
 * @module
 */

import { homedir } from "node:os";
import { join } from "node:path";
import { errorMessage } from "../../log/error_message.ts";
import type { LibvirtUri } from "../../uri/uri.ts";

/** The system-wide auth.conf libvirt's client falls back to (SYSCONFDIR/libvirt/auth.conf). */
export const SYSTEM_AUTH_FILE = "/etc/libvirt/auth.conf";

/** The credential names a SASL exchange asks for (remoteAuthFillFromConfig). */
export type CredentialName = "authname" | "username" | "password" | "realm";

/** Where the lookup went: the file chosen (or none) and every place it tried, in order. */
export interface AuthFileChoice {
  /** The auth.conf to read, or null when none exists. */
  path: string | null;
  /** What was tried, in order, each with why it was passed over ("not readable", "unset"). */
  tried: string[];
}

/** Options for {@linkcode findAuthFile}: the process environment, for tests. */
export interface FindAuthFileOptions {
  /**
   * Reads an environment variable.
   *
   * @default {Deno.env.get}
   */
  env?: (name: string) => string | undefined;
  /**
   * Whether a file exists and is readable.
   *
   * @default {a stat of the path}
   */
  readable?: (path: string) => boolean;
}

/**
 * Picks the auth.conf libvirt 9.0's client would read for `uri` (virAuthGetConfigFilePathURI):
 * `$LIBVIRT_AUTH_FILE`, else the URI's `authfile=` (both used as given, readable or not), else
 * `$XDG_CONFIG_HOME/libvirt/auth.conf` (`~/.config` when unset), else `/etc/libvirt/auth.conf`,
 * each of the last two only when readable. libvirt's docs list `authfile=` first; its code,
 * followed here, lets the environment win.
 */
export function findAuthFile(uri: LibvirtUri, options: FindAuthFileOptions = {}): AuthFileChoice {
  const env = options.env ?? ((name: string) => Deno.env.get(name));
  const readable = options.readable ?? isReadable;
  const tried: string[] = [];
  const fromEnv = env("LIBVIRT_AUTH_FILE");
  if (fromEnv) return { path: fromEnv, tried: [`"${fromEnv}" (LIBVIRT_AUTH_FILE)`] };
  tried.push("LIBVIRT_AUTH_FILE (unset)");
  if (uri.options.authfile) {
    return {
      path: uri.options.authfile,
      tried: [...tried, `"${uri.options.authfile}" (authfile=)`],
    };
  }
  tried.push("authfile= (not in the URI)");
  const configHome = env("XDG_CONFIG_HOME") || join(env("HOME") || homedir(), ".config");
  for (const path of [join(configHome, "libvirt", "auth.conf"), SYSTEM_AUTH_FILE]) {
    if (readable(path)) return { path, tried: [...tried, `"${path}"`] };
    tried.push(`"${path}" (not readable)`);
  }
  return { path: null, tried };
}

function isReadable(path: string): boolean {
  try {
    Deno.openSync(path, { read: true }).close();
    return true;
  } catch {
    return false;
  }
}

/** A parsed auth.conf: groups of keys, as GLib's GKeyFile reads them. */
export class AuthConfig {
  /** The file it was read from, for messages. */
  readonly path: string;
  #groups: Map<string, Map<string, string>>;

  /** Wraps parsed `groups`; use {@linkcode parseAuthConfig} or {@linkcode readAuthConfig}. */
  constructor(path: string, groups: Map<string, Map<string, string>>) {
    this.path = path;
    this.#groups = groups;
  }

  /**
   * The value of `credname` for `service` on `hostname` (virAuthConfigLookup): the group
   * `auth-SERVICE-HOSTNAME`, else `auth-SERVICE-default`, names a `credentials-NAME` group
   * holding the key. Undefined when no auth group applies or the key is absent.
   *
   * @throws {SyntaxError} when the auth group has no `credentials` or names a missing group
   */
  lookup(service: string, hostname: string, credname: CredentialName): string | undefined {
    let authGroup = `auth-${service}-${hostname}`;
    if (!this.#groups.has(authGroup)) authGroup = `auth-${service}-default`;
    const auth = this.#groups.get(authGroup);
    if (!auth) return undefined;
    const name = auth.get("credentials");
    if (name === undefined) {
      throw new SyntaxError(`Missing item 'credentials' in group '${authGroup}' in '${this.path}'`);
    }
    const credentials = this.#groups.get(`credentials-${name}`);
    if (!credentials) {
      throw new SyntaxError(
        `Missing group 'credentials-${name}' referenced from group '${authGroup}' in '${this.path}'`,
      );
    }
    return credentials.get(credname);
  }
}

/**
 * Parses auth.conf `text` as GKeyFile does: `[group]` lines, `key=value` lines (spaces around
 * `=` dropped; `\s`, `\n`, `\t`, `\r`, `\\` escapes in values), `#` comments and blank lines;
 * a repeated group merges, a repeated key's last value wins.
 *
 * @throws {SyntaxError} naming `path` and the line for anything else
 */
export function parseAuthConfig(path: string, text: string): AuthConfig {
  const groups = new Map<string, Map<string, string>>();
  let current: Map<string, string> | undefined;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "").replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("[")) {
      const end = line.indexOf("]");
      if (end < 0 || line.slice(end + 1).trim() !== "") {
        throw new SyntaxError(`Cannot parse "${path}" line ${i + 1}: invalid group "${line}"`);
      }
      const name = line.slice(1, end);
      current = groups.get(name) ?? new Map();
      groups.set(name, current);
      continue;
    }
    const equals = line.indexOf("=");
    if (equals <= 0) {
      throw new SyntaxError(`Cannot parse "${path}" line ${i + 1}: expected key=value or [group]`);
    }
    if (!current) {
      throw new SyntaxError(`Cannot parse "${path}" line ${i + 1}: key outside any [group]`);
    }
    current.set(line.slice(0, equals).trimEnd(), unescape(line.slice(equals + 1).trimStart()));
  }
  return new AuthConfig(path, groups);
}

/**
 * Reads and parses the auth.conf at `path`.
 *
 * @throws {Error} naming the path when it cannot be read, {SyntaxError} when it cannot be parsed
 */
export async function readAuthConfig(path: string): Promise<AuthConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read auth.conf "${path}": ${errorMessage(error)}`, {
      cause: error,
    });
  }
  return parseAuthConfig(path, text);
}

const ESCAPES: Record<string, string> = { s: " ", n: "\n", t: "\t", r: "\r", "\\": "\\" };

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (whole, char: string) => ESCAPES[char] ?? whole);
}
