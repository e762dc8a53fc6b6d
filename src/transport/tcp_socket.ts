/**
 * A listening TCP socket made and accepted on with the C library's own calls (FFI), whose
 * accepted descriptors become node:net sockets: what the TLS front runs node:tls on.
 *
 * Why not node:net's own server: under Deno 2.9 it stops accepting for good, without an error,
 * once an accept fails for want of file descriptors (measured: a front that ran out of descriptors
 * stayed deaf after they were free again). Why not Deno's listener with its connections wrapped
 * as streams for node:tls: that carries small calls about a quarter more slowly. Here a failed
 * accept is reported, waited out and retried, and node:tls gets native sockets.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { isIPv4, isIPv6 } from "node:net";
import type * as net from "node:net";
import { errorMessage } from "../log/error_message.ts";
import { runAcceptLoop } from "./accept_loop.ts";
import { C, errno, errnoText, libc } from "./libc.ts";
import type { ListenAddress } from "./network_address.ts";

/** Pending connections the kernel queues. */
const BACKLOG = 512;

/** A listening socket handing its connections to a callback. */
export interface TcpSocketListener {
  /** The port bound (the kernel's choice for port 0). */
  port: number;
  /** Stops accepting and closes the socket; accepted connections stay. */
  close(): void;
}

/**
 * Binds `address` (a host name is looked up first) and hands every accepted connection to
 * `onSocket` as a node:net socket.
 *
 * @param onAcceptError told of each failed accept; the listener pauses, then goes on
 * @throws {Error} naming `label` when the address cannot be looked up or bound
 */
export async function listenTcpSocket(
  address: ListenAddress,
  label: string,
  onSocket: (socket: net.Socket) => void,
  onAcceptError: (error: Error) => void,
): Promise<TcpSocketListener> {
  const fail = (why: string) => new Error(`Cannot listen on "${label}": ${why}`);
  let host = address.hostname;
  if (!isIPv4(host) && !isIPv6(host.replace(/%.*$/, ""))) {
    try {
      host = (await lookup(host)).address;
    } catch (error) {
      throw fail(`cannot look up "${host}": ${errorMessage(error)}`);
    }
  }
  const sockaddr = socketAddress(host, address.port);
  if (typeof sockaddr === "string") throw fail(sockaddr);
  const c = libc();
  const family = sockaddr.length === 16 ? C.AF_INET : C.AF_INET6;
  const fd = c.socket(family, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail(`socket: ${errnoText(errno())}`);
  const on = new Uint8Array(new Int32Array([1]).buffer);
  if (
    c.setsockopt(fd, C.SOL_SOCKET, C.SO_REUSEADDR, on, 4) !== 0 ||
    c.bind(fd, sockaddr, sockaddr.length) !== 0 || c.listen(fd, BACKLOG) !== 0
  ) {
    const reason = errnoText(errno());
    c.close(fd);
    throw fail(reason);
  }
  const bound = new Uint8Array(28);
  c.getsockname(fd, bound, new Uint8Array(new Uint32Array([28]).buffer));
  const port = new DataView(bound.buffer).getUint16(2, false);

  let closed = false;
  runAcceptLoop(fd, onSocket, () => closed, onAcceptError);
  return {
    port,
    close() {
      if (closed) return;
      closed = true;
      c.shutdown(fd, C.SHUT_RDWR); // wakes the poll; the loop then closes the descriptor
    },
  };
}

/**
 * `struct sockaddr_in` (16 bytes) or `sockaddr_in6` (28 bytes) for an IP literal and a port, or
 * why there is none.
 */
export function socketAddress(ip: string, port: number): Uint8Array | string {
  if (isIPv4(ip)) {
    const address = new Uint8Array(16);
    const view = new DataView(address.buffer);
    view.setUint16(0, C.AF_INET, true);
    view.setUint16(2, port, false);
    address.set(ip.split(".").map(Number), 4);
    return address;
  }
  const [literal, zone] = ip.split("%", 2);
  const bytes = ipv6Bytes(literal);
  if (bytes === undefined) return `"${ip}" is not an IP address`;
  let scope = 0;
  if (zone !== undefined) {
    scope = /^[0-9]+$/.test(zone)
      ? Number(zone)
      : libc().if_nametoindex(new TextEncoder().encode(zone + "\0"));
    if (scope === 0) return `no network interface "${zone}"`;
  }
  const address = new Uint8Array(28);
  const view = new DataView(address.buffer);
  view.setUint16(0, C.AF_INET6, true);
  view.setUint16(2, port, false);
  address.set(bytes, 8);
  view.setUint32(24, scope, true);
  return address;
}

/** The 16 bytes of an IPv6 literal (with `::` and a trailing dotted IPv4 part), if it is one. */
export function ipv6Bytes(text: string): Uint8Array | undefined {
  if (!isIPv6(text)) return undefined;
  // A trailing dotted IPv4 part becomes its two hex groups: ::ffff:1.2.3.4 → ::ffff:102:304.
  const groups = text.replace(
    /(\d+)\.(\d+)\.(\d+)\.(\d+)$/,
    (_, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const [head, rest] = groups.split("::", 2) as [string, string | undefined];
  const parse = (part: string) => part === "" ? [] : part.split(":").map((g) => parseInt(g, 16));
  const front = parse(head);
  const back = rest === undefined ? [] : parse(rest);
  const missing = rest === undefined ? 0 : 8 - front.length - back.length;
  const words = [...front, ...Array(missing).fill(0), ...back];
  if (words.length !== 8) return undefined;
  const bytes = new Uint8Array(16);
  words.forEach((word, index) => {
    bytes[index * 2] = word >> 8;
    bytes[index * 2 + 1] = word & 0xff;
  });
  return bytes;
}
