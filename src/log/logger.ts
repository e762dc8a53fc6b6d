/**
 * Structured logging to stderr, as text or JSON lines, with context fields (listener, client,
 * upstream) carried by child loggers. stdout is never written: in stdio mode it carries frames.
 *
 * A few lines of our own instead of a logging library: the proxy logs per event, never per frame,
 * and needs only levels, two formats and context.
 *
 * @module
 */

/** Log levels, in increasing severity. */
export type LogLevel = "debug" | "info" | "warning" | "error";
/** Output formats. */
export type LogFormat = "text" | "json";
/** Context fields attached to every record of a logger. */
export type LogFields = Record<string, string | number | boolean | undefined>;

const SEVERITY: Record<LogLevel, number> = { debug: 0, info: 1, warning: 2, error: 3 };

/** Where records go; replaceable in tests. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();

/** The default sink: one synchronous write to stderr per record. */
export function stderrSink(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}

/** Options for {@linkcode Logger}. */
export interface LoggerOptions {
  /**
   * The least severe level written.
   *
   * @default {"info"}
   */
  level?: LogLevel;
  /**
   * Output format.
   *
   * @default {"text"}
   */
  format?: LogFormat;
  /** Where lines go. Defaults to {@linkcode stderrSink}. */
  sink?: LogSink;
  /** Context fields for every record. */
  fields?: LogFields;
}

/**
 * A logger with a level, a format and context fields.
 *
 * @example Text records with context
 * ```ts
 * import { Logger } from "./logger.ts";
 * const lines: string[] = [];
 * const log = new Logger({ sink: (line) => lines.push(line) }).child({ client: 3 });
 * log.info("Client connected", { peer: "uid 1000" });
 * if (!lines[0].includes("client=3") || !lines[0].includes('peer="uid 1000"')) throw new Error();
 * ```
 */
export class Logger {
  #threshold: number;
  #format: LogFormat;
  #sink: LogSink;
  #fields: LogFields;

  /** Makes a logger. */
  constructor(options: LoggerOptions = {}) {
    this.#threshold = SEVERITY[options.level ?? "info"];
    this.#format = options.format ?? "text";
    this.#sink = options.sink ?? stderrSink;
    this.#fields = options.fields ?? {};
  }

  /** A logger that adds `fields` to this one's context. */
  child(fields: LogFields): Logger {
    const child = new Logger({ sink: this.#sink, format: this.#format });
    child.#threshold = this.#threshold;
    child.#fields = { ...this.#fields, ...fields };
    return child;
  }

  /** Changes level and format, for this logger only (children made later inherit them). */
  configure(level: LogLevel, format: LogFormat): void {
    this.#threshold = SEVERITY[level];
    this.#format = format;
  }

  /** True when `level` would be written: guard costly messages with it. */
  enabled(level: LogLevel): boolean {
    return SEVERITY[level] >= this.#threshold;
  }

  /** Logs at debug level. */
  debug(message: string, fields?: LogFields): void {
    this.#log("debug", message, fields);
  }

  /** Logs at info level. */
  info(message: string, fields?: LogFields): void {
    this.#log("info", message, fields);
  }

  /** Logs at warning level. */
  warning(message: string, fields?: LogFields): void {
    this.#log("warning", message, fields);
  }

  /** Logs at error level. */
  error(message: string, fields?: LogFields): void {
    this.#log("error", message, fields);
  }

  #log(level: LogLevel, message: string, fields?: LogFields): void {
    if (SEVERITY[level] < this.#threshold) return;
    const all: LogFields = fields ? { ...this.#fields, ...fields } : this.#fields;
    const time = new Date().toISOString();
    if (this.#format === "json") {
      const record: Record<string, unknown> = { time, level, msg: message };
      for (const [key, value] of Object.entries(all)) {
        if (value !== undefined) record[key] = value;
      }
      this.#sink(JSON.stringify(record));
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(7)} ${message}`;
    for (const [key, value] of Object.entries(all)) {
      if (value === undefined) continue;
      const text = String(value);
      line += ` ${key}=${/^[\w.:\/@+-]+$/.test(text) ? text : JSON.stringify(text)}`;
    }
    this.#sink(line);
  }
}

/** The process-wide root logger; `serve` and `stdio` configure it from the config file. */
export const rootLogger: Logger = new Logger();
