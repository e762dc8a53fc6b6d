/**
 * Reading virtmux's TOML config into a typed {@linkcode Config}. Every mistake found, not just the
 * first, is reported as `FILE:LINE:COL: message` at the offending key (at the table header for a
 * missing key), in one {@linkcode ConfigError}.
 *
 * @example Parse a config
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "./load.ts";
 *
 * const config = parseConfig(
 *   '[[upstream]]\nname = "hv1"\nuri = "qemu:///system"\n\n[[listen]]\nsocket = "/tmp/a.sock"\n',
 *   "virtmux.toml",
 * );
 * assert.equal(config.listeners[0].upstream, "hv1");
 * assert.equal(config.listeners[0].mode, 0o660);
 * ```
 *
 * @example Report mistakes
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError, parseConfig } from "./load.ts";
 *
 * assert.throws(
 *   () => parseConfig("[limits]\nmax_client = 10\n", "virtmux.toml"),
 *   new ConfigError([{
 *     file: "virtmux.toml",
 *     line: 2,
 *     column: 1,
 *     message: 'unknown key "max_client" in [limits]; did you mean "max_clients"?',
 *   }]),
 * );
 * ```
 *
 * @module
 */

import { parse, TomlError } from "smol-toml";
import {
  boolean,
  Checker,
  closest,
  describe,
  integer,
  isTable,
  isTableArray,
  oneOf,
  quote,
  requiredString,
  seconds,
  type Section,
  string,
  stringArray,
  subTable,
  tableArray,
} from "./_fields.ts";
import { resolveProcedureName } from "../wire/procedure_names.ts";
import { parseUri, UriError } from "../uri/uri.ts";
import { type AccountDatabase, accountId } from "../transport/accounts.ts";
import { type KeyPath, scanKeyPositions } from "./locate.ts";
import {
  type AuditConfig,
  type Config,
  type ConfigProblem,
  DEFAULTS,
  type LimitsConfig,
  type ListenerConfig,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogConfig,
  MAX_MESSAGE_BYTES,
  type MetricsConfig,
  MIN_MESSAGE_BYTES,
  type UpstreamConfig,
} from "./schema.ts";

export type { ConfigProblem };

/** Where the config is read from when neither `--config` nor `$VIRTMUX_CONFIG` names a file. */
export const DEFAULT_CONFIG_PATH = "/etc/virtmux/virtmux.toml";

/** A config that cannot be used; `message` is one `FILE:LINE:COL: message` line per problem. */
export class ConfigError extends Error {
  /** Every problem found, in file order. */
  readonly problems: readonly ConfigProblem[];

  /** @param problems At least one problem. */
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** Formats a problem as `FILE:LINE:COL: message` (`FILE: message` when it has no position). */
export function formatProblem(problem: ConfigProblem): string {
  return problem.line > 0
    ? `${problem.file}:${problem.line}:${problem.column}: ${problem.message}`
    : `${problem.file}: ${problem.message}`;
}

/** Options for {@linkcode findConfigPath}. */
export interface FindConfigPathOptions {
  /**
   * Reads an environment variable.
   *
   * @default {(name) => Deno.env.get(name)}
   */
  getEnv?: (name: string) => string | undefined;
}

/**
 * The config file to use: `flag` (from `--config`), else `$VIRTMUX_CONFIG` when set and not empty,
 * else {@linkcode DEFAULT_CONFIG_PATH}.
 *
 * @param flag The `--config` value, if given.
 * @param options Where to read the environment from.
 * @returns The path; whether it exists is for the reader to find out.
 */
export function findConfigPath(flag?: string, options: FindConfigPathOptions = {}): string {
  if (flag !== undefined) return flag;
  const getEnv = options.getEnv ?? ((name: string) => Deno.env.get(name));
  const fromEnv = getEnv("VIRTMUX_CONFIG");
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : DEFAULT_CONFIG_PATH;
}

/**
 * Reads and validates the config file at `path`.
 *
 * @param path The file; error messages name it as given.
 * @returns The validated config.
 * @throws {ConfigError} When the file cannot be read or has any mistake.
 */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new ConfigError([{ file: path, line: 0, column: 0, message: readFailure(error) }]);
  }
  return parseConfig(text, path);
}

/**
 * Parses and validates config text.
 *
 * @param text The TOML source.
 * @param fileName The name to put in the config and in error messages.
 * @returns The validated config.
 * @throws {ConfigError} With every mistake found.
 */
export function parseConfig(text: string, fileName: string): Config {
  let document: Record<string, unknown>;
  try {
    document = parse(text, { integersAsBigInt: true, unsafeKeyBehaviour: "throw" });
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    throw new ConfigError([{
      file: fileName,
      line: error.line,
      column: error.column,
      message: `invalid TOML: ${tomlReason(error)}`,
    }]);
  }
  const checker = new Checker(fileName, scanKeyPositions(text));
  const config = checkDocument(checker, document, fileName);
  if (checker.problems.length > 0) throw new ConfigError(checker.sortedProblems());
  return config;
}

function readFailure(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "cannot read config file: it does not exist";
  if (error instanceof Deno.errors.PermissionDenied) {
    return "cannot read config file: permission denied";
  }
  if (error instanceof Deno.errors.IsADirectory) {
    return "cannot read config file: it is a directory";
  }
  return `cannot read config file: ${error instanceof Error ? error.message : String(error)}`;
}

/** smol-toml's reason, without its "Invalid TOML document: " prefix and code excerpt. */
function tomlReason(error: TomlError): string {
  const firstLine = error.message.split("\n", 1)[0];
  return firstLine.replace(/^Invalid TOML document: /, "");
}

/** Program names a listener's `programs` may list. */
const PROGRAM_NAMES = ["remote", "qemu", "lxc", "admin"];

const TOP_LEVEL_KEYS = ["log", "limits", "upstream", "listen", "audit", "metrics"] as const;
const LOG_KEYS = ["level", "format"];
const LIMITS_KEYS = [
  "max_message_bytes",
  "max_clients",
  "max_inflight_per_client",
  "connect_timeout",
  "shutdown_grace",
  "open_timeout",
  "frame_timeout",
  "idle_timeout",
  "max_buffered_bytes",
  "min_frame_rate",
];
const UPSTREAM_KEYS = [
  "name",
  "uri",
  "share",
  "pool_max",
  "max_pools",
  "max_inflight_per_connection",
  "idle_timeout",
  "keepalive_interval",
  "keepalive_count",
  "max_message_bytes",
];
const LISTEN_KEYS = [
  "socket",
  "mode",
  "group",
  "readonly",
  "upstream",
  "route_by_name",
  "allow_upstreams",
  "deny_procedures",
  "allow_procedures",
  "programs",
  "allow_uids",
  "allow_gids",
  "max_message_bytes",
  "max_clients",
];
const AUDIT_KEYS = ["enabled", "path"];
const METRICS_KEYS = ["listen"];

const UPSTREAM_NAME = /^[A-Za-z0-9_.-]+$/;
/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;
const MAX_CLIENTS = 1_048_576;
const MAX_INFLIGHT = 65_536;
const MAX_POOL = 1024;
const MAX_SECONDS = 3600;

const MESSAGE_BYTES_RANGE = `${MIN_MESSAGE_BYTES} (256 KiB + 4, the oldest daemons' limit and ` +
  `a full stream chunk) and ${MAX_MESSAGE_BYTES} (32 MiB + 4, libvirt's own limit)`;

function checkDocument(
  checker: Checker,
  document: Record<string, unknown>,
  file: string,
): Config {
  const top: Section = { table: document, path: [], label: "the top level" };
  checkKeys(checker, top, TOP_LEVEL_KEYS);
  const upstreams = checkUpstreams(checker, tableArray(checker, top, "upstream"));
  const listeners = checkListeners(checker, tableArray(checker, top, "listen"), upstreams);
  return {
    file,
    log: checkLog(checker, subTable(checker, top, "log")),
    limits: checkLimits(checker, subTable(checker, top, "limits")),
    upstreams: upstreams.map(({ config }) => config),
    listeners,
    audit: checkAudit(checker, subTable(checker, top, "audit")),
    metrics: checkMetrics(checker, subTable(checker, top, "metrics")),
  };
}

function checkLog(checker: Checker, section: Section | undefined): LogConfig {
  if (section === undefined) return { ...DEFAULTS.log };
  checkKeys(checker, section, LOG_KEYS);
  return {
    level: oneOf(checker, section, "level", LOG_LEVELS) ?? DEFAULTS.log.level,
    format: oneOf(checker, section, "format", LOG_FORMATS) ?? DEFAULTS.log.format,
  };
}

function checkLimits(checker: Checker, section: Section | undefined): LimitsConfig {
  if (section === undefined) return { ...DEFAULTS.limits };
  checkKeys(checker, section, LIMITS_KEYS);
  const defaults = DEFAULTS.limits;
  return {
    maxMessageBytes: messageBytes(checker, section) ?? defaults.maxMessageBytes,
    maxClients: integer(checker, section, "max_clients", 1, MAX_CLIENTS) ?? defaults.maxClients,
    maxInflightPerClient: integer(checker, section, "max_inflight_per_client", 1, MAX_INFLIGHT) ??
      defaults.maxInflightPerClient,
    connectTimeoutMs: seconds(checker, section, "connect_timeout", false, MAX_SECONDS) ??
      defaults.connectTimeoutMs,
    shutdownGraceMs: seconds(checker, section, "shutdown_grace", true, MAX_SECONDS) ??
      defaults.shutdownGraceMs,
    openTimeoutMs: seconds(checker, section, "open_timeout", true, MAX_SECONDS) ??
      defaults.openTimeoutMs,
    frameTimeoutMs: seconds(checker, section, "frame_timeout", true, MAX_SECONDS) ??
      defaults.frameTimeoutMs,
    idleTimeoutMs: seconds(checker, section, "idle_timeout", true, MAX_SECONDS) ??
      defaults.idleTimeoutMs,
    ...checkBuffered(checker, section),
  };
}

/** `max_buffered_bytes` and `min_frame_rate` (issue 11); the budget must hold a largest frame. */
function checkBuffered(checker: Checker, section: Section): BufferedLimits {
  const raw = section.table["max_message_bytes"]; // checked (and reported) by checkLimits
  const maxMessageBytes = typeof raw === "bigint" ? Number(raw) : DEFAULTS.limits.maxMessageBytes;
  const maxBufferedBytes = integer(checker, section, "max_buffered_bytes", 0, MAX_BUFFERED_BYTES);
  if (maxBufferedBytes !== undefined && maxBufferedBytes < maxMessageBytes) {
    checker.report(
      [...section.path, "max_buffered_bytes"],
      `"max_buffered_bytes" must be at least max_message_bytes (${maxMessageBytes}), so that a ` +
        `largest frame fits, got ${maxBufferedBytes}`,
    );
  }
  return {
    maxBufferedBytes: maxBufferedBytes ??
      Math.max(DEFAULTS.limits.maxBufferedBytes, maxMessageBytes),
    minFrameRate: integer(checker, section, "min_frame_rate", 0, MAX_BUFFERED_BYTES) ??
      DEFAULTS.limits.minFrameRate,
  };
}

type BufferedLimits = Pick<LimitsConfig, "maxBufferedBytes" | "minFrameRate">;
/** 1 TiB: far beyond any machine virtmux runs on, and exact as a double. */
const MAX_BUFFERED_BYTES = 2 ** 40;

/** An upstream with the path of its table, for later cross-checks. */
interface CheckedUpstream {
  config: UpstreamConfig;
  path: KeyPath;
}

function checkUpstreams(checker: Checker, sections: Section[]): CheckedUpstream[] {
  const upstreams: CheckedUpstream[] = [];
  const seen = new Map<string, KeyPath>();
  for (const section of sections) {
    checkKeys(checker, section, UPSTREAM_KEYS);
    const name = requiredString(checker, section, "name");
    if (name !== undefined) {
      const namePath = [...section.path, "name"];
      const first = seen.get(name);
      if (!UPSTREAM_NAME.test(name)) {
        checker.report(
          namePath,
          `upstream name ${quote(name)} may hold only letters, digits, "_", "." and "-"`,
        );
      } else if (first !== undefined) {
        checker.report(
          namePath,
          `duplicate upstream name ${quote(name)} (first defined at line ${checker.lineOf(first)})`,
        );
      } else {
        seen.set(name, namePath);
      }
    }
    const uriText = requiredString(checker, section, "uri");
    let uri: UpstreamConfig["uri"] | undefined;
    if (uriText !== undefined) {
      try {
        uri = parseUri(uriText);
      } catch (error) {
        if (!(error instanceof UriError)) throw error;
        // `Cannot parse URI "x": why`, lower-cased to read as the rest of the messages.
        const message = error.message.charAt(0).toLowerCase() + error.message.slice(1);
        checker.report([...section.path, "uri"], message);
      }
    }
    const defaults = DEFAULTS.upstream;
    const config: UpstreamConfig = {
      name: name ?? "",
      // Only read when the config is valid, and then the URI parsed.
      uri: uri as UpstreamConfig["uri"],
      uriText: uriText ?? "",
      share: boolean(checker, section, "share") ?? defaults.share,
      poolMax: integer(checker, section, "pool_max", 1, MAX_POOL) ?? defaults.poolMax,
      maxPools: integer(checker, section, "max_pools", 1, MAX_POOL) ?? defaults.maxPools,
      maxInflightPerConnection:
        integer(checker, section, "max_inflight_per_connection", 1, MAX_INFLIGHT) ??
          defaults.maxInflightPerConnection,
      idleTimeoutMs: seconds(checker, section, "idle_timeout", true, MAX_SECONDS) ??
        defaults.idleTimeoutMs,
      keepaliveIntervalMs: seconds(checker, section, "keepalive_interval", false, MAX_SECONDS) ??
        defaults.keepaliveIntervalMs,
      keepaliveCount: integer(checker, section, "keepalive_count", 1, 1000) ??
        defaults.keepaliveCount,
    };
    const maxMessageBytes = messageBytes(checker, section);
    if (maxMessageBytes !== undefined) config.maxMessageBytes = maxMessageBytes;
    upstreams.push({ config, path: section.path });
  }
  return upstreams;
}

function checkListeners(
  checker: Checker,
  sections: Section[],
  upstreams: CheckedUpstream[],
): ListenerConfig[] {
  // Valid, unique names only: the others are reported already.
  const names = [...new Set(upstreams.map(({ config }) => config.name))]
    .filter((name) => UPSTREAM_NAME.test(name));
  const listeners: ListenerConfig[] = [];
  const seenSockets = new Map<string, KeyPath>();
  for (const section of sections) {
    checkKeys(checker, section, LISTEN_KEYS);
    const socket = requiredString(checker, section, "socket");
    if (socket !== undefined) checkSocket(checker, section, socket, seenSockets);
    let upstream = string(checker, section, "upstream");
    if (upstream === undefined && !(Object.hasOwn(section.table, "upstream"))) {
      if (names.length === 1) {
        upstream = names[0];
      } else {
        checker.report(
          section.path,
          names.length === 0
            ? `missing required key "upstream" in [[listen]], and no [[upstream]] is defined`
            : `missing required key "upstream" in [[listen]]: there are ${names.length} ` +
              `upstreams (${names.map(quote).join(", ")})`,
        );
      }
    } else if (upstream !== undefined) {
      checkUpstreamName(checker, [...section.path, "upstream"], upstream, names);
    }
    const allowUpstreams = stringArray(checker, section, "allow_upstreams") ?? [];
    const allowed = section.table.allow_upstreams;
    for (const [index, name] of (Array.isArray(allowed) ? allowed : []).entries()) {
      if (typeof name !== "string") continue;
      checkUpstreamName(checker, [...section.path, "allow_upstreams", index], name, names);
    }
    const defaults = DEFAULTS.listener;
    const listener: ListenerConfig = {
      socket: socket ?? "",
      mode: mode(checker, section) ?? defaults.mode,
      readonly: boolean(checker, section, "readonly") ?? defaults.readonly,
      upstream: upstream ?? "",
      routeByName: boolean(checker, section, "route_by_name") ?? defaults.routeByName,
      allowUpstreams,
      denyProcedures: procedures(checker, section, "deny_procedures"),
      allowProcedures: procedures(checker, section, "allow_procedures"),
      programs: programs(checker, section) ?? [...defaults.programs],
      allowUids: accountIds(checker, section, "allow_uids", "passwd"),
      allowGids: accountIds(checker, section, "allow_gids", "group"),
    };
    if (listener.routeByName) checkRouting(checker, section, listener, upstreams);
    const group = string(checker, section, "group");
    if (group === "") checker.report([...section.path, "group"], `"group" must not be empty`);
    if (group !== undefined) listener.group = group;
    const maxMessageBytes = messageBytes(checker, section);
    if (maxMessageBytes !== undefined) listener.maxMessageBytes = maxMessageBytes;
    const maxClients = integer(checker, section, "max_clients", 1, MAX_CLIENTS);
    if (maxClients !== undefined) listener.maxClients = maxClients;
    listeners.push(listener);
  }
  return listeners;
}

function checkSocket(
  checker: Checker,
  section: Section,
  socket: string,
  seen: Map<string, KeyPath>,
): void {
  const path = [...section.path, "socket"];
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
  const first = seen.get(socket);
  if (first !== undefined) {
    checker.report(
      path,
      `duplicate socket ${quote(socket)} (first used at line ${checker.lineOf(first)})`,
    );
  } else {
    seen.set(socket, path);
  }
}

function checkUpstreamName(checker: Checker, path: KeyPath, name: string, names: string[]): void {
  if (names.includes(name)) return;
  if (names.length === 0) {
    checker.report(path, `unknown upstream ${quote(name)}: no [[upstream]] is defined`);
    return;
  }
  const suggestion = closest(name, names);
  checker.report(
    path,
    suggestion !== undefined
      ? `unknown upstream ${quote(name)}; did you mean ${quote(suggestion)}?`
      : `unknown upstream ${quote(name)}; defined upstreams: ${names.map(quote).join(", ")}`,
  );
}

/** `mode = "0660"`: octal permission bits as a string, since a TOML number loses the octal. */
function mode(checker: Checker, section: Section): number | undefined {
  if (!Object.hasOwn(section.table, "mode")) return undefined;
  const value = section.table.mode;
  const path = [...section.path, "mode"];
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

function checkAudit(checker: Checker, section: Section | undefined): AuditConfig {
  if (section === undefined) return { ...DEFAULTS.audit };
  checkKeys(checker, section, AUDIT_KEYS);
  const enabled = boolean(checker, section, "enabled") ?? DEFAULTS.audit.enabled;
  if (enabled) checker.report([...section.path, "enabled"], "audit logging is not built yet");
  return { enabled, path: string(checker, section, "path") ?? DEFAULTS.audit.path };
}

function checkMetrics(checker: Checker, section: Section | undefined): MetricsConfig {
  if (section === undefined) return { ...DEFAULTS.metrics };
  checkKeys(checker, section, METRICS_KEYS);
  const listen = string(checker, section, "listen") ?? DEFAULTS.metrics.listen;
  if (listen !== "") checker.report([...section.path, "listen"], "metrics are not built yet");
  return { listen };
}

// --- Reading one key ---------------------------------------------------------------------------

/** Reports every key of `section` not in `known`, suggesting the closest known one. */
function checkKeys(checker: Checker, section: Section, known: readonly string[]): void {
  for (const [key, value] of Object.entries(section.table)) {
    if (known.includes(key)) continue;
    const suggestion = closest(key, known);
    const path = [...section.path, key];
    if (section.path.length === 0 && isTable(value)) {
      const hint = suggestion === undefined ? "" : `; did you mean ${headerOf(suggestion)}?`;
      checker.report(path, `unknown table [${key}]${hint}`);
    } else if (section.path.length === 0 && isTableArray(value)) {
      const hint = suggestion === undefined ? "" : `; did you mean ${headerOf(suggestion)}?`;
      checker.report(path, `unknown table [[${key}]]${hint}`);
    } else {
      const hint = suggestion === undefined ? "" : `; did you mean ${quote(suggestion)}?`;
      const where = section.path.length === 0 ? "at the top level" : `in ${section.label}`;
      checker.report(path, `unknown key ${quote(key)} ${where}${hint}`);
    }
  }
}

function headerOf(topLevelKey: string): string {
  return topLevelKey === "upstream" || topLevelKey === "listen"
    ? `[[${topLevelKey}]]`
    : `[${topLevelKey}]`;
}

function messageBytes(checker: Checker, section: Section): number | undefined {
  return integer(
    checker,
    section,
    "max_message_bytes",
    MIN_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES,
    MESSAGE_BYTES_RANGE,
  );
}

/** A list of procedure names, each checked against libvirt 9.0's procedure tables. */
function procedures(checker: Checker, section: Section, key: string): string[] {
  const names = stringArray(checker, section, key) ?? [];
  names.forEach((name, index) => {
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

/** `allow_uids` / `allow_gids`: numeric ids or names, resolved from /etc/passwd or /etc/group. */
function accountIds(
  checker: Checker,
  section: Section,
  key: string,
  database: AccountDatabase,
): number[] {
  if (!Object.hasOwn(section.table, key)) return [];
  const value = section.table[key];
  const path = [...section.path, key];
  const what = database === "passwd" ? "user" : "group";
  if (!Array.isArray(value)) {
    checker.report(
      path,
      `${quote(key)} must be an array of ${what} names or ids, got ${describe(value)}`,
    );
    return [];
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
}

/** The `programs` a listener accepts: names from "remote", "qemu", "lxc", "admin". */
function programs(checker: Checker, section: Section): string[] | undefined {
  const names = stringArray(checker, section, "programs");
  names?.forEach((name, index) => {
    if (!PROGRAM_NAMES.includes(name)) {
      checker.report(
        [...section.path, "programs", index],
        `unknown program ${quote(name)} in "programs": use ${PROGRAM_NAMES.map(quote).join(", ")}`,
      );
    }
  });
  return names;
}

/**
 * `route_by_name` works on shared pools only: the proxy must answer the handshake itself to
 * learn the name before it picks an upstream. So the listener's upstream and every upstream it
 * may route to must have `share = true`, and there must be some to route to.
 */
function checkRouting(
  checker: Checker,
  section: Section,
  listener: ListenerConfig,
  upstreams: CheckedUpstream[],
): void {
  const shared = (name: string) => upstreams.find((u) => u.config.name === name)?.config.share;
  if (listener.allowUpstreams.length === 0) {
    checker.report(
      [...section.path, "route_by_name"],
      `"route_by_name" needs "allow_upstreams": the upstreams a client may pick by name`,
    );
  }
  if (shared(listener.upstream) === false) {
    checker.report(
      [...section.path, "route_by_name"],
      `"route_by_name" needs share = true on upstream ${quote(listener.upstream)}: only a ` +
        `shared pool answers the handshake itself and so learns the name before connecting`,
    );
  }
  listener.allowUpstreams.forEach((name, index) => {
    if (shared(name) === false) {
      checker.report(
        [...section.path, "allow_upstreams", index],
        `upstream ${quote(name)} needs share = true to be picked by "route_by_name"`,
      );
    }
  });
}
