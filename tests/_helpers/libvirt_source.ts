/**
 * Where the generator tests find libvirt's unpacked source (README.md "Protocol tables"), and
 * whether its absence fails them: in CI (`CI=true`) .ci/run fetches it, so a missing tree is a
 * broken CI step, not a reason to skip.
 *
 * @module
 */

import { join } from "node:path";

/** Whether the generator tests must fail, not skip, without libvirt's source (`CI=true`). */
export const LIBVIRT_SOURCE_REQUIRED: boolean = Deno.env.get("CI") === "true";

/**
 * The unpacked libvirt 9.0 tree: `LIBVIRT_SRC`, else the folder the README's recipe unpacks to.
 *
 * @returns The tree, or undefined when it holds no src/remote/remote_protocol.x.
 */
export function libvirtSourceDir(): string | undefined {
  const dir = Deno.env.get("LIBVIRT_SRC") ?? "/tmp/libvirt-src/libvirt-9.0.0";
  try {
    return Deno.statSync(join(dir, "src/remote/remote_protocol.x")).isFile ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The tree for a test that needs it: throws when CI requires it and it is missing.
 *
 * @returns The tree.
 * @throws {Error} when the tree is missing.
 */
export function requireLibvirtSource(): string {
  const dir = libvirtSourceDir();
  if (dir === undefined) {
    throw new Error(
      `Cannot find libvirt's source: "${Deno.env.get("LIBVIRT_SRC") ?? "(LIBVIRT_SRC unset)"}" ` +
        "holds no src/remote/remote_protocol.x; .ci/run fetches it in CI",
    );
  }
  return dir;
}
