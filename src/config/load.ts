/**
 * Reading virtmux's TOML config into a typed {@linkcode Config}. Every mistake found, not just the
 * first, is reported as `FILE:LINE:COL: message` at the offending key (at the table header for a
 * missing key), in one {@linkcode ConfigError}. Each table is read by its section's file, from the
 * field table that declares its keys.
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
import { errorMessage } from "../log/error_message.ts";
import { Checker, type Section, subTable, tableArray } from "./_fields.ts";
import { type Fields, readSection } from "./_section.ts";
import { readAudit } from "./audit_section.ts";
import { readLimits } from "./limits_section.ts";
import { readListeners } from "./listen_section.ts";
import { scanKeyPositions } from "./locate.ts";
import { readLog } from "./log_section.ts";
import { readMetrics } from "./metrics_section.ts";
import { readControl } from "./control_section.ts";
import { ConfigError } from "./problem.ts";
import type { Config } from "./schema.ts";
import { type CheckedUpstream, readUpstreams } from "./upstream_section.ts";

export { ConfigError, type ConfigProblem, formatProblem } from "./problem.ts";
export { DEFAULT_CONFIG_PATH, findConfigPath, type FindConfigPathOptions } from "./config_path.ts";

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
  return `cannot read config file: ${errorMessage(error)}`;
}

/** smol-toml's reason, without its "Invalid TOML document: " prefix and code excerpt. */
function tomlReason(error: TomlError): string {
  const firstLine = error.message.split("\n", 1)[0];
  return firstLine.replace(/^Invalid TOML document: /, "");
}

/** What the top-level readers share: the upstreams, read before the listeners that name them. */
interface DocumentContext {
  upstreams: CheckedUpstream[];
}

/** The top-level tables, each read by its section's file. */
const DOCUMENT_FIELDS: Fields<Omit<Config, "file">, DocumentContext> = {
  log: { key: "log", read: (checker, top, key) => readLog(checker, subTable(checker, top, key)) },
  limits: {
    key: "limits",
    read: (checker, top, key) => readLimits(checker, subTable(checker, top, key)),
  },
  upstreams: {
    key: "upstream",
    header: "[[upstream]]",
    read: (checker, top, key, context) => {
      context.upstreams = readUpstreams(checker, tableArray(checker, top, key));
      return context.upstreams.map(({ config }) => config);
    },
  },
  listeners: {
    key: "listen",
    header: "[[listen]]",
    read: (checker, top, key, context) =>
      readListeners(checker, tableArray(checker, top, key), context.upstreams),
  },
  audit: {
    key: "audit",
    read: (checker, top, key) => readAudit(checker, subTable(checker, top, key)),
  },
  metrics: {
    key: "metrics",
    read: (checker, top, key) => readMetrics(checker, subTable(checker, top, key)),
  },
  control: {
    key: "control",
    read: (checker, top, key) => readControl(checker, subTable(checker, top, key)),
  },
};

function checkDocument(
  checker: Checker,
  document: Record<string, unknown>,
  file: string,
): Config {
  const top: Section = { table: document, path: [], label: "the top level" };
  return { file, ...readSection(checker, top, DOCUMENT_FIELDS, { upstreams: [] }) };
}
