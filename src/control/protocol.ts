/**
 * The control socket's protocol: one JSON request line from the client, one JSON response line
 * from the server, then the server closes. Modelled on virt-admin's client commands
 * (`srv-clients-list`, `client-disconnect`), not on its wire protocol.
 *
 * ```
 * → {"command":"status"}
 * ← {"ok":true,"status":{...ServerSnapshot}}
 * → {"command":"clients"}
 * ← {"ok":true,"clients":[{...ClientSnapshot}]}
 * → {"command":"client-disconnect","id":7}
 * ← {"ok":true,"disconnected":7}      or {"ok":false,"error":"..."}
 * ```
 *
 * @module
 */

import type { ClientSnapshot, ServerSnapshot } from "../proxy/server_snapshot.ts";

/** A request line. */
export type ControlRequest =
  | { command: "status" }
  | { command: "clients" }
  | { command: "client-disconnect"; id: number };

/** A response line. */
export type ControlResponse =
  | { ok: true; status: ServerSnapshot }
  | { ok: true; clients: ClientSnapshot[] }
  | { ok: true; disconnected: number }
  | { ok: false; error: string };

/** Longest request line accepted, in bytes. */
export const MAX_REQUEST_BYTES = 4096;

/**
 * Parses a request line.
 *
 * @throws {SyntaxError} saying what is wrong with it.
 */
export function parseRequest(line: string): ControlRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new SyntaxError(`Cannot parse control request: not JSON: ${line.slice(0, 80)}`);
  }
  if (typeof value !== "object" || value === null) {
    throw new SyntaxError("Cannot parse control request: expected an object");
  }
  const { command, id } = value as { command?: unknown; id?: unknown };
  switch (command) {
    case "status":
    case "clients":
      return { command };
    case "client-disconnect":
      if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 1) {
        throw new SyntaxError(
          `Cannot parse control request: client-disconnect needs a client id, got ${
            JSON.stringify(id)
          }`,
        );
      }
      return { command, id };
  }
  throw new SyntaxError(`Cannot parse control request: unknown command ${JSON.stringify(command)}`);
}
