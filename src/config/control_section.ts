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
   * {@linkcode defaultControlSocket} (beside the first listener's socket); empty for none.
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
 * The control socket's path when the config says `"auto"`: beside the listeners, in the
 * directory of the first `[[listen]]` socket (`/run/virtmux/hv1.sock` →
 * `/run/virtmux/virtmux-control.sock`); with no listener, in the runtime directory:
 * `/run/virtmux/` for root, `$XDG_RUNTIME_DIR/virtmux/` for other users, else
 * `/tmp/virtmux-UID/`.
 */
export function defaultControlSocket(
  listenerSockets: readonly string[] = [],
  uid: number | null = Deno.uid(),
  runtimeDir: string | undefined = Deno.env.get("XDG_RUNTIME_DIR"),
): string {
  const first = listenerSockets[0];
  if (first !== undefined) return `${first.slice(0, first.lastIndexOf("/")) || ""}/${NAME}`;
  if (uid === 0) return `/run/virtmux/${NAME}`;
  if (runtimeDir !== undefined && runtimeDir !== "") return `${runtimeDir}/virtmux/${NAME}`;
  return `/tmp/virtmux-${uid ?? "user"}/${NAME}`;
}

/** The file name of the default control socket. */
const NAME = "virtmux-control.sock";

/**
 * The control socket path `control` means for a config whose listeners are `listenerSockets`,
 * or undefined when the control socket is off.
 */
export function controlSocketPath(
  control: ControlConfig,
  listenerSockets: readonly string[],
): string | undefined {
  if (control.socket === "") return undefined;
  return control.socket === "auto" ? defaultControlSocket(listenerSockets) : control.socket;
}
