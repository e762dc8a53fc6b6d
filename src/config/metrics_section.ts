/**
 * `[metrics]`: its keys, types and defaults, declared once, and its reader.
 *
 * @module
 */

import { type Checker, type Section, string } from "./_fields.ts";
import { defaultsOf, type Fields, readSection } from "./_section.ts";

/** `[metrics]`: Prometheus metrics over HTTP. */
export interface MetricsConfig {
  /**
   * Address to serve `/metrics` on, `HOST:PORT` (`[::1]:9477` for IPv6), e.g.
   * `"127.0.0.1:9477"`; empty for none.
   *
   * @default {""}
   */
  listen: string;
}

/** `HOST:PORT` or `[IPV6]:PORT`, port 0..65535. */
const ADDRESS = /^(?:\[[^\]]+\]|[^:\[\]\s]+):(\d{1,5})$/;

const METRICS_FIELDS: Fields<MetricsConfig> = {
  listen: {
    key: "listen",
    read: (checker, section, key) => {
      const listen = string(checker, section, key);
      if (listen === undefined || listen === "") return listen;
      const match = ADDRESS.exec(listen);
      if (match === null || Number(match[1]) > 65535) {
        checker.report(
          [...section.path, key],
          `"${listen}" is not an address to listen on: expected HOST:PORT, e.g. "127.0.0.1:9477"`,
        );
      }
      return listen;
    },
    default: "",
  },
};

/** The defaults of `[metrics]`. */
export const METRICS_DEFAULTS: Readonly<MetricsConfig> = defaultsOf(
  METRICS_FIELDS,
) as MetricsConfig;

/** Reads `[metrics]`; its defaults when the table is absent. */
export function readMetrics(checker: Checker, section: Section | undefined): MetricsConfig {
  return readSection(checker, section, METRICS_FIELDS, undefined);
}
