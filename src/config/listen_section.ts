/**
 * `[[listen]]`: its keys, types, bounds and defaults, declared once, and its reader. The keys
 * naming upstreams are read by listen_upstreams.ts, those of a network front by
 * network_listener.ts.
 *
 * @module
 */

import { type AccountDatabase, accountId } from "../transport/accounts.ts";
import { PROGRAM_NAMES } from "../wire/constants.ts";
import { resolveProcedureName } from "../wire/procedure_names.ts";
import {
  type Checker,
  describe,
  quote,
  requiredString,
  type Section,
  string,
  stringArray,
} from "./_fields.ts";
import {
  booleanValue,
  defaultsOf,
  type Fields,
  integerIn,
  type Reader,
  readSection,
  secondsUpTo,
} from "./_section.ts";
import { MAX_CLIENTS, MAX_SECONDS, messageBytes } from "./limits_section.ts";
import {
  checkRouting,
  readAllowUpstreams,
  readUpstream,
  type UpstreamNames,
} from "./listen_upstreams.ts";
import type { KeyPath } from "./locate.ts";
import { checkFront, FRONT_KEYS, type FrontConfig, isFront } from "./network_listener.ts";
import { type CheckedUpstream, UPSTREAM_NAME } from "./upstream_section.ts";

/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/** One `[[listen]]`: a unix socket that local libvirt clients connect to. */
export interface ListenerConfig {
  /** Absolute path of the socket; virtmux creates its parent directory (mode 0755) if missing. */
  socket: string;
  /**
   * Permission bits of the socket, e.g. `0o660` (written `mode = "0660"`).
   *
   * @default {0o660}
   */
  mode: number;
  /** Group owning the socket, by name or numeric id. */
  group?: string;
  /**
   * Every upstream open through this socket asks for a read-only connection.
   *
   * @default {false}
   */
  readonly: boolean;
  /** Name of the default upstream (the only one, when the config defines exactly one). */
  upstream: string;
  /**
   * Let the name a client sends in CONNECT_OPEN pick another upstream from `allowUpstreams`: a
   * client opening the name "hv2" (e.g. `?name=hv2` in its URI) reaches upstream "hv2", opened
   * with that upstream's own open name. Shared upstreams only.
   *
   * @default {false}
   */
  routeByName: boolean;
  /**
   * Upstreams that `routeByName` may pick.
   *
   * @default {[]}
   */
  allowUpstreams: string[];
  /**
   * Procedure names refused from the header alone, as written (checked by the proxy's policy).
   *
   * @default {[]}
   */
  denyProcedures: string[];
  /**
   * When not empty, the only procedures allowed (besides those every client needs to connect:
   * CONNECT_OPEN, CONNECT_CLOSE, AUTH_*, CONNECT_SUPPORTS_FEATURE, the close callback).
   *
   * @default {[]}
   */
  allowProcedures: string[];
  /**
   * RPC programs clients may use: "remote", "qemu", "lxc", "admin" (keepalive always).
   *
   * @default {["remote", "qemu", "lxc"]}
   */
  programs: string[];
  /**
   * User ids allowed to connect (`allow_uids`, names resolved from /etc/passwd). With
   * `allowGids`, checked against each client's credentials; both empty: the socket's mode and
   * group alone decide who connects.
   *
   * @default {[]}
   */
  allowUids: number[];
  /**
   * Group ids allowed to connect, the client's primary or supplementary groups (`allow_gids`,
   * names resolved from /etc/group).
   *
   * @default {[]}
   */
  allowGids: number[];
  /** Largest frame on this socket, when stricter than `[limits]` (`max_message_bytes`). */
  maxMessageBytes?: number;
  /** Most clients at once on this socket, when stricter than `[limits]` (`max_clients`). */
  maxClients?: number;
  /** A network front (`tls = ...` / `tcp = ...`) instead of a socket; `socket` is then "". */
  front?: FrontConfig;
  /**
   * Shared upstreams: ping a client that asked for keepalive after this long without a byte
   * from it, in ms (`keepalive_interval`, seconds), as libvirtd pings its clients.
   *
   * @default {5000}
   */
  keepaliveIntervalMs: number;
  /**
   * Shared upstreams: unanswered pings before such a client is closed (`keepalive_count`); 0
   * sends no pings.
   *
   * @default {5}
   */
  keepaliveCount: number;
}

/** Defaults of the optional keys of `[[listen]]`. */
export type ListenerDefaults = Pick<
  ListenerConfig,
  | "mode"
  | "readonly"
  | "routeByName"
  | "allowUpstreams"
  | "denyProcedures"
  | "allowProcedures"
  | "programs"
  | "allowUids"
  | "allowGids"
  | "keepaliveIntervalMs"
  | "keepaliveCount"
>;

/** What reading one listener needs: the valid upstream names, the sockets taken so far. */
interface ListenContext extends UpstreamNames {
  sockets: Map<string, KeyPath>;
  /** Network fronts' addresses taken so far. */
  addresses: Map<string, KeyPath>;
}

/** `front` is not a key of its own: network_listener.ts reads the tls/tcp keys. */
const LISTEN_FIELDS: Fields<Omit<ListenerConfig, "front">, ListenContext> = {
  socket: { key: "socket", read: readSocket, placeholder: "" },
  mode: { key: "mode", read: readMode, default: 0o660 },
  group: {
    key: "group",
    read: (checker, section, key) => {
      const group = string(checker, section, key);
      if (group === "") checker.report([...section.path, key], `"group" must not be empty`);
      return group;
    },
  },
  readonly: { key: "readonly", read: booleanValue, default: false },
  upstream: { key: "upstream", read: readUpstream, placeholder: "" },
  routeByName: { key: "route_by_name", read: booleanValue, default: false },
  allowUpstreams: { key: "allow_upstreams", read: readAllowUpstreams, default: [] },
  denyProcedures: { key: "deny_procedures", read: readProcedures, default: [] },
  allowProcedures: { key: "allow_procedures", read: readProcedures, default: [] },
  programs: { key: "programs", read: readPrograms, default: ["remote", "qemu", "lxc"] },
  allowUids: { key: "allow_uids", read: accountIds("passwd"), default: [] },
  allowGids: { key: "allow_gids", read: accountIds("group"), default: [] },
  maxMessageBytes: { key: "max_message_bytes", read: messageBytes },
  maxClients: { key: "max_clients", read: integerIn(1, MAX_CLIENTS) },
  keepaliveIntervalMs: {
    key: "keepalive_interval",
    read: secondsUpTo(MAX_SECONDS, false),
    default: 5000,
  },
  keepaliveCount: { key: "keepalive_count", read: integerIn(0, 1000), default: 5 },
};

/** The defaults of the optional keys of `[[listen]]`. */
export const LISTEN_DEFAULTS: Readonly<ListenerDefaults> = defaultsOf(
  LISTEN_FIELDS,
) as ListenerDefaults;

/** Reads every `[[listen]]`, checking the upstreams each names against `upstreams`. */
export function readListeners(
  checker: Checker,
  sections: Section[],
  upstreams: CheckedUpstream[],
): ListenerConfig[] {
  // Valid, unique names only: the others are reported already.
  const names = [...new Set(upstreams.map(({ config }) => config.name))]
    .filter((name) => UPSTREAM_NAME.test(name));
  const context: ListenContext = { names, sockets: new Map(), addresses: new Map() };
  return sections.map((section) => {
    const listener: ListenerConfig = readSection(
      checker,
      section,
      LISTEN_FIELDS,
      context,
      FRONT_KEYS,
    );
    // A network front (tls/tcp) instead of a socket: its keys are read in network_listener.ts.
    const front = checkFront(
      checker,
      section,
      () => [listener.upstream, ...listener.allowUpstreams],
      context.addresses,
    );
    if (front !== undefined) listener.front = front;
    if (listener.routeByName) checkRouting(checker, section, listener, upstreams);
    return listener;
  });
}

function readSocket(
  checker: Checker,
  section: Section,
  key: string,
  context: ListenContext,
): string | undefined {
  if (isFront(section)) return undefined; // a network front has no socket
  const socket = requiredString(checker, section, key);
  if (socket === undefined) return undefined;
  const path = [...section.path, key];
  const bytes = new TextEncoder().encode(socket).length;
  if (!socket.startsWith("/")) {
    checker.report(path, `"socket" must be an absolute path, got ${quote(socket)}`);
  } else if (socket.includes("\0")) {
    checker.report(path, `"socket" must not contain a NUL character`);
  } else if (bytes > MAX_SOCKET_PATH_BYTES) {
    checker.report(
      path,
      `"socket" path is ${bytes} bytes long; unix socket paths hold at most ` +
        `${MAX_SOCKET_PATH_BYTES} bytes`,
    );
  }
  const first = context.sockets.get(socket);
  if (first !== undefined) {
    checker.report(
      path,
      `duplicate socket ${quote(socket)} (first used at line ${checker.lineOf(first)})`,
    );
  } else {
    context.sockets.set(socket, path);
  }
  return socket;
}

/** `mode = "0660"`: octal permission bits as a string, since a TOML number loses the octal. */
export function readMode(checker: Checker, section: Section, key: string): number | undefined {
  if (!Object.hasOwn(section.table, key)) return undefined;
  const value = section.table[key];
  const path = [...section.path, key];
  if (typeof value !== "string") {
    const hint = typeof value === "bigint" || typeof value === "number"
      ? ` (quote it: a TOML number is not read as octal)`
      : "";
    checker.report(
      path,
      `"mode" must be a string of octal digits such as "0660", got ${describe(value)}${hint}`,
    );
    return undefined;
  }
  if (!/^[0-7]{1,4}$/.test(value)) {
    checker.report(path, `"mode" must be octal digits such as "0660", got ${quote(value)}`);
    return undefined;
  }
  const bits = Number.parseInt(value, 8);
  if (bits > 0o777) {
    checker.report(
      path,
      `"mode" must be at most "0777" (no setuid, setgid or sticky bits), got ${quote(value)}`,
    );
    return undefined;
  }
  return bits;
}

/** A list of procedure names, each checked against libvirt 9.0's procedure tables. */
function readProcedures(checker: Checker, section: Section, key: string): string[] | undefined {
  const names = stringArray(checker, section, key);
  names?.forEach((name, index) => {
    if (resolveProcedureName(name) === undefined) {
      checker.report(
        [...section.path, key, index],
        `unknown procedure ${quote(name)} in ${quote(key)}: use libvirt's names, e.g. ` +
          `"DOMAIN_DESTROY", "REMOTE_PROC_DOMAIN_DESTROY" or "virDomainDestroy"`,
      );
    }
  });
  return names;
}

/** The `programs` a listener accepts: the names of wire/constants.ts's PROGRAM_NAMES. */
function readPrograms(checker: Checker, section: Section, key: string): string[] | undefined {
  const known = Object.keys(PROGRAM_NAMES);
  const names = stringArray(checker, section, key);
  names?.forEach((name, index) => {
    if (!known.includes(name)) {
      checker.report(
        [...section.path, key, index],
        `unknown program ${quote(name)} in "programs": use ${known.map(quote).join(", ")}`,
      );
    }
  });
  return names;
}

/** `allow_uids` / `allow_gids`: numeric ids or names, resolved from /etc/passwd or /etc/group. */
function accountIds(database: AccountDatabase): Reader<number[], unknown> {
  const what = database === "passwd" ? "user" : "group";
  return (checker, section, key) => {
    if (!Object.hasOwn(section.table, key)) return undefined;
    const value = section.table[key];
    const path = [...section.path, key];
    if (!Array.isArray(value)) {
      checker.report(
        path,
        `${quote(key)} must be an array of ${what} names or ids, got ${describe(value)}`,
      );
      return undefined;
    }
    const ids: number[] = [];
    for (const [index, item] of value.entries()) {
      if (typeof item === "bigint" && item >= 0n && item < 0xffffffffn) {
        ids.push(Number(item));
      } else if (typeof item === "string" && item !== "") {
        const id = accountId(database, item);
        if (id === undefined) {
          checker.report(
            [...path, index],
            `unknown ${what} ${quote(item)} in ${quote(key)}: not in /etc/${database}`,
          );
        } else {
          ids.push(id);
        }
      } else {
        checker.report(
          [...path, index],
          `each item of ${quote(key)} must be a ${what} name or an id from 0 to 4294967294, ` +
            `got ${describe(item)}`,
        );
      }
    }
    return ids;
  };
}
