/**
 * The `/metrics` endpoint: Prometheus text over plain HTTP on `[metrics] listen`.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { CONTENT_TYPE } from "./text_format.ts";

/** Options for {@linkcode serveMetrics}. */
export interface ServeMetricsOptions {
  /** Renders the body of a scrape. */
  render: () => string;
  /** Where to log the address and failures. */
  logger: Logger;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The port it listens on (useful with port 0). */
  port: number;
  /** Stops it. */
  close(): Promise<void>;
}

/**
 * Splits `"HOST:PORT"` (`"[::1]:9477"` for IPv6) into its parts.
 *
 * @throws {SyntaxError} naming the text when it is not of that form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseListenAddress } from "./http_server.ts";
 *
 * assert.deepEqual(parseListenAddress("127.0.0.1:9477"), { hostname: "127.0.0.1", port: 9477 });
 * assert.deepEqual(parseListenAddress("[::1]:0"), { hostname: "::1", port: 0 });
 * ```
 */
export function parseListenAddress(text: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) {
    throw new SyntaxError(`Cannot parse metrics address "${text}": expected HOST:PORT`);
  }
  return { hostname: match[1] ?? match[2], port };
}

/** Serves GET `/metrics` on `address`; everything else gets 404. */
export function serveMetrics(address: string, options: ServeMetricsOptions): MetricsServer {
  const { hostname, port } = parseListenAddress(address);
  const server = Deno.serve({
    hostname,
    port,
    onListen: () => {},
    onError: (error) => {
      options.logger.error("Metrics request failed", { error: String(error) });
      return new Response("internal error\n", { status: 500 });
    },
  }, (request) => {
    const path = new URL(request.url).pathname;
    if (path !== "/metrics") {
      return new Response("virtmux serves Prometheus metrics at /metrics\n", { status: 404 });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    return new Response(options.render(), { headers: { "content-type": CONTENT_TYPE } });
  });
  const bound = server.addr.port;
  options.logger.info("Serving metrics", { address: `${hostname}:${bound}`, path: "/metrics" });
  return { port: bound, close: () => server.shutdown() };
}
