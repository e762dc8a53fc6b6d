/**
 * Running `virsh` against a URI, isolated from the user's own libvirt client configuration.
 *
 * @module
 */

import { join } from "node:path";
import { runCommand, type RunResult } from "./process.ts";
import { makeTempDir, removeDir } from "./tmp.ts";

/** Options for {@linkcode virsh}. */
export interface VirshOptions {
  /**
   * Kill virsh (and anything it started, such as ssh) after this long.
   *
   * @default {30000}
   */
  timeoutMs?: number;
  /** Extra environment variables (LC_ALL=C and a private HOME are always set). */
  env?: Record<string, string>;
  /** Text written to virsh's stdin. */
  stdin?: string;
}

/** What a virsh run produced. */
export type VirshResult = RunResult;

/**
 * Runs `virsh -c uri ...args` with LC_ALL=C and a fresh private HOME (removed afterwards), so no
 * user config, known_hosts or PKI files are read from the real home directory.
 *
 * @param uri the connection URI
 * @param args the virsh command and its arguments, e.g. `["list", "--all"]`
 * @param options timeout, environment and stdin
 * @returns exit code, stdout, stderr and whether it timed out
 */
export async function virsh(
  uri: string,
  args: string[],
  options: VirshOptions = {},
): Promise<VirshResult> {
  const home = await makeTempDir("home");
  try {
    return await runCommand("virsh", ["-c", uri, ...args], {
      env: {
        LC_ALL: "C",
        HOME: home,
        XDG_CONFIG_HOME: join(home, ".config"),
        XDG_CACHE_HOME: join(home, ".cache"),
        XDG_RUNTIME_DIR: home,
        ...options.env,
      },
      stdin: options.stdin,
      timeoutMs: options.timeoutMs ?? 30000,
    });
  } finally {
    await removeDir(home);
  }
}
