/**
 * The audit tap: the {@linkcode SessionObservers} that the server and stdio mode are given when
 * `[audit] enabled = true`. It makes a {@linkcode SessionTap} per session and writes what they
 * record to one {@linkcode AuditLog}.
 *
 * Backpressure: with `block`, a record's write promise is handed back to the session, which
 * waits for it before reading on (nothing is lost; forwarding slows to the disk's pace); with
 * `drop`, the session never waits and the log counts what it drops. A log that cannot be written
 * any more (disk error) is reported on the logger at most once a minute and forwarding goes on.
 *
 * @example Audit a server's sessions
 * ```ts ignore
 * const log = await AuditLog.open("/var/log/virtmux/audit.jsonl");
 * const tap = new AuditTap(log, { policy: new AuditPolicy([]) });
 * const server = new Server({ ...options, observers: tap });
 * ```
 *
 * @module
 */

import { errorMessage } from "../log/error_message.ts";
import type { Logger } from "../log/logger.ts";
import type {
  ClientIdentity,
  ObservedUpstream,
  SessionObserver,
  SessionObservers,
} from "../proxy/observer.ts";
import type { AuditPolicy } from "./policy.ts";
import { Redactor } from "./redact.ts";
import { SessionTap, type TapContext } from "./session_tap.ts";
import { capRecord } from "./size_cap.ts";

/** Where records go: an {@linkcode AuditLog} or a test's stand-in. */
export interface RecordSink {
  /** Queues a record; the promise settles when the queue has room again. */
  write(record: Record<string, unknown>): Promise<void>;
}

/** Options for {@linkcode AuditTap}. */
export interface AuditTapOptions {
  /** Which calls are recorded, and how fully. */
  policy: AuditPolicy;
  /** Field names redacted wherever they occur (`redact_fields`). */
  redactFields?: readonly string[];
  /**
   * Largest record, in characters of JSON (`max_record_bytes`).
   *
   * @default {131072}
   */
  maxRecordBytes?: number;
  /**
   * `block`: sessions wait for the log; `drop`: they never do.
   *
   * @default {"block"}
   */
  backpressure?: "block" | "drop";
  /** Where write failures are reported. */
  logger?: Logger;
  /**
   * How long records gather before they go to the log together, in ms; 0 hands each to the log
   * at once (stdio mode: one client, and a process that libvirt may kill 10 ms after SIGTERM).
   *
   * @default {10}
   */
  flushDelayMs?: number;
}

/** How often a failing log is reported. */
const FAILURE_REPORT_MS = 60_000;
/** How long records gather before they go to the log together, by default. */
const FLUSH_DELAY_MS = 10;
/** Records that go to the log at once, without waiting for the delay. */
const FLUSH_RECORDS = 512;

/** Makes a {@linkcode SessionTap} per session, all writing to one log. */
export class AuditTap implements SessionObservers, TapContext {
  readonly policy: AuditPolicy;
  readonly redactor: Redactor;
  readonly maxBytes: number;
  readonly #sink: RecordSink;
  readonly #block: boolean;
  readonly #logger: Logger | undefined;
  readonly #flushDelayMs: number;
  #lastFailureReport = -Infinity;
  readonly #onError = (error: unknown) => this.#failed(error);
  /** Records waiting for the next flush (see {@linkcode AuditTap.emit}). */
  #pending: Record<string, unknown>[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** Set while the log pushes back (`block`): what sessions wait for. */
  #blocked: Promise<void> | undefined;
  readonly #flushNow = () => this.flush();

  /** A tap writing to `sink`. */
  constructor(sink: RecordSink, options: AuditTapOptions) {
    this.#sink = sink;
    this.policy = options.policy;
    this.redactor = new Redactor(options.redactFields ?? []);
    this.maxBytes = options.maxRecordBytes ?? 131072;
    this.#block = (options.backpressure ?? "block") === "block";
    this.#logger = options.logger;
    this.#flushDelayMs = options.flushDelayMs ?? FLUSH_DELAY_MS;
  }

  /** A tap for a new session; writes its `connect` record. */
  observe(identity: ClientIdentity, upstream: ObservedUpstream): SessionObserver {
    const session = new SessionTap(this, { identity, upstream });
    void this.emit(session.connectRecord());
    return session;
  }

  /**
   * Queues `record` for the log. Records gather for up to `flushDelayMs` (or
   * {@linkcode FLUSH_RECORDS} of them) and go to the log together, so that it writes them in one
   * locked batch rather than one batch per reply: forwarding never waits for this, and a killed
   * process loses at most these few milliseconds more. Under `block`, returns the promise to
   * wait for while the log pushes back (its queue is full), else undefined; it never rejects.
   */
  emit(record: Record<string, unknown>): Promise<void> | undefined {
    if (this.#pending.push(record) >= FLUSH_RECORDS || this.#flushDelayMs === 0) this.flush();
    else this.#flushTimer ??= setTimeout(this.#flushNow, this.#flushDelayMs);
    return this.#blocked;
  }

  /** Hands every queued record to the log now (before closing it, say). */
  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const records = this.#pending;
    if (records.length === 0) return;
    this.#pending = [];
    let last: Promise<void> | undefined;
    for (const record of records) {
      try {
        last = this.#sink.write(record);
      } catch (error) {
        this.#failed(error);
        continue;
      }
      last.catch(this.#onError);
    }
    if (!this.#block || last === undefined) return;
    // Whether the log pushes back is known once the last write's promise settles: until then
    // new records wait for it (a microtask when the log has room).
    const unblock = () => {
      if (this.#blocked === blocked) this.#blocked = undefined;
    };
    const blocked: Promise<void> = last.then(unblock, unblock);
    this.#blocked = blocked;
  }

  /** Applies the size cap. */
  cap(record: Record<string, unknown>): void {
    capRecord(record, this.maxBytes);
  }

  #failed(error: unknown): void {
    const now = Date.now();
    if (now - this.#lastFailureReport < FAILURE_REPORT_MS) return;
    this.#lastFailureReport = now;
    this.#logger?.error("Audit record lost", { error: errorMessage(error) });
  }
}
