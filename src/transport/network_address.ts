/**
 * The address a network front listens on, written as libvirt writes addresses: `ADDR:PORT`, an
 * IPv6 literal in brackets (`[::1]:16514`, `[::]:16514`), a host name, or the address alone for
 * libvirt's default port (16514 for TLS, 16509 for TCP).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseListenAddress } from "./network_address.ts";
 *
 * assert.deepEqual(parseListenAddress("[::1]:16600", 16514), { hostname: "::1", port: 16600 });
 * assert.deepEqual(parseListenAddress("0.0.0.0", 16514), { hostname: "0.0.0.0", port: 16514 });
 * ```
 *
 * @module
 */

/** libvirt's TLS port (libvirtd's `tls_port`). */
export const DEFAULT_TLS_PORT = 16514;
/** libvirt's TCP port (libvirtd's `tcp_port`). */
export const DEFAULT_TCP_PORT = 16509;

/** A host and port to listen on. */
export interface ListenAddress {
  /** An IPv4 or IPv6 literal (without brackets) or a host name. */
  hostname: string;
  /** 1 to 65535. */
  port: number;
}

const HOST_NAME =
  /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const IPV6 = /^[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?$/;

/**
 * Reads `ADDR:PORT`, `[IPV6]:PORT`, `ADDR` or `[IPV6]`.
 *
 * @param text the address as written
 * @param defaultPort the port when none is written
 * @throws {SyntaxError} saying what is wrong, with the text quoted
 */
export function parseListenAddress(text: string, defaultPort: number): ListenAddress {
  const bad = (why: string) =>
    new SyntaxError(`invalid listen address ${JSON.stringify(text)}: ${why}`);
  let hostname: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) throw bad(`an IPv6 address opened with "[" needs a closing "]"`);
    hostname = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) throw bad(`expected ":PORT" after "]"`);
    portText = rest === "" ? undefined : rest.slice(1);
    if (!hostname.includes(":") || !IPV6.test(hostname)) {
      throw bad(`"${hostname}" in brackets is not an IPv6 address`);
    }
  } else {
    const colons = text.split(":").length - 1;
    if (colons > 1) throw bad(`write an IPv6 address in brackets, e.g. "[::1]:16514"`);
    const colon = text.lastIndexOf(":");
    hostname = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (hostname === "") throw bad(`the address is empty; use "0.0.0.0" or "[::]" for every one`);
    if (!HOST_NAME.test(hostname)) throw bad(`"${hostname}" is not an IPv4 address or host name`);
  }
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) throw bad(`port "${portText}" is not a number`);
    port = Number(portText);
    if (port < 1 || port > 65535) throw bad(`port ${port} is not between 1 and 65535`);
  }
  return { hostname, port };
}

/**
 * `host:port`, with an IPv6 literal in brackets; an IPv4 client of a dual-stack `[::]` listener
 * (`::ffff:192.0.2.7`) shows as its IPv4 address.
 */
export function formatAddress(hostname: string, port: number): string {
  const host = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(hostname)?.[1] ?? hostname;
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}
