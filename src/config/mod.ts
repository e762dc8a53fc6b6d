/**
 * virtmux's config: TOML → typed, validated {@linkcode Config}, with `FILE:LINE:COL` errors.
 *
 * - `schema.ts`: the typed config and its defaults, gathered from the sections.
 * - `log_section.ts`, `limits_section.ts`, `upstream_section.ts`, `listen_section.ts`,
 *   `audit_section.ts`, `metrics_section.ts`: each section's keys, types, bounds and defaults,
 *   declared once in a field table, and its reader.
 * - `load.ts`: reading and validating the file.
 * - `config_path.ts`: which file (`--config`, `$VIRTMUX_CONFIG`, the default path).
 * - `problem.ts`: `FILE:LINE:COL` problems and the error that carries them.
 * - `locate.ts`: where each key sits in the TOML source.
 *
 * @module
 */

export * from "./schema.ts";
export * from "./load.ts";
export * from "./locate.ts";
