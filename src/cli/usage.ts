/**
 * Help texts of the subcommands.
 *
 * @module
 */

import { DEFAULT_CONFIG_PATH } from "../config/config_path.ts";

/** The program's own help. */
export const MAIN_USAGE = `virtmux: a libvirt RPC proxy

Usage:
  virtmux serve [--config FILE]          run the proxy on the configured sockets
  virtmux stdio [--config FILE] [URI]    serve one client on stdin/stdout
  virtmux check-config [--config FILE]   validate a config file
  virtmux aliases [--config FILE]        print uri_aliases for libvirt.conf
  virtmux version                        print the version
  virtmux audit init-key|verify|show     audit log keys, verification and reading
  virtmux virt-ssh-helper [-r] URI       libvirt's ssh helper (also as a symlink virt-ssh-helper)
  virtmux nc [-q SECS] -U SOCKET         netcat for libvirt's ssh transport (also as symlink nc)
  virtmux status [--config FILE]         a running serve on one screen (control socket)
  virtmux clients [--config FILE]        its clients: id, listener, uid/pid, upstream, calls
  virtmux client-disconnect ID           close one of its clients
  virtmux                                with a non-terminal stdin and no arguments: stdio mode,
                                         as libvirt's ext transport runs it

Config file: --config, else $VIRTMUX_CONFIG, else ${DEFAULT_CONFIG_PATH}.
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

/** Help of `virtmux audit`. */
export const AUDIT_USAGE = `Usage: virtmux audit COMMAND

  virtmux audit init-key --out FILE [--state FILE]       make the sealing key
  virtmux audit verify [--key FILE] [--state FILE] FILE|DIR...   check chain and seals
  virtmux audit show FILE|DIR...                         one readable line per record`;

/** Help of `virtmux audit init-key`. */
export const AUDIT_INIT_KEY_USAGE = `Usage: virtmux audit init-key --out FILE [--state FILE]

Writes a new random initial sealing key to FILE (mode 0600; refuses to overwrite) and, with
--state, the writer's starting key state (the [audit] key_state file). Move FILE off this host:
verification needs it, and whoever holds it can forge seals. The writer evolves the state after
every seal, K(n+1) = SHA-256("virtmux-seal" || K(n)), and forgets the old key.`;

/** Help of `virtmux audit verify`. */
export const AUDIT_VERIFY_USAGE =
  `Usage: virtmux audit verify [--key FILE] [--state FILE] FILE|DIR...

Checks the hash chain of an audit log across its rotated files (a DIR stands for the files in
it; they are put in chain order) and, with --key (the initial key from init-key), every seal.
With --state (the writer's key state, also needs --key) it also detects a tail cut past the
last seals. Prints "N/N records valid, S/S seals valid, validated from T1 to T2, final K records
not sealed", or the first failure as FILE:LINE: kind: what was found (edited, deleted, inserted,
reordered, truncated, bad_seal, resealed, wrong_key, malformed). A last line without newline is
reported as torn by a crash. Exit 0 when valid, 1 on a failure.`;

/** Help of `virtmux audit show`. */
export const AUDIT_SHOW_USAGE = `Usage: virtmux audit show FILE|DIR...

Prints one line per record: #seq time user@pid listener -> upstream PROCEDURE(object) = result
latency, with whatever of these the record has. Files (a DIR: its rotated files) are read in
chain order.`;
