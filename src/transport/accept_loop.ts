/**
 * The accept loops of every listener: after a failed accept (out of descriptors, most likely)
 * pause, 50 ms doubling to 1 s, then go on, so that a listener outlives it. One loop for Deno's
 * own listeners, one for those that accept through the C library (FFI: poll(2) the listening
 * descriptor, accept what is pending); node:net's own server stops accepting for good after
 * EMFILE under Deno, and neither loop does.
 *
 * @module
 */

import * as net from "node:net";
import { errorMessage } from "../log/error_message.ts";
import { C, errno, errnoText, libc } from "./libc.ts";

/** First and longest pause after a failed accept. */
const MIN_PAUSE_MS = 50;
const MAX_PAUSE_MS = 1000;

/**
 * The connections `listener` (Deno's own) accepts, until it is closed (`closed()`, or the
 * listener's resource gone); each failed accept is reported to `onAcceptError` and waited out.
 */
export async function* acceptEach<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  closed: () => boolean,
  onAcceptError: (error: unknown) => void,
): AsyncGenerator<C> {
  let pause = MIN_PAUSE_MS;
  while (!closed()) {
    let conn: C;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (closed() || error instanceof Deno.errors.BadResource) return;
      onAcceptError(error);
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, MAX_PAUSE_MS);
      continue;
    }
    pause = MIN_PAUSE_MS;
    yield conn;
  }
}

/**
 * Accepts on the listening descriptor `fd` through the C library until `closed()` says so, then
 * closes `fd`. Each accepted connection is handed to `onSocket` as a node:net socket, with its
 * descriptor (for getsockopt); a failed accept or wrap is reported to `onAcceptError`.
 */
export function runAcceptLoop(
  fd: number,
  onSocket: (socket: net.Socket, clientFd: number) => void,
  closed: () => boolean,
  onAcceptError: (error: Error) => void,
): void {
  const c = libc();
  /** Accepts everything pending; false when an accept failed for a reason worth a pause. */
  const acceptPending = (): boolean => {
    while (!closed()) {
      const client = c.accept4(fd, null, null, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
      if (client < 0) {
        const error = errno();
        if (error === C.EAGAIN) return true;
        if (error === C.EINTR || error === C.ECONNABORTED) continue;
        onAcceptError(new Error(`accept: ${errnoText(error)}`));
        return false;
      }
      let socket: net.Socket;
      try {
        socket = new net.Socket({ fd: client, readable: true, writable: true });
      } catch (error) {
        c.close(client);
        onAcceptError(new Error(`cannot serve an accepted client: ${errorMessage(error)}`));
        continue;
      }
      onSocket(socket, client);
    }
    return true;
  };
  // struct pollfd { int fd; short events; short revents; } in C memory: the poll runs on a pool
  // thread and writes revents when it returns, which may be after this isolate is gone (a test
  // module that ends right after closing its listener), so it must not be a JS buffer that V8
  // frees with the isolate. Freed here once the poll has returned for the last time.
  const pollfd = c.malloc(8n);
  if (pollfd === null) throw new Error("Cannot allocate a pollfd for the accept loop");
  const view = new DataView(Deno.UnsafePointerView.getArrayBuffer(pollfd, 8));
  view.setInt32(0, fd, true);
  view.setInt16(4, C.POLLIN, true);
  view.setInt16(6, 0, true);
  void (async () => {
    let pause = MIN_PAUSE_MS;
    try {
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
    } finally {
      c.close(fd);
      c.free(pollfd);
    }
  })();
}
