/**
 * The typed, validated shape of virtmux's TOML config (DESIGN §2), with every default and bound in
 * one place. TOML keys are snake_case; the fields here are their camelCase twins, except that
 * durations, written in seconds, become milliseconds (`connect_timeout` → `connectTimeoutMs`).
 *
 * @module
 */

import { MAX_FRAME_BYTES } from "../wire/constants.ts";
import type { LibvirtUri } from "../uri/uri.ts";

/** Log levels, in increasing severity. */
export type LogLevel = "debug" | "info" | "warning" | "error";
/** Log output formats. */
export type LogFormat = "text" | "json";

/** Every accepted `[log] level`. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warning", "error"];
/** Every accepted `[log] format`. */
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

/** `[log]`: what is logged to stderr, and how. */
export interface LogConfig {
  /**
   * The least severe level written.
   *
   * @default {"info"}
   */
  level: LogLevel;
  /**
   * One line of text per record, or one JSON object per line.
   *
   * @default {"text"}
   */
  format: LogFormat;
}

/** `[limits]`: process-wide limits. */
export interface LimitsConfig {
  /**
   * Largest frame in bytes, length word included (`max_message_bytes`).
   *
   * @default {33554436}
   */
  maxMessageBytes: number;
  /**
   * Most clients at once over all listeners (`max_clients`).
   *
   * @default {4096}
   */
  maxClients: number;
  /**
   * Outstanding CALLs per client before virtmux stops reading it (`max_inflight_per_client`).
   *
   * @default {32}
   */
  maxInflightPerClient: number;
  /**
   * Time allowed to dial and open an upstream, in ms (`connect_timeout`, seconds).
   *
   * @default {10000}
   */
  connectTimeoutMs: number;
  /**
   * Time allowed for outstanding calls to finish on shutdown, in ms (`shutdown_grace`, seconds).
   *
   * @default {5000}
   */
  shutdownGraceMs: number;
  /**
   * A client that sends no CONNECT_OPEN this long after connecting is closed, in ms
   * (`open_timeout`, seconds; 0 turns it off).
   *
   * @default {30000}
   */
  openTimeoutMs: number;
  /**
   * A client that stalls this long in the middle of a frame (slowloris) is closed, in ms
   * (`frame_timeout`, seconds; 0 turns it off).
   *
   * @default {30000}
   */
  frameTimeoutMs: number;
  /**
   * A client that sends nothing this long while it has no call outstanding is closed, in ms
   * (`idle_timeout`, seconds). libvirt clients with keepalive ping every 5 s.
   *
   * @default {0} (off)
   */
  idleTimeoutMs: number;
  /**
   * Frame bytes virtmux may hold beyond each client's 64 KiB allowance, over all clients
   * (`max_buffered_bytes`); at least `maxMessageBytes`.
   *
   * @default {268435456}
   */
  maxBufferedBytes: number;
  /**
   * A frame that holds buffered bytes must arrive within 1 s plus its length at this rate, in
   * bytes per second (`min_frame_rate`; 0 turns the rule off).
   *
   * @default {1048576}
   */
  minFrameRate: number;
}

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
  /** Largest frame to or from this upstream, when stricter than `[limits]` (`max_message_bytes`). */
  maxMessageBytes?: number;
}

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
}

/** `[audit]`: the hash-chained audit log (not built yet: only `enabled = false` is accepted). */
export interface AuditConfig {
  /**
   * Whether calls are decoded and logged.
   *
   * @default {false}
   */
  enabled: boolean;
  /**
   * Where the log is written.
   *
   * @default {"/var/log/virtmux/audit.jsonl"}
   */
  path: string;
}

/** `[metrics]`: Prometheus metrics (not built yet: only an empty `listen` is accepted). */
export interface MetricsConfig {
  /**
   * Address to serve `/metrics` on, e.g. `"127.0.0.1:9477"`; empty for none.
   *
   * @default {""}
   */
  listen: string;
}

/** A whole, validated virtmux config. */
export interface Config {
  /** The file it was read from, as given. */
  file: string;
  /** `[log]`. */
  log: LogConfig;
  /** `[limits]`. */
  limits: LimitsConfig;
  /** Every `[[upstream]]`, in file order. */
  upstreams: UpstreamConfig[];
  /** Every `[[listen]]`, in file order. */
  listeners: ListenerConfig[];
  /** `[audit]`. */
  audit: AuditConfig;
  /** `[metrics]`. */
  metrics: MetricsConfig;
}

/** One mistake in a config file. */
export interface ConfigProblem {
  /** The file, as given. */
  file: string;
  /** 1-based line; 0 when the problem concerns the whole file (it cannot be read). */
  line: number;
  /** 1-based column; 0 with line 0. */
  column: number;
  /** What is wrong, in lower case after the position, with values quoted. */
  message: string;
}

/** The smallest `max_message_bytes`: 256 KiB + 4, the oldest daemons' limit and a full stream chunk. */
export const MIN_MESSAGE_BYTES = 262148;
/** The largest `max_message_bytes`: 32 MiB + 4, libvirt's own limit; the daemon rejects more. */
export const MAX_MESSAGE_BYTES: number = MAX_FRAME_BYTES;

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
>;
/** Defaults of the optional keys of `[[listen]]`. */
export type ListenerDefaults = Pick<
  ListenerConfig,
  "mode" | "readonly" | "routeByName" | "programs"
>;

/** Defaults for every optional key. */
export const DEFAULTS: {
  readonly log: Readonly<LogConfig>;
  readonly limits: Readonly<LimitsConfig>;
  readonly upstream: Readonly<UpstreamDefaults>;
  readonly listener: Readonly<ListenerDefaults>;
  readonly audit: Readonly<AuditConfig>;
  readonly metrics: Readonly<MetricsConfig>;
} = {
  log: { level: "info", format: "text" },
  limits: {
    maxMessageBytes: MAX_MESSAGE_BYTES,
    maxClients: 4096,
    maxInflightPerClient: 32,
    connectTimeoutMs: 10_000,
    shutdownGraceMs: 5_000,
    openTimeoutMs: 30_000,
    frameTimeoutMs: 30_000,
    idleTimeoutMs: 0,
    maxBufferedBytes: 256 << 20,
    minFrameRate: 1 << 20,
  },
  upstream: {
    share: false,
    poolMax: 4,
    maxPools: 16,
    maxInflightPerConnection: 5,
    idleTimeoutMs: 300000,
    keepaliveIntervalMs: 5000,
    keepaliveCount: 5,
  },
  listener: {
    mode: 0o660,
    readonly: false,
    routeByName: false,
    programs: ["remote", "qemu", "lxc"],
  },
  audit: { enabled: false, path: "/var/log/virtmux/audit.jsonl" },
  metrics: { listen: "" },
};
