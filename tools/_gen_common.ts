/**
 * Helpers tools/gen_protocol.ts and its event half share: finding a definition in a parsed .x
 * file, formatting the output, finding the libvirt version of a source tree, and reading the
 * optional files some checks use.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { XdrDefinition, XdrFile } from "./xdr_ast.ts";

/** The top of this repository. */
export const REPO_ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/**
 * Formats TypeScript text with the repository's deno fmt settings.
 *
 * @param text The unformatted module text.
 * @returns The text as `deno fmt` would write it.
 */
export async function formatTypeScript(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--config", join(REPO_ROOT, "deno.json"), "--ext", "ts", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const output = await child.output();
  if (!output.success) {
    throw new Error(`Cannot format the output: ${new TextDecoder().decode(output.stderr)}`);
  }
  return new TextDecoder().decode(output.stdout);
}

/**
 * Reads a file of the source tree that only a full unpack holds.
 *
 * @param sourceDir The top of the libvirt source tree.
 * @param file The file, relative to `sourceDir`.
 * @returns The file's text, or undefined when the tree lacks it.
 */
export async function readOptionalText(
  sourceDir: string,
  file: string,
): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(join(sourceDir, file));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * The libvirt version of a source tree: from the folder name (`libvirt-9.0.0`), else from its
 * meson.build.
 *
 * @param sourceDir The top of the libvirt source tree.
 * @returns The version, such as `9.0.0`.
 * @throws {Error} when neither tells it.
 */
export async function findLibvirtVersion(sourceDir: string): Promise<string> {
  const fromDir = /libvirt-(\d+\.\d+\.\d+)\/*$/.exec(sourceDir);
  if (fromDir) return fromDir[1];
  const meson = await readOptionalText(sourceDir, "meson.build");
  const found = meson === undefined ? null : /^\s*version:\s*'(\d+\.\d+\.\d+)'/m.exec(meson);
  if (found) return found[1];
  throw new Error(
    `Cannot tell the libvirt version of "${sourceDir}": pass --libvirt-version X.Y.Z`,
  );
}

/**
 * The top-level definition of `kind` named `name` in a parsed .x file.
 *
 * @param file The parsed file.
 * @param kind The definition's kind, such as `const`.
 * @param name The definition's name.
 * @param fileName The file's name, for the error.
 * @returns The definition.
 * @throws {Error} when the file has no such definition.
 */
export function findDefinition<K extends XdrDefinition["kind"]>(
  file: XdrFile,
  kind: K,
  name: string,
  fileName: string,
): Extract<XdrDefinition, { kind: K }> {
  const found = file.definitions.find((definition) =>
    definition.kind === kind && "name" in definition && definition.name === name
  );
  if (!found) throw new Error(`Cannot find ${kind} "${name}" in "${fileName}"`);
  return found as Extract<XdrDefinition, { kind: K }>;
}
