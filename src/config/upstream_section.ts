/**
 * `[[upstream]]`: its keys, types, bounds and defaults, declared once, and its reader.
 *
 * @module
 */

import { parseUri, UriError } from "../uri/uri.ts";
import type { LibvirtUri } from "../uri/uri.ts";
import { type Checker, quote, requiredString, type Section } from "./_fields.ts";
import {
  booleanValue,
  defaultsOf,
  type Fields,
  integerIn,
  oneOfValues,
  readSection,
  secondsUpTo,
} from "./_section.ts";
import { MAX_INFLIGHT, MAX_SECONDS, messageBytes } from "./limits_section.ts";
import type { KeyPath } from "./locate.ts";

/** What an upstream name may hold: letters, digits, `_`, `.` and `-`. */
export const UPSTREAM_NAME: RegExp = /^[A-Za-z0-9_.-]+$/;
/** The largest `pool_max` and `max_pools`. */
const MAX_POOL = 1024;

/** One `[[upstream]]`: a libvirt daemon that clients reach through virtmux. */
export interface UpstreamConfig {
  /** Unique name, made of `[A-Za-z0-9_.-]`; listeners and routing refer to it. */
  name: string;
  /** The parsed libvirt URI. */
  uri: LibvirtUri;
  /** The URI as written in the config. */
  uriText: string;
  /**
   * Multiplex clients over a pool of upstream connections instead of one connection per client.
   *
   * @default {false}
   */
  share: boolean;
  /**
   * Shared pool: most upstream connections (`pool_max`).
   *
   * @default {4}
   */
  poolMax: number;
  /**
   * Shared pool: most pools at once (`max_pools`). Clients share a pool only when they open the
   * same name with the same read-only and no-aliases flags, so this bounds how many distinct
   * opens, each holding its own upstream connections, clients can make the proxy keep.
   *
   * @default {16}
   */
  maxPools: number;
  /**
   * Shared pool: most outstanding calls per upstream connection (`max_inflight_per_connection`);
   * keep it at or under the daemon's `max_client_requests`.
   *
   * @default {5}
   */
  maxInflightPerConnection: number;
  /**
   * Shared pool: close an upstream connection that carried nothing (no calls, streams or event
   * registrations) for this long, in ms (`idle_timeout`, seconds; 0 closes at once).
   *
   * @default {300000}
   */
  idleTimeoutMs: number;
  /**
   * Shared pool: ping a quiet upstream connection after this long, in ms (`keepalive_interval`,
   * seconds), as libvirt's own keepalive does.
   *
   * @default {5000}
   */
  keepaliveIntervalMs: number;
  /**
   * Shared pool: unanswered pings before an upstream connection is declared dead
   * (`keepalive_count`).
   *
   * @default {5}
   */
  keepaliveCount: number;
  /**
   * Who logs in when the daemon asks for SASL (`sasl`): `"proxy"`, virtmux itself with
   * credentials from auth.conf (as libvirt's client finds it, `authfile=` included), so its
   * clients need none; `"passthrough"`, each client end to end (dedicated only; impossible on
   * plain tcp, where the daemon demands a security layer). Shared pools always log in themselves.
   *
   * @default {"proxy" when shared or on plain tcp, else "passthrough"}
   */
  sasl: SaslMode;
  /** Largest frame to or from this upstream, when stricter than `[limits]` (`max_message_bytes`). */
  maxMessageBytes?: number;
  /**
   * Shared pool: when the daemon goes away (restart, crash), clients stay connected: calls in
   * flight get an error, calls meanwhile wait `restart_wait`, event callbacks are registered
   * again with the same IDs (`survive_restart`). Off: clients are closed, as a daemon restart
   * closes libvirt's own connections.
   *
   * @default {false}
   */
  surviveRestart: boolean;
  /**
   * Shared pool with `survive_restart`: how long calls wait for the daemon to come back, in ms
   * (`restart_wait`, seconds).
   *
   * @default {30000}
   */
  restartWaitMs: number;
}

/** Who performs a SASL login an upstream asks for: see {@linkcode UpstreamConfig.sasl}. */
export type SaslMode = "proxy" | "passthrough";

/** The `sasl` values, as written. */
export const SASL_MODES: readonly SaslMode[] = ["proxy", "passthrough"];

/**
 * Who logs in when an upstream's daemon asks for SASL, unless `sasl` says: virtmux for shared
 * pools and for plain tcp (where the daemon demands a security layer that a client on a unix
 * socket never negotiates), the client itself otherwise.
 */
export function defaultSaslMode(share: boolean, uri: LibvirtUri | undefined): SaslMode {
  return share || uri?.transport === "tcp" ? "proxy" : "passthrough";
}

/** Defaults of the optional keys of `[[upstream]]`. */
export type UpstreamDefaults = Pick<
  UpstreamConfig,
  | "share"
  | "poolMax"
  | "maxPools"
  | "maxInflightPerConnection"
  | "idleTimeoutMs"
  | "keepaliveIntervalMs"
  | "keepaliveCount"
  | "surviveRestart"
  | "restartWaitMs"
>;

/** An upstream with the path of its table, for the listeners' cross-checks. */
export interface CheckedUpstream {
  /** The upstream as read. */
  config: UpstreamConfig;
  /** Where its table is. */
  path: KeyPath;
}

/** What reading one upstream needs from the others: the names taken so far. */
interface UpstreamContext {
  seen: Map<string, KeyPath>;
}

/**
 * `uriText` is not a key of its own: it is the `uri` key as written. `sasl` has no fixed default:
 * {@linkcode defaultSaslMode} picks it from `share` and the transport.
 */
const UPSTREAM_FIELDS: Fields<
  Omit<UpstreamConfig, "uriText" | "sasl"> & { sasl?: SaslMode },
  UpstreamContext
> = {
  name: { key: "name", read: readName, placeholder: "" },
  // No placeholder: the uri is only read when the config is valid, and then it parsed.
  uri: { key: "uri", read: readUri },
  share: { key: "share", read: booleanValue, default: false },
  sasl: { key: "sasl", read: oneOfValues(SASL_MODES) },
  poolMax: { key: "pool_max", read: integerIn(1, MAX_POOL), default: 4 },
  maxPools: { key: "max_pools", read: integerIn(1, MAX_POOL), default: 16 },
  maxInflightPerConnection: {
    key: "max_inflight_per_connection",
    read: integerIn(1, MAX_INFLIGHT),
    default: 5,
  },
  idleTimeoutMs: { key: "idle_timeout", read: secondsUpTo(MAX_SECONDS, true), default: 300000 },
  keepaliveIntervalMs: {
    key: "keepalive_interval",
    read: secondsUpTo(MAX_SECONDS, false),
    default: 5000,
  },
  keepaliveCount: { key: "keepalive_count", read: integerIn(1, 1000), default: 5 },
  maxMessageBytes: { key: "max_message_bytes", read: messageBytes },
  surviveRestart: { key: "survive_restart", read: booleanValue, default: false },
  restartWaitMs: { key: "restart_wait", read: secondsUpTo(MAX_SECONDS, false), default: 30000 },
};

/** The defaults of the optional keys of `[[upstream]]`. */
export const UPSTREAM_DEFAULTS: Readonly<UpstreamDefaults> = defaultsOf(
  UPSTREAM_FIELDS,
) as UpstreamDefaults;

/** Reads every `[[upstream]]`, checking that names are valid and unique. */
export function readUpstreams(checker: Checker, sections: Section[]): CheckedUpstream[] {
  const context: UpstreamContext = { seen: new Map() };
  return sections.map((section) => {
    const fields = readSection(checker, section, UPSTREAM_FIELDS, context);
    if (fields.surviveRestart && !fields.share) {
      checker.report(
        [...section.path, "survive_restart"],
        "survive_restart needs share = true: a dedicated client has the daemon's connection " +
          "itself and sees it go",
      );
    }
    const uriText = section.table.uri;
    const config = {
      ...fields,
      sasl: readSasl(checker, section, fields),
      uriText: typeof uriText === "string" ? uriText : "",
    };
    return { config, path: section.path };
  });
}

/**
 * `sasl`, or its default; "passthrough" on a shared upstream is an error (a pool logs in itself),
 * and so is an `authfile=` that nobody would read (a dedicated passthrough upstream).
 */
function readSasl(
  checker: Checker,
  section: Section,
  fields: { share: boolean; sasl?: SaslMode; uri?: LibvirtUri; name: string },
): SaslMode {
  const mode = fields.sasl ?? defaultSaslMode(fields.share, fields.uri);
  if (fields.share && mode === "passthrough") {
    checker.report(
      [...section.path, "sasl"],
      `"sasl" = "passthrough" needs share = false: a shared pool logs in to the daemon itself`,
    );
  }
  if (!fields.share && mode === "passthrough" && fields.uri?.options.authfile !== undefined) {
    checker.report(
      [...section.path, "uri"],
      `"authfile=" in the URI of upstream ${quote(fields.name)} would be ignored: its clients ` +
        `log in themselves; set sasl = "proxy" (or share = true) for virtmux to read it`,
    );
  }
  return mode;
}

function readName(
  checker: Checker,
  section: Section,
  key: string,
  context: UpstreamContext,
): string | undefined {
  const name = requiredString(checker, section, key);
  if (name === undefined) return undefined;
  const path = [...section.path, key];
  const first = context.seen.get(name);
  if (!UPSTREAM_NAME.test(name)) {
    checker.report(
      path,
      `upstream name ${quote(name)} may hold only letters, digits, "_", "." and "-"`,
    );
  } else if (first !== undefined) {
    checker.report(
      path,
      `duplicate upstream name ${quote(name)} (first defined at line ${checker.lineOf(first)})`,
    );
  } else {
    context.seen.set(name, path);
  }
  return name;
}

function readUri(checker: Checker, section: Section, key: string): LibvirtUri | undefined {
  const text = requiredString(checker, section, key);
  if (text === undefined) return undefined;
  try {
    return parseUri(text);
  } catch (error) {
    if (!(error instanceof UriError)) throw error;
    // `Cannot parse URI "x": why`, lower-cased to read as the rest of the messages.
    const message = error.message.charAt(0).toLowerCase() + error.message.slice(1);
    checker.report([...section.path, key], message);
    return undefined;
  }
}
