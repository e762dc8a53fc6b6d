/**
 * The audit log writer: takes record objects from the audit tap, chains them (`seq`, `prev`),
 * writes them in batches under the file lock, seals the chain at an interval, at rotation and at
 * close, rotates by size, and pushes back on its callers when the disk falls behind.
 *
 * Durability: each batch is one write(2) of whole lines, so a killed process loses only records
 * still queued in memory (those of the batch being formed, a few milliseconds' worth); a crash of
 * the machine loses at most what was written since the last fdatasync, which runs
 * `syncIntervalMs` after the first unsynced write (default 100 ms; 0 = after every batch). Seals
 * and rotation fsync before the key evolves or the file is renamed.
 *
 * @module
 */

import { errorMessage } from "../../log/error_message.ts";
import { evolveKey, lineHash, sealHmac } from "./chain.ts";
import { readKeyState, writeKeyState } from "./key_file.ts";
import { type ChainHead, LockedLogFile } from "./locked_log_file.ts";
import { DROPPED_KIND, recordBody, recordLine, SEAL_KIND } from "./record_line.ts";

/** What {@linkcode AuditLog.write} does when `maxBufferedBytes` are queued. */
export type Backpressure = "block" | "drop";

/** Why a seal was written. */
export type SealReason = "interval" | "rotate" | "close" | "request";

/** Options for {@linkcode AuditLog.open}. */
export interface AuditLogOptions {
  /**
   * Rotate when the active file reaches this size.
   *
   * @default {67108864}
   */
  rotateBytes?: number;
  /**
   * Rotated files kept (`PATH.1` .. `PATH.KEEP`), at least 1.
   *
   * @default {10}
   */
  keep?: number;
  /**
   * Seal this often while records arrive.
   *
   * @default {5000}
   */
  sealIntervalMs?: number;
  /** The key state file `virtmux audit init-key --state` made; without it, no seals. */
  keyStatePath?: string;
  /**
   * `block`: `write()` resolves once the queue is under `maxBufferedBytes`, nothing is lost;
   * `drop`: records past the bound are counted and a `dropped` record says how many.
   *
   * @default {"block"}
   */
  backpressure?: Backpressure;
  /**
   * Bound of the in-memory queue, in bytes of JSON text.
   *
   * @default {4194304}
   */
  maxBufferedBytes?: number;
  /**
   * fdatasync this long after the first unsynced write; 0 syncs after every batch.
   *
   * @default {100}
   */
  syncIntervalMs?: number;
  /**
   * Mode of files created.
   *
   * @default {0o600}
   */
  mode?: number;
  /** The clock for `time` fields; injectable in tests. */
  now?: () => Date;
}

/** Counters of an {@linkcode AuditLog}. */
export interface AuditLogStats {
  /** Records written by this process (seals and `dropped` records included). */
  written: number;
  /** Records dropped under `backpressure = "drop"`. */
  dropped: number;
  /** Seals written by this process. */
  seals: number;
  /** Locked write batches. */
  batches: number;
}

const MAX_BATCH_BYTES = 1 << 20;
/** Bytes the envelope adds to a body, counted against the queue bound. */
const RECORD_OVERHEAD = 100;
const RESOLVED: Promise<void> = Promise.resolve();

/** A hash-chained, sealed, rotated JSON-lines audit log; safe to share between processes. */
export class AuditLog {
  readonly #files: LockedLogFile;
  readonly #rotateBytes: number;
  readonly #keyStatePath: string | undefined;
  readonly #drop: boolean;
  readonly #maxBufferedBytes: number;
  readonly #syncIntervalMs: number;
  readonly #now: () => Date;
  readonly #queue: string[] = [];
  #queuedBytes = 0;
  #waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  #draining: Promise<void> | undefined;
  #sealWanted: SealReason | undefined;
  #unsealed = false;
  #dirty = false;
  #dropped = 0;
  #droppedFirst: string | undefined;
  #failure: Error | undefined;
  #closed = false;
  #sealTimer: ReturnType<typeof setInterval> | undefined;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #stats: AuditLogStats = { written: 0, dropped: 0, seals: 0, batches: 0 };

  private constructor(files: LockedLogFile, options: AuditLogOptions) {
    this.#files = files;
    this.#rotateBytes = options.rotateBytes ?? 64 * 1024 * 1024;
    this.#keyStatePath = options.keyStatePath;
    this.#drop = (options.backpressure ?? "block") === "drop";
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.#syncIntervalMs = options.syncIntervalMs ?? 100;
    this.#now = options.now ?? (() => new Date());
    if (this.#keyStatePath !== undefined) {
      const timer = setInterval(() => {
        if (!this.#unsealed || this.#closed) return;
        this.#sealWanted ??= "interval";
        this.#kick();
      }, options.sealIntervalMs ?? 5000);
      Deno.unrefTimer(timer);
      this.#sealTimer = timer;
    }
  }

  /**
   * Opens the log at `path` (created on the first write), checking the key state when sealing.
   *
   * @param path the active file, e.g. `/var/log/virtmux/audit.jsonl`
   * @param options rotation, sealing, backpressure and sync policy
   * @throws {Error} naming the file when the key state cannot be read or the lock file made
   */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    const keep = options.keep ?? 10;
    if (!Number.isSafeInteger(keep) || keep < 1) {
      throw new RangeError(`Cannot open audit log "${path}": keep ${keep} is not 1 or more`);
    }
    if (options.keyStatePath !== undefined) await readKeyState(options.keyStatePath);
    const files = await LockedLogFile.open(path, {
      keep,
      mode: options.mode ?? 0o600,
      now: options.now ?? (() => new Date()),
    });
    return new AuditLog(files, options);
  }

  /** Counters so far. */
  get stats(): AuditLogStats {
    return { ...this.#stats };
  }

  /**
   * Queues one record (a JSON-safe object; bigint values become exact integers). Resolves at
   * once while the queue is under its bound; in `block` mode, else when it drains under it.
   *
   * @throws {Error} (as a rejection) after the log was closed or a write to disk failed
   */
  write(record: Record<string, unknown>): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closed) {
      return Promise.reject(new Error(`Cannot write to audit log "${this.#files.path}": closed`));
    }
    if (this.#drop && this.#queuedBytes >= this.#maxBufferedBytes) {
      this.#dropped++;
      this.#stats.dropped++;
      this.#droppedFirst ??= this.#now().toISOString();
      return RESOLVED;
    }
    let body: string;
    try {
      body = recordBody(record, this.#now);
    } catch (error) {
      return Promise.reject(
        new TypeError(
          `Cannot write a record to audit log "${this.#files.path}": ${errorMessage(error)}`,
        ),
      );
    }
    this.#enqueueDropped();
    this.#enqueue(body);
    if (this.#queuedBytes < this.#maxBufferedBytes) return RESOLVED;
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Resolves when every record queued so far is written (not necessarily synced). */
  async flush(): Promise<void> {
    while (this.#draining !== undefined) await this.#draining;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Writes everything queued, then a seal now (when sealing is configured). */
  async seal(): Promise<void> {
    await this.#sealAfterFlush("request");
  }

  /** Writes everything queued, seals, fsyncs and closes; later writes are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sealTimer);
    clearTimeout(this.#syncTimer);
    this.#enqueueDropped();
    try {
      if (this.#unsealed) await this.#sealAfterFlush("close");
      await this.#files.sync();
    } finally {
      await this.#files.close();
    }
  }

  /** Writes the queue out, then a seal after its last record. */
  async #sealAfterFlush(reason: SealReason): Promise<void> {
    await this.flush();
    this.#sealWanted = reason;
    this.#kick();
    await this.flush();
  }

  #enqueue(body: string): void {
    this.#queue.push(body);
    this.#queuedBytes += body.length + RECORD_OVERHEAD;
    this.#unsealed = true;
    this.#kick();
  }

  #enqueueDropped(): void {
    if (this.#dropped === 0) return;
    const body = JSON.stringify({
      time: this.#now().toISOString(),
      kind: DROPPED_KIND,
      count: this.#dropped,
      first_dropped: this.#droppedFirst,
    });
    this.#dropped = 0;
    this.#droppedFirst = undefined;
    this.#enqueue(body);
  }

  /** Starts the drain loop unless it runs; only called with work queued or a seal wanted. */
  #kick(): void {
    if (this.#draining !== undefined || this.#failure !== undefined) return;
    if (this.#queue.length === 0 && this.#sealWanted === undefined) return;
    this.#draining = this.#drain();
  }

  /**
   * Writes batches until nothing is left. The loop's last check and the reset of `#draining`
   * run in one synchronous step, so a record queued at any moment is either seen by the loop or
   * starts a new one.
   */
  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0 || this.#sealWanted !== undefined) await this.#writeBatch();
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#draining = undefined;
    }
  }

  /** One locked round: the queued records (up to a bound), then a seal and rotation if due. */
  async #writeBatch(): Promise<void> {
    let head = await this.#files.lock();
    try {
      if (head.fromDisk && head.sealEpoch !== undefined) await this.#recoverKeyState(head);
      const lines: string[] = [];
      let bytes = 0;
      let taken = 0;
      // Stop at the rotation size (give or take a record), so files stay near rotateBytes.
      const limit = Math.min(MAX_BATCH_BYTES, this.#rotateBytes - Math.max(0, this.#files.size));
      while (taken < this.#queue.length && (taken === 0 || bytes < limit)) {
        const body = this.#queue[taken++];
        bytes += body.length + RECORD_OVERHEAD;
        const line = recordLine(head.seq, head.prev, body);
        lines.push(line);
        head = { seq: head.seq + 1, prev: lineHash(line), fromDisk: false };
      }
      this.#queue.splice(0, taken);
      this.#queuedBytes -= bytes;
      this.#release();
      if (lines.length > 0) {
        lines.push("");
        await this.#files.append(lines.join("\n"), head);
        this.#stats.written += lines.length - 1;
        this.#stats.batches++;
        this.#dirty = true;
      }
      if (this.#files.size >= this.#rotateBytes) {
        head = await this.#sealLocked(head, "rotate");
        await this.#files.rotate();
      } else if (this.#sealWanted !== undefined) {
        head = await this.#sealLocked(head, this.#sealWanted);
      }
    } finally {
      await this.#files.unlock();
    }
    await this.#scheduleSync();
  }

  /** Writes a seal with the current epoch key, fsyncs, then evolves the key state. */
  async #sealLocked(head: ChainHead, reason: SealReason): Promise<ChainHead> {
    this.#sealWanted = undefined;
    if (this.#keyStatePath === undefined || head.sealEpoch !== undefined || head.seq === 0) {
      await this.#files.sync();
      this.#unsealed = this.#queue.length > 0;
      return head;
    }
    const state = await readKeyState(this.#keyStatePath);
    const body = JSON.stringify({
      time: this.#now().toISOString(),
      kind: SEAL_KIND,
      reason,
      epoch: state.epoch,
      key_id: state.keyId,
      hmac: sealHmac(state.key, head.prev, head.seq, state.epoch),
    });
    const line = recordLine(head.seq, head.prev, body);
    const next: ChainHead = {
      seq: head.seq + 1,
      prev: lineHash(line),
      sealEpoch: state.epoch,
      fromDisk: false,
    };
    await this.#files.append(line + "\n", next);
    await this.#files.sync();
    this.#dirty = false;
    await writeKeyState(this.#keyStatePath, {
      keyId: state.keyId,
      epoch: state.epoch + 1,
      key: evolveKey(state.key),
    });
    state.key.fill(0);
    this.#stats.written++;
    this.#stats.seals++;
    this.#unsealed = this.#queue.length > 0;
    return next;
  }

  /**
   * A writer that crashed between writing a seal and replacing the key state left the state at
   * the sealed epoch: move it past the seal that ends the file before anyone seals again.
   */
  async #recoverKeyState(head: ChainHead): Promise<void> {
    if (this.#keyStatePath === undefined || head.sealEpoch === undefined) return;
    const state = await readKeyState(this.#keyStatePath);
    if (state.epoch > head.sealEpoch) return;
    let key = state.key;
    for (let epoch = state.epoch; epoch <= head.sealEpoch; epoch++) key = evolveKey(key);
    await writeKeyState(this.#keyStatePath, {
      keyId: state.keyId,
      epoch: head.sealEpoch + 1,
      key,
    });
  }

  async #scheduleSync(): Promise<void> {
    if (!this.#dirty) return;
    if (this.#syncIntervalMs === 0) {
      this.#dirty = false;
      await this.#files.syncData();
      return;
    }
    if (this.#syncTimer !== undefined) return;
    const timer = setTimeout(() => {
      this.#syncTimer = undefined;
      if (!this.#dirty) return;
      this.#dirty = false;
      this.#files.syncData().catch((error) => this.#fail(error));
    }, this.#syncIntervalMs);
    Deno.unrefTimer(timer);
    this.#syncTimer = timer;
  }

  /** Wakes blocked writers once the queue is under its bound. */
  #release(): void {
    if (this.#queuedBytes >= this.#maxBufferedBytes) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  #fail(error: unknown): void {
    this.#failure = new Error(
      `Cannot write audit log "${this.#files.path}": ${errorMessage(error)}`,
    );
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter.reject(this.#failure);
  }
}
