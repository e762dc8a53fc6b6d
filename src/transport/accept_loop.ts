/**
 * The wait-and-accept loop of listeners that accept through the C library (FFI): poll(2) the
 * listening descriptor, accept what is pending, and after a failed accept (out of descriptors,
 * most likely) pause, 50 ms doubling to 1 s, then go on. node:net's own server stops accepting
 * for good after EMFILE under Deno; this loop does not.
 *
 * @module
 */

import { C, libc } from "./libc.ts";

/** First and longest pause after a failed accept. */
const MIN_PAUSE_MS = 50;
const MAX_PAUSE_MS = 1000;

/**
 * Runs until `closed()` says so, then closes `fd`. `acceptPending` accepts every pending
 * connection and says whether all went well.
 */
export function runAcceptLoop(
  fd: number,
  acceptPending: () => boolean,
  closed: () => boolean,
): void {
  const c = libc();
  void (async () => {
    const pollfd = new Uint8Array(8); // struct pollfd { int fd; short events; short revents; }
    const view = new DataView(pollfd.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, C.POLLIN, true);
    let pause = MIN_PAUSE_MS;
    while (!closed()) {
      await c.poll(pollfd, 1n, -1);
      if (closed()) break;
      if (acceptPending()) {
        pause = MIN_PAUSE_MS;
      } else {
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, MAX_PAUSE_MS);
      }
    }
    c.close(fd);
  })();
}
