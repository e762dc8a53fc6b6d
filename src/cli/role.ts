/**
 * The role the name virtmux was invoked as selects: `virt-ssh-helper` (libvirt's ssh helper, for
 * `ln -s virtmux /usr/local/bin/virt-ssh-helper`) or `nc` (the netcat libvirt's ssh transport
 * runs); any other name is plain virtmux.
 *
 * The name comes from `VIRTMUX_ARGV0` (set by the single file's launcher and by wrapper scripts,
 * then removed so children do not inherit it), else from argv[0] in /proc/self/cmdline (a
 * `deno compile`d binary run through a symlink).
 *
 * @module
 */

/** Subcommands an invocation name maps to. */
const ROLES: Readonly<Record<string, string>> = {
  "virt-ssh-helper": "virt-ssh-helper",
  "nc": "nc",
};

/** The last path component of `path`. */
function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** argv[0] of this process, as the kernel recorded it, or undefined. */
function cmdlineArgv0(): string | undefined {
  try {
    const cmdline = Deno.readTextFileSync("/proc/self/cmdline");
    return cmdline.slice(0, Math.max(0, cmdline.indexOf("\0")));
  } catch {
    return undefined;
  }
}

/**
 * The name this process was invoked as: `VIRTMUX_ARGV0` (which is then removed from the
 * environment), else argv[0].
 */
export function invokedName(): string | undefined {
  const fromEnv = Deno.env.get("VIRTMUX_ARGV0");
  if (fromEnv !== undefined) {
    Deno.env.delete("VIRTMUX_ARGV0");
    return fromEnv;
  }
  return cmdlineArgv0();
}

/**
 * The command line to run for `args` when invoked as `name`: the role's subcommand in front of
 * the arguments for a role name, the arguments unchanged otherwise.
 *
 * @param args the process's arguments
 * @param name the invocation name (a path or a bare name)
 */
export function roleArgs(args: string[], name: string | undefined): string[] {
  const role = name === undefined ? undefined : ROLES[basename(name)];
  return role === undefined ? args : [role, ...args];
}
