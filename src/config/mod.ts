/**
 * virtmux's config: TOML → typed, validated {@linkcode Config}, with `FILE:LINE:COL` errors.
 *
 * - `schema.ts`: the typed config, its defaults and bounds.
 * - `load.ts`: finding, reading and validating the file.
 * - `locate.ts`: where each key sits in the TOML source.
 *
 * @module
 */

export * from "./schema.ts";
export * from "./load.ts";
export * from "./locate.ts";
