/**
 * Listening on a unix socket the way a daemon should: the parent directory made if missing, a
 * stale socket from a dead process replaced, a live one left alone, and mode and group applied
 * before the socket appears at its path, so it is never more open than configured.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";

/** Options for {@linkcode listenUnix}. */
export interface ListenUnixOptions {
  /** Permission bits, e.g. 0o660. */
  mode: number;
  /** Group name or numeric id to own the socket. */
  group?: string;
  /** Where to note a replaced stale socket. */
  logger?: Logger;
}

/** A listening unix socket and the identity of the file it created. */
export interface UnixSocketListener {
  /** The listener. */
  listener: Deno.Listener<Deno.UnixConn>;
  /** The socket's path. */
  path: string;
  /** Removes the socket file if it is still the one this listener made. */
  remove(): void;
}

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
  await clearStaleSocket(path, options.logger);
  // Bind under a private name, set mode and group, then rename into place: the rename is atomic,
  // so no client can reach the socket while its permissions are still the umask's.
  const temporary = `${dir}/.virtmux-${Deno.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let listener: Deno.Listener<Deno.UnixConn>;
  try {
    listener = Deno.listen({ transport: "unix", path: temporary });
  } catch (error) {
    throw new Error(`Cannot listen on "${path}": ${why(error)}`);
  }
  try {
    Deno.chmodSync(temporary, options.mode);
    if (gid !== undefined) Deno.chownSync(temporary, null, gid);
    Deno.renameSync(temporary, path);
  } catch (error) {
    listener.close();
    try {
      Deno.removeSync(temporary);
    } catch { /* never made */ }
    throw new Error(`Cannot listen on "${path}": ${why(error)}`);
  }
  // Inode numbers are reused at once: identify the file by device, inode and birth time.
  const identity = fileIdentity(Deno.lstatSync(path));
  return {
    listener,
    path,
    remove() {
      try {
        if (fileIdentity(Deno.lstatSync(path)) === identity) Deno.removeSync(path);
      } catch { /* already gone */ }
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
  if (/^\d+$/.test(group)) return Number(group);
  let text = "";
  try {
    text = Deno.readTextFileSync("/etc/group");
  } catch { /* fall through to the error below */ }
  for (const line of text.split("\n")) {
    const [name, , id] = line.split(":");
    if (name === group && id !== undefined) return Number(id);
  }
  throw new Error(`Cannot listen on "${path}": group "${group}" does not exist`);
}

function why(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
