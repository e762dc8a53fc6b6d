/**
 * Why a shared-mode client whose replies cannot be queued is closed. A reply cannot wait: it
 * would hold up the upstream connection other clients share. So a client that does not read its
 * replies is closed when its queue is full, or when the queue is past the client's allowance
 * while the process-wide buffer budget (`max_buffered_bytes`) is used up.
 *
 * @module
 */

import type { Logger } from "../../log/logger.ts";
import { type BufferBudget, CLIENT_ALLOWANCE_BYTES } from "../buffer_budget.ts";

/** What {@linkcode notReadingReason} is told. */
export interface ReplyBacklog {
  /** Bytes queued for the client. */
  queued: number;
  /** The reply that did not fit. */
  reply: number;
  /** The client's own queue limit. */
  maxQueued: number;
  /** The budget its queue draws on past the allowance, if any. */
  budget: BufferBudget | undefined;
}

/** Logs, with the numbers, which limit a backlog of replies hit; returns the close reason. */
export function notReadingReason(log: Logger, backlog: ReplyBacklog): string {
  const { queued, reply, maxQueued, budget } = backlog;
  if (queued + reply > maxQueued || budget === undefined) {
    log.warning("Closing client: it does not read its replies", {
      queued,
      reply,
      limit: maxQueued,
    });
    return `did not read its replies (${queued} bytes waiting)`;
  }
  log.warning("Closing client: it does not read its replies and max_buffered_bytes is used up", {
    queued,
    reply,
    allowance: CLIENT_ALLOWANCE_BYTES,
    used: budget.used,
    limit: budget.maxBytes,
  });
  return `did not read its replies (${queued} bytes waiting, past its ${CLIENT_ALLOWANCE_BYTES}-` +
    `byte allowance, with max_buffered_bytes ${budget.maxBytes} used up)`;
}
