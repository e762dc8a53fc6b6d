/**
 * Which config file virtmux reads: `--config`, else `$VIRTMUX_CONFIG`, else
 * {@linkcode DEFAULT_CONFIG_PATH}.
 *
 * @module
 */

/** Where the config is read from when neither `--config` nor `$VIRTMUX_CONFIG` names a file. */
export const DEFAULT_CONFIG_PATH = "/etc/virtmux/virtmux.toml";

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
