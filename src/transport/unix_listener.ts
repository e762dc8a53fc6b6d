/**
 * Listening on a unix socket the way a daemon should: the parent directory made if missing, a
 * stale socket from a dead process replaced, a live one left alone, and mode and group applied
 * before the socket appears at its path, so it is never more open than configured.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { acceptEach } from "./accept_loop.ts";
import { accountId } from "./accounts.ts";
import { type AcceptedClient, listenWithCredentials } from "./credential_listener.ts";

export type { AcceptedClient };

/** Options for {@linkcode listenUnix}. */
export interface ListenUnixOptions {
  /** Permission bits, e.g. 0o660. */
  mode: number;
  /** Group name or numeric id to own the socket. */
  group?: string;
  /**
   * Read each client's credentials (pid, uid, groups) when it connects. Such a socket is accepted
   * on through the C library and its clients served through node:net, which moves data more
   * slowly than Deno's own sockets, so only listeners that check credentials ask for it.
   */
  peerCredentials?: boolean;
  /**
   * This process's own listener at the same path, to be taken over: the new socket is renamed
   * over its file, so clients always find one of the two. The caller closes the old one a moment
   * later: a client that looked the path up just before the rename still connects to the old one.
   */
  replacing?: UnixSocketListener;
  /** Where to note a replaced stale socket. */
  logger?: Logger;
}

/** A listening unix socket and the identity of the file it created. */
export interface UnixSocketListener {
  /** The socket's path. */
  path: string;
  /** Whether accepted clients come with their credentials. */
  peerCredentials: boolean;
  /** The next client; rejects once the listener is closed. */
  accept(): Promise<AcceptedClient>;
  /** Every client until the listener is closed. */
  clients(): AsyncIterable<AcceptedClient>;
  /** Stops accepting; the socket file stays until {@linkcode remove}. */
  close(): void;
  /**
   * Removes the socket file if it is still the one this listener made (same device, inode and
   * birth time). Exact while the listener is open; after {@linkcode close}, a socket made at the
   * path within the same millisecond may reuse the inode and pass for this one.
   */
  remove(): void;
}

/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/** What a bound socket offers before it is moved into place. */
type Acceptor = Pick<UnixSocketListener, "accept" | "clients" | "close">;

/**
 * Binds a unix socket at `path`.
 *
 * @throws {Error} naming the path when it is served by a live process, is not a socket, or
 * cannot be created.
 */
export async function listenUnix(
  path: string,
  options: ListenUnixOptions,
): Promise<UnixSocketListener> {
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const gid = options.group === undefined ? undefined : resolveGroup(options.group, path);
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new Error(`Cannot listen on "${path}": cannot create directory "${dir}": ${why(error)}`);
  }
  if (options.replacing?.path !== path) await clearStaleSocket(path, options.logger);
  // Bind under a private name, set mode and group, then rename into place: the rename is atomic,
  // so no client can reach the socket while its permissions are still the umask's.
  // Short, as it must fit where the socket's own path fits (108 bytes with the NUL).
  const temporary = `${dir}/.v${Math.random().toString(36).slice(2, 8).padEnd(6, "0")}`;
  if (new TextEncoder().encode(temporary).length > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `Cannot listen on "${path}": the directory's path is too long for the temporary name the ` +
        `socket is bound under first; use a directory of at most ${
          MAX_SOCKET_PATH_BYTES - 9
        } bytes`,
    );
  }
  let acceptor: Acceptor;
  try {
    const onAcceptError = (error: unknown) =>
      options.logger?.warning("Accepting a client failed; still listening", {
        socket: path,
        error: why(error),
      });
    acceptor = options.peerCredentials
      ? listenWithCredentials(temporary, onAcceptError)
      : bindDeno(temporary, onAcceptError);
  } catch (error) {
    throw new Error(`Cannot listen on "${path}": ${why(error)}`);
  }
  try {
    Deno.chmodSync(temporary, options.mode);
    if (gid !== undefined) Deno.chownSync(temporary, null, gid);
    Deno.renameSync(temporary, path);
  } catch (error) {
    acceptor.close();
    try {
      Deno.removeSync(temporary);
    } catch { /* never made */ }
    throw new Error(`Cannot listen on "${path}": ${why(error)}`);
  }
  // Inode numbers are reused at once: identify the file by device, inode and birth time.
  const identity = fileIdentity(Deno.lstatSync(path));
  return {
    ...acceptor,
    path,
    peerCredentials: options.peerCredentials ?? false,
    remove() {
      try {
        if (fileIdentity(Deno.lstatSync(path)) === identity) Deno.removeSync(path);
      } catch { /* already gone */ }
    },
  };
}

/** A socket served by Deno's own listener: the fast path. */
function bindDeno(path: string, onAcceptError: (error: unknown) => void): Acceptor {
  const listener = Deno.listen({ transport: "unix", path });
  let closed = false;
  return {
    async accept() {
      return { channel: await listener.accept() };
    },
    async *clients() {
      // Out of file descriptors, most likely: the listener must outlive that, not end.
      for await (const conn of acceptEach(listener, () => closed, onAcceptError)) {
        yield { channel: conn };
      }
    },
    close() {
      closed = true;
      try {
        listener.close();
      } catch { /* closed */ }
    },
  };
}

function fileIdentity(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}:${info.birthtime?.getTime() ?? info.ctime?.getTime()}`;
}

/** Removes `path` if it is a socket no process serves; throws if one does or it is no socket. */
async function clearStaleSocket(path: string, logger?: Logger): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!info.isSocket) {
    throw new Error(`Cannot listen on "${path}": the path exists and is not a socket`);
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
  } catch {
    Deno.removeSync(path);
    logger?.info("Replaced a stale socket", { socket: path });
    return;
  }
  throw new Error(`Cannot listen on "${path}": another process is serving this socket`);
}

/** The numeric id of a group given by name or number, from /etc/group. */
export function resolveGroup(group: string, path: string): number {
  const id = accountId("group", group);
  if (id === undefined) {
    throw new Error(`Cannot listen on "${path}": group "${group}" does not exist`);
  }
  return id;
}

function why(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
