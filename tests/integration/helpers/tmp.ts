/**
 * Temporary directories for integration tests. Every directory is made under the system temp dir
 * with the prefix `virtmux-`; whoever creates one removes it.
 *
 * @module
 */

/** Prefix of every temporary directory the harness makes. */
export const TEMP_PREFIX = "virtmux-";

/**
 * Makes a fresh temporary directory named `virtmux-*`.
 *
 * @param suffix an optional name tail that says what the directory is for
 * @returns the absolute path
 */
export function makeTempDir(suffix?: string): Promise<string> {
  return Deno.makeTempDir({ prefix: TEMP_PREFIX, suffix: suffix ? `-${suffix}` : undefined });
}

/**
 * Removes a directory tree; a directory that is already gone is not an error.
 *
 * @param path the directory to remove
 */
export async function removeDir(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** A temporary directory that removes itself when disposed (`await using dir = await tempDir()`). */
export interface TempDir extends AsyncDisposable {
  /** Absolute path of the directory. */
  readonly path: string;
}

/**
 * Makes a temporary directory for use with `await using`.
 *
 * @param suffix an optional name tail that says what the directory is for
 * @returns the directory, removed with everything in it on dispose
 */
export async function tempDir(suffix?: string): Promise<TempDir> {
  const path = await makeTempDir(suffix);
  return { path, [Symbol.asyncDispose]: () => removeDir(path) };
}
