/**
 * Help texts of the subcommands.
 *
 * @module
 */

/** The program's own help. */
export const MAIN_USAGE = `virtmux: a libvirt RPC proxy

Usage:
  virtmux serve [--config FILE]          run the proxy on the configured sockets
  virtmux stdio [--config FILE] [URI]    serve one client on stdin/stdout
  virtmux check-config [--config FILE]   validate a config file
  virtmux aliases [--config FILE]        print uri_aliases for libvirt.conf
  virtmux version                        print the version
  virtmux virt-ssh-helper [-r] URI       libvirt's ssh helper (also as a symlink virt-ssh-helper)
  virtmux nc [-q SECS] -U SOCKET         netcat for libvirt's ssh transport (also as symlink nc)
  virtmux                                with a non-terminal stdin and no arguments: stdio mode,
                                         as libvirt's ext transport runs it

Config file: --config, else $VIRTMUX_CONFIG, else /etc/virtmux/virtmux.toml.
Run "virtmux COMMAND --help" for a command's options.`;

/** Help of `virtmux serve`. */
export const SERVE_USAGE = `Usage: virtmux serve [--config FILE]

Listens on every [[listen]] socket of the config and relays each client to its upstream.
SIGTERM or SIGINT: stop accepting, let outstanding calls finish (limits.shutdown_grace), remove
the sockets, exit 0.`;

/** Help of `virtmux stdio`. */
export const STDIO_USAGE = `Usage: virtmux stdio [--config FILE] [URI]

Serves one client on stdin/stdout. With URI, relays to that libvirt URI (the config, if found,
supplies limits and logging); without, to the upstream named by $VIRTMUX_UPSTREAM, else the
config's first [[upstream]]. Diagnostics go to stderr.

Example, as libvirt's ext transport:
  virsh -c 'qemu+ext:///system?command=/usr/local/bin/virtmux'`;

/** Help of `virtmux check-config`. */
export const CHECK_CONFIG_USAGE = `Usage: virtmux check-config [--config FILE]

Validates the config file. Prints every problem as FILE:LINE:COL: message and exits 1, or
prints a summary and exits 0.`;

/** Help of `virtmux aliases`. */
export const ALIASES_USAGE = `Usage: virtmux aliases [--config FILE]

Prints a uri_aliases setting for libvirt.conf: one alias per upstream, named after it, reaching it
through the first [[listen]] socket that serves it. Then "virsh -c hv1 list" goes through virtmux.`;
