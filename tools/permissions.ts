/**
 * The Deno permissions virtmux runs with once built (`deno task compile`: baked into the compiled
 * binary, or passed by the single file's launcher), in one place. Each is there for a reason the
 * program cannot do without; `-A` is not used.
 *
 * @module
 */

/** One permission flag and why virtmux needs it. */
export interface Permission {
  /** The `deno run` / `deno compile` flag. */
  flag: string;
  /** What in virtmux needs it. */
  why: string;
}

/** Every permission virtmux needs, with its reason. */
export const PERMISSIONS: readonly Permission[] = [
  {
    flag: "--allow-read",
    why: "the config file, TLS keys and certificates, /etc/passwd and /etc/group for names, " +
      "unix sockets to connect to, /proc/self/cmdline for the name it was run as",
  },
  {
    flag: "--allow-write",
    why: "listener sockets: create their directory, replace a stale socket, chmod/chown, " +
      "remove on exit; Deno also asks write permission to connect to a unix socket",
  },
  { flag: "--allow-net", why: "tcp and tls upstreams" },
  { flag: "--allow-run", why: "ssh upstreams (the ssh command) and ext upstreams (command=)" },
  {
    flag: "--allow-env",
    why: "VIRTMUX_CONFIG, VIRTMUX_UPSTREAM, HOME and XDG_* (libvirt's default paths), " +
      "the environment passed to ssh and ext children",
  },
  { flag: "--allow-sys=uid", why: "the uid, for libvirt's root/session defaults" },
  {
    flag: "--allow-ffi",
    why: "getsockopt(SO_PEERCRED, SO_PEERGROUPS) from the C library for allow_uids/allow_gids",
  },
];

/** The permission flags alone, in order. */
export const PERMISSION_FLAGS: readonly string[] = PERMISSIONS.map((p) => p.flag);
