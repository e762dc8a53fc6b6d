/**
 * One way to turn a caught value into the text a log line or a client's error shows.
 *
 * @module
 */

/**
 * The message of `error` when it is an `Error`, else its string form.
 *
 * @example Usage
 * ```ts
 * import { errorMessage } from "./error_message.ts";
 * errorMessage(new Error("Connection refused")); // "Connection refused"
 * errorMessage("plain"); // "plain"
 * ```
 */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
