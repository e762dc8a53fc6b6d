/**
 * `[audit]` made real for `serve` and stdio mode: the log opened with the config's options and
 * the tap that feeds it. With audit off nothing here runs, so no body is ever decoded.
 *
 * @module
 */

import { AuditLog } from "../audit/log/audit_log.ts";
import { AuditPolicy } from "../audit/policy.ts";
import { AuditTap, type AuditTapOptions } from "../audit/tap.ts";
import type { AuditConfig } from "../config/schema.ts";
import { errorMessage } from "../log/error_message.ts";
import type { Logger } from "../log/logger.ts";
import type { SessionObservers } from "../proxy/observer.ts";

/** A running audit: the observers to give sessions, and how to stop it. */
export interface AuditRuntime {
  /** The tap. */
  observers: SessionObservers;
  /** Writes what is queued, seals and closes the log. */
  close(): Promise<void>;
}

/**
 * Opens the audit log of `config` (making its directory, mode 0750, when missing) and makes its
 * tap; undefined when audit is off. `flushDelayMs`: see {@linkcode AuditTapOptions}.
 *
 * @throws {Error} naming the file when the log or its key state cannot be opened
 */
export async function openAudit(
  config: AuditConfig,
  logger: Logger,
  options: Pick<AuditTapOptions, "flushDelayMs"> = {},
): Promise<AuditRuntime | undefined> {
  if (!config.enabled) return undefined;
  const dir = config.path.slice(0, config.path.lastIndexOf("/"));
  if (dir !== "") {
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o750 });
    } catch (error) {
      throw new Error(`Cannot create the audit log's directory "${dir}": ${errorMessage(error)}`);
    }
  }
  const log = await AuditLog.open(config.path, {
    rotateBytes: config.rotateBytes,
    keep: config.keep,
    sealIntervalMs: config.sealIntervalMs,
    keyStatePath: config.keyState,
    backpressure: config.backpressure,
    maxBufferedBytes: config.maxBufferedBytes,
    syncIntervalMs: config.syncIntervalMs,
    mode: config.mode,
  });
  const tap = new AuditTap(log, {
    policy: new AuditPolicy(config.rules),
    redactFields: config.redactFields,
    maxRecordBytes: config.maxRecordBytes,
    backpressure: config.backpressure,
    logger: logger.child({ audit: config.path }),
    flushDelayMs: options.flushDelayMs,
  });
  return {
    observers: tap,
    async close() {
      tap.flush();
      await log.close();
    },
  };
}
