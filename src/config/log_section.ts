/**
 * `[log]`: its keys, types and defaults, declared once, and its reader.
 *
 * @module
 */

import type { Checker, Section } from "./_fields.ts";
import { defaultsOf, type Fields, oneOfValues, readSection } from "./_section.ts";

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

const LOG_FIELDS: Fields<LogConfig> = {
  level: { key: "level", read: oneOfValues(LOG_LEVELS), default: "info" },
  format: { key: "format", read: oneOfValues(LOG_FORMATS), default: "text" },
};

/** The defaults of `[log]`. */
export const LOG_DEFAULTS: Readonly<LogConfig> = defaultsOf(LOG_FIELDS) as LogConfig;

/** Reads `[log]`; its defaults when the table is absent. */
export function readLog(checker: Checker, section: Section | undefined): LogConfig {
  return readSection(checker, section, LOG_FIELDS, undefined);
}
