/**
 * `[control]`: the local control socket that `virtmux status`, `virtmux clients` and
 * `virtmux client-disconnect` talk to. Its keys, types and defaults, and its reader.
 *
 * @module
 */

import { type Checker, type Section, string } from "./_fields.ts";
import { defaultsOf, type Fields, readSection } from "./_section.ts";

/** `[control]`: the control socket. */
export interface ControlConfig {
  /**
   * Path of the control socket (mode 0600, the owner and root only); `"auto"` for
   * {@linkcode defaultControlSocket}; empty for none.
   *
   * @default {"auto"}
   */
  socket: string;
}

const CONTROL_FIELDS: Fields<ControlConfig> = {
  socket: {
    key: "socket",
    read: (checker, section, key) => {
      const socket = string(checker, section, key);
      if (socket !== undefined && socket !== "" && socket !== "auto" && !socket.startsWith("/")) {
        checker.report([...section.path, key], `"${socket}" is not an absolute path`);
      }
      return socket;
    },
    default: "auto",
  },
};

/** The defaults of `[control]`. */
export const CONTROL_DEFAULTS: Readonly<ControlConfig> = defaultsOf(
  CONTROL_FIELDS,
) as ControlConfig;

/** Reads `[control]`; its defaults when the table is absent. */
export function readControl(checker: Checker, section: Section | undefined): ControlConfig {
  return readSection(checker, section, CONTROL_FIELDS, undefined);
}

/**
 * The control socket's path when the config says `"auto"`: in the runtime directory, beside
 * the listeners a service keeps there: `/run/virtmux/control.sock` for root,
 * `$XDG_RUNTIME_DIR/virtmux/control.sock` for other users, else `/tmp/virtmux-UID/control.sock`.
 */
export function defaultControlSocket(
  uid: number | null = Deno.uid(),
  runtimeDir: string | undefined = Deno.env.get("XDG_RUNTIME_DIR"),
): string {
  if (uid === 0) return "/run/virtmux/control.sock";
  if (runtimeDir !== undefined && runtimeDir !== "") return `${runtimeDir}/virtmux/control.sock`;
  return `/tmp/virtmux-${uid ?? "user"}/control.sock`;
}

/** The control socket path `config` means, or undefined when the control socket is off. */
export function controlSocketPath(config: ControlConfig): string | undefined {
  if (config.socket === "") return undefined;
  return config.socket === "auto" ? defaultControlSocket() : config.socket;
}
