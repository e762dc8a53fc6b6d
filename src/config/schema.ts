/**
 * The typed, validated shape of virtmux's TOML config (DESIGN §2). Each section declares its
 * keys, types, bounds and defaults once, in its own file beside its reader (`log_section.ts`,
 * `limits_section.ts`, `upstream_section.ts`, `listen_section.ts`, `audit_section.ts`,
 * `metrics_section.ts`); this module gathers them. TOML keys are snake_case; the fields are their
 * camelCase twins, except that durations, written in seconds, become milliseconds
 * (`connect_timeout` → `connectTimeoutMs`).
 *
 * @module
 */

import { AUDIT_DEFAULTS, type AuditConfig } from "./audit_section.ts";
import { LIMITS_DEFAULTS, type LimitsConfig } from "./limits_section.ts";
import { LISTEN_DEFAULTS, type ListenerConfig, type ListenerDefaults } from "./listen_section.ts";
import { LOG_DEFAULTS, type LogConfig } from "./log_section.ts";
import { METRICS_DEFAULTS, type MetricsConfig } from "./metrics_section.ts";
import { CONTROL_DEFAULTS, type ControlConfig } from "./control_section.ts";
import {
  UPSTREAM_DEFAULTS,
  type UpstreamConfig,
  type UpstreamDefaults,
} from "./upstream_section.ts";

export type { AuditConfig } from "./audit_section.ts";
export { type LimitsConfig, MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES } from "./limits_section.ts";
export type { ListenerConfig, ListenerDefaults } from "./listen_section.ts";
export {
  LOG_FORMATS,
  LOG_LEVELS,
  type LogConfig,
  type LogFormat,
  type LogLevel,
} from "./log_section.ts";
export type { MetricsConfig } from "./metrics_section.ts";
export { type ControlConfig, controlSocketPath, defaultControlSocket } from "./control_section.ts";
export type { ConfigProblem } from "./problem.ts";
export type { SaslMode, UpstreamConfig, UpstreamDefaults } from "./upstream_section.ts";
export { defaultSaslMode } from "./upstream_section.ts";

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
  /** `[control]`. */
  control: ControlConfig;
}

/** Defaults for every optional key, as the sections declare them. */
export const DEFAULTS: {
  readonly log: Readonly<LogConfig>;
  readonly limits: Readonly<LimitsConfig>;
  readonly upstream: Readonly<UpstreamDefaults>;
  readonly listener: Readonly<ListenerDefaults>;
  readonly audit: Readonly<AuditConfig>;
  readonly metrics: Readonly<MetricsConfig>;
  readonly control: Readonly<ControlConfig>;
} = {
  log: LOG_DEFAULTS,
  limits: LIMITS_DEFAULTS,
  upstream: UPSTREAM_DEFAULTS,
  listener: LISTEN_DEFAULTS,
  audit: AUDIT_DEFAULTS,
  metrics: METRICS_DEFAULTS,
  control: CONTROL_DEFAULTS,
};
