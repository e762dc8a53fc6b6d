/**
 * `[metrics]`: its keys, types and defaults, declared once, and its reader. Metrics are not built
 * yet: only an empty `listen` is accepted.
 *
 * @module
 */

import { type Checker, type Section, string } from "./_fields.ts";
import { defaultsOf, type Fields, readSection } from "./_section.ts";

/** `[metrics]`: Prometheus metrics (not built yet: only an empty `listen` is accepted). */
export interface MetricsConfig {
  /**
   * Address to serve `/metrics` on, e.g. `"127.0.0.1:9477"`; empty for none.
   *
   * @default {""}
   */
  listen: string;
}

const METRICS_FIELDS: Fields<MetricsConfig> = {
  listen: {
    key: "listen",
    read: (checker, section, key) => {
      const listen = string(checker, section, key);
      if (listen !== undefined && listen !== "") {
        checker.report([...section.path, key], "metrics are not built yet");
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
