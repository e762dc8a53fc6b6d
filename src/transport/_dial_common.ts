/**
 * What every dialing transport shares: the options, the default deadline, the cause text and the
 * deadline runner. A leaf: the transports import it, and so does the dispatcher in dial.ts, so no
 * transport imports the dispatcher back. Private to `transport/`.
 *
 * @module
 */

import type { Logger } from "../log/logger.ts";
import { errorMessage } from "../log/error_message.ts";
import { DialError } from "./channel.ts";

/** Options for dialing an upstream (`dial` in dial.ts and each transport's own). */
export interface DialOptions {
  /** The upstream's name, for messages and logs. */
  name: string;
  /**
   * Time allowed for the whole connection setup (connect, handshakes, confirmation), in ms.
   *
   * @default {10000}
   */
  timeoutMs?: number;
  /** The client opens read-only: unix upstreams then use the daemon's read-only socket. */
  readonly?: boolean;
  /** Where transport diagnostics go (ssh's stderr, TLS warnings). */
  logger?: Logger;
}

/** The connection timeout applied when none is given, in ms. */
export const DEFAULT_DIAL_TIMEOUT_MS = 10000;

/** Describes an error from the operating system briefly: "Connection refused (os error 111)". */
export function describeCause(error: unknown): string {
  return errorMessage(error);
}

/**
 * Runs `connect` with a deadline of `timeoutMs`; on timeout, `cleanup` releases what the attempt
 * had opened and a {@linkcode DialError} says what timed out.
 */
export async function withDeadline<T>(
  what: string,
  timeoutMs: number,
  connect: () => Promise<T>,
  cleanup: (value: T) => void = () => {},
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const attempt = connect();
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new DialError(`${what}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([attempt, deadline]);
  } finally {
    clearTimeout(timer);
    if (timedOut) attempt.then(cleanup, () => {});
  }
}
