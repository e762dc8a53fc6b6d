/**
 * This process's stdin and stdout as one {@linkcode Channel}: the client side in stdio mode, where
 * libvirt's ext transport (or ssh) hands the proxy one end of a socketpair or a pair of pipes.
 *
 * @module
 */

import type { Channel } from "./channel.ts";

/** A channel reading stdin and writing stdout. */
export function stdioChannel(): Channel {
  let closed = false;
  return {
    read: (buffer) => Deno.stdin.read(buffer),
    write: (data) => Deno.stdout.write(data),
    closeWrite() {
      try {
        Deno.stdout.close();
      } catch { /* closed */ }
      return Promise.resolve();
    },
    close() {
      if (closed) return;
      closed = true;
      for (const stream of [Deno.stdin, Deno.stdout]) {
        try {
          stream.close();
        } catch { /* closed */ }
      }
    },
  };
}
