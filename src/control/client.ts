/**
 * The client side of the control socket: send one request, read the one response.
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import type { ControlRequest, ControlResponse } from "./protocol.ts";

/**
 * Sends `request` to the control socket at `path` and resolves to the response.
 *
 * @throws {Error} naming the path when the socket cannot be reached or answers nonsense.
 */
export async function controlRequest(
  path: string,
  request: ControlRequest,
): Promise<ControlResponse> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch (error) {
    throw new Error(
      `Cannot reach virtmux's control socket "${path}": ${errorMessage(error)} ` +
        "(is virtmux serve running with this config, and are you its owner or root?)",
    );
  }
  try {
    const bytes = new TextEncoder().encode(JSON.stringify(request) + "\n");
    for (let sent = 0; sent < bytes.length;) sent += await conn.write(bytes.subarray(sent));
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(65536);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    const text = new TextDecoder().decode(concat(chunks)).trim();
    try {
      return JSON.parse(text) as ControlResponse;
    } catch {
      throw new Error(
        `Control socket "${path}" answered something else than JSON: ${text.slice(0, 80)}`,
      );
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
