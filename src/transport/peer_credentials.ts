/**
 * Who is on the other end of an accepted unix socket: the kernel's record of the peer's pid, uid
 * and gid when it connected (SO_PEERCRED) and its supplementary groups (SO_PEERGROUPS), read with
 * getsockopt(2) through FFI, on descriptors virtmux accepted itself (Deno's own unix connections
 * expose none); a call costs about a microsecond.
 *
 * @module
 */

import { C, libc } from "./libc.ts";

/** The peer of a unix socket, as the kernel recorded it at connect time. */
export interface PeerCredentials {
  /** Process id. */
  pid: number;
  /** Effective user id. */
  uid: number;
  /** Effective group id. */
  gid: number;
  /** Supplementary group ids (may include `gid`). */
  groups: number[];
}

/** Groups asked for first; the kernel says how many there are when that is too few. */
const FIRST_GROUPS = 64;

/**
 * The credentials of the peer of unix socket `fd`.
 *
 * @throws {Error} when the C library cannot be loaded or the kernel refuses (not a unix socket).
 */
export function peerCredentials(fd: number): PeerCredentials {
  const call = libc().getsockopt;
  const ucred = new Int32Array(3);
  const length = new Uint32Array([ucred.byteLength]);
  if (call(fd, C.SOL_SOCKET, C.SO_PEERCRED, ucred, length) !== 0) {
    throw new Error(`getsockopt(SO_PEERCRED) failed on file descriptor ${fd}`);
  }
  let gids = new Uint32Array(FIRST_GROUPS);
  length[0] = gids.byteLength;
  if (call(fd, C.SOL_SOCKET, C.SO_PEERGROUPS, gids, length) !== 0) {
    if (length[0] <= gids.byteLength) {
      throw new Error(`getsockopt(SO_PEERGROUPS) failed on file descriptor ${fd}`);
    }
    gids = new Uint32Array(length[0] / 4); // ERANGE: the kernel put the size it needs in length
    if (call(fd, C.SOL_SOCKET, C.SO_PEERGROUPS, gids, length) !== 0) {
      throw new Error(`getsockopt(SO_PEERGROUPS) failed on file descriptor ${fd}`);
    }
  }
  return {
    pid: ucred[0],
    uid: ucred[1] >>> 0,
    gid: ucred[2] >>> 0,
    groups: [...gids.subarray(0, length[0] / 4)],
  };
}

/**
 * Whether `peer` may use a socket restricted to `uids` and `gids`: its uid is listed, or its
 * group or one of its supplementary groups is. Empty lists allow nobody by that criterion.
 */
export function peerAllowed(
  peer: PeerCredentials,
  uids: ReadonlySet<number>,
  gids: ReadonlySet<number>,
): boolean {
  return uids.has(peer.uid) || gids.has(peer.gid) || peer.groups.some((gid) => gids.has(gid));
}
