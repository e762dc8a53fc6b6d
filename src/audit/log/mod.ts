/**
 * The audit log file: what the audit tap writes through and what `virtmux audit` reads.
 *
 * Layout:
 * - `audit_log.ts`: {@linkcode AuditLog}, the writer (batches, seals, rotation, backpressure)
 * - `locked_log_file.ts`: the files on disk, flock-shared between processes, the chain head
 * - `record_line.ts`: the `seq`/`prev` envelope of a line
 * - `chain.ts`: line hashes, key evolution, seal HMACs
 * - `key_file.ts`: the initial key and the key state files
 * - `log_reader.ts`, `verify.ts`, `verify_report.ts`: `virtmux audit verify`
 * - `show.ts`: `virtmux audit show`
 *
 * @module
 */

export {
  AuditLog,
  type AuditLogOptions,
  type AuditLogStats,
  type Backpressure,
  type SealReason,
} from "./audit_log.ts";
export { type VerifyFailure, verifyLog, type VerifyOptions, type VerifyResult } from "./verify.ts";
export { formatVerifyResult } from "./verify_report.ts";
export { formatRecord } from "./show.ts";
