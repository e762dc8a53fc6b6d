/**
 * The audit log's files on disk, shared safely by several processes: the active file `PATH`, the
 * rotated files `PATH.1` (newest) .. `PATH.KEEP`, and the lock file `PATH.lock`.
 *
 * Every write happens under an exclusive flock(2) on `PATH.lock` (Deno's `FsFile.lock`), held for
 * one batch. Under the lock the writer learns the chain head: from its own cache when the active
 * file is still the one it wrote last and has the size it left it at, else from the file's tail
 * (or from `PATH.1` when the active file is empty). So several `virtmux stdio` processes writing
 * to one path interleave whole batches and extend one chain. The lock file is never renamed, so
 * rotation by one process is seen by the others as an inode change of `PATH`.
 *
 * A tail that does not end in a newline was torn by a crash mid-write: the next writer ends it
 * with a newline (never truncates, so tailers do not see the file shrink) and appends a
 * `torn_line` record that chains to the last complete line.
 *
 * @module
 */

import { GENESIS, lineHash } from "./chain.ts";
import { syncDirectory } from "./key_file.ts";
import { parseRecordLine, recordLine, SEAL_KIND, TORN_LINE_KIND } from "./record_line.ts";

/** Where the chain stands: what the next record must carry. */
export interface ChainHead {
  /** The next record's `seq`. */
  seq: number;
  /** The next record's `prev`. */
  prev: string;
  /** The epoch of the last record when it is a seal. */
  sealEpoch?: number;
  /** Whether the head was read from disk (another process, or a first open) rather than cached. */
  fromDisk: boolean;
}

const TAIL_CHUNK = 64 * 1024;
const NEWLINE = 0x0a;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The active audit file and its rotated predecessors, locked per batch. */
export class LockedLogFile {
  readonly #path: string;
  readonly #keep: number;
  readonly #mode: number;
  readonly #now: () => Date;
  readonly #lock: Deno.FsFile;
  #file: Deno.FsFile | undefined;
  #ino: number | null = null;
  /** Size of the active file after our last write, and the head it left. */
  #cachedEnd = -1;
  #cachedHead: ChainHead | undefined;
  #locked = false;

  private constructor(
    path: string,
    lock: Deno.FsFile,
    keep: number,
    mode: number,
    now: () => Date,
  ) {
    this.#path = path;
    this.#lock = lock;
    this.#keep = keep;
    this.#mode = mode;
    this.#now = now;
  }

  /**
   * Opens (creating) the lock file of `path`; the active file is opened at the first lock.
   *
   * @param path the active file
   * @param options rotated files kept, file mode and clock
   */
  static async open(
    path: string,
    options: { keep: number; mode: number; now: () => Date },
  ): Promise<LockedLogFile> {
    const lock = await Deno.open(`${path}.lock`, {
      read: true,
      write: true,
      create: true,
      mode: options.mode,
    });
    return new LockedLogFile(path, lock, options.keep, options.mode, options.now);
  }

  /** The active file's path. */
  get path(): string {
    return this.#path;
  }

  /** Size of the active file; valid under the lock. */
  get size(): number {
    return this.#cachedEnd;
  }

  /**
   * Takes the exclusive lock and returns the chain head, recovering a torn tail first.
   * Call {@linkcode unlock} in a `finally`.
   */
  async lock(): Promise<ChainHead> {
    await this.#lock.lock(true);
    this.#locked = true;
    try {
      const file = await this.#current();
      const size = (await file.stat()).size;
      if (this.#cachedHead !== undefined && size === this.#cachedEnd) {
        return { ...this.#cachedHead, fromDisk: false };
      }
      const head = await this.#readHead(file, size);
      return head;
    } catch (error) {
      await this.unlock();
      throw error;
    }
  }

  /** Releases the lock. */
  async unlock(): Promise<void> {
    if (!this.#locked) return;
    this.#locked = false;
    await this.#lock.unlock();
  }

  /**
   * Appends complete lines (each without its newline) under the lock; `head` is the head after
   * them.
   */
  async append(lines: string, head: ChainHead): Promise<void> {
    const bytes = encoder.encode(lines);
    await writeAll(this.#file!, bytes);
    // Under the lock nobody else appends: the file grew by exactly our bytes.
    this.#cachedEnd += bytes.length;
    this.#cachedHead = head;
  }

  /** fdatasync(2) of the active file. */
  async syncData(): Promise<void> {
    try {
      await this.#file?.syncData();
    } catch (error) {
      // Another process rotated the file away and we closed it; its rotation fsynced it.
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }

  /** fsync(2) of the active file. */
  async sync(): Promise<void> {
    await this.#file?.sync();
  }

  /**
   * Renames `PATH.(KEEP-1)` .. `PATH` to `PATH.KEEP` .. `PATH.1` (dropping the old `PATH.KEEP`)
   * and starts an empty `PATH`; under the lock, after the last record of the file is written.
   */
  async rotate(): Promise<void> {
    for (let n = this.#keep; n >= 1; n--) {
      const from = n === 1 ? this.#path : `${this.#path}.${n - 1}`;
      try {
        await Deno.rename(from, `${this.#path}.${n}`);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    await syncDirectory(this.#path);
    await this.#current();
    this.#cachedEnd = 0;
  }

  /** Closes the files (releasing the lock if held). */
  async close(): Promise<void> {
    await this.unlock();
    this.#file?.close();
    this.#file = undefined;
    this.#lock.close();
  }

  /** The file now at `PATH`, reopened when another process rotated it away. */
  async #current(): Promise<Deno.FsFile> {
    let ino: number | null | undefined;
    try {
      ino = (await Deno.stat(this.#path)).ino;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    if (this.#file !== undefined && ino !== undefined && ino === this.#ino) return this.#file;
    this.#file?.close();
    this.#file = await Deno.open(this.#path, {
      read: true,
      append: true,
      create: true,
      mode: this.#mode,
    });
    this.#ino = (await this.#file.stat()).ino;
    this.#cachedEnd = -1;
    return this.#file;
  }

  async #readHead(file: Deno.FsFile, size: number): Promise<ChainHead> {
    const tail = await readTail(file, size);
    let head: ChainHead;
    if (tail.lastLine !== undefined) {
      head = headAfter(this.#path, tail.lastLine);
    } else {
      head = await this.#headOfPrevious();
    }
    if (tail.torn !== undefined) {
      const completed = parseRecordLine(decoder.decode(tail.torn));
      if (completed !== undefined && completed.seq === head.seq && completed.prev === head.prev) {
        // The crash came after the whole record and before its newline: finish the line.
        await writeAll(file, encoder.encode("\n"));
        head = headAfter(this.#path, tail.torn);
      } else {
        const body = JSON.stringify({
          time: this.#now().toISOString(),
          kind: TORN_LINE_KIND,
          bytes: tail.torn.length,
        });
        const line = recordLine(head.seq, head.prev, body);
        await writeAll(file, encoder.encode(`\n${line}\n`));
        head = { seq: head.seq + 1, prev: lineHash(line), fromDisk: true };
      }
    }
    this.#cachedEnd = (await file.stat()).size;
    this.#cachedHead = head;
    return head;
  }

  /** The head at the end of `PATH.1`, or the genesis head when there is none. */
  async #headOfPrevious(): Promise<ChainHead> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(`${this.#path}.1`, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return { seq: 0, prev: GENESIS, fromDisk: true };
      throw error;
    }
    try {
      const tail = await readTail(file, (await file.stat()).size);
      if (tail.lastLine === undefined) return { seq: 0, prev: GENESIS, fromDisk: true };
      return headAfter(`${this.#path}.1`, tail.lastLine);
    } finally {
      file.close();
    }
  }
}

/** The head after `line`, the last complete line of `path`. */
function headAfter(path: string, line: Uint8Array): ChainHead {
  const record = parseRecordLine(decoder.decode(line));
  if (record === undefined) {
    throw new Error(
      `Cannot continue the audit chain in "${path}": its last line is not an audit record`,
    );
  }
  const head: ChainHead = { seq: record.seq + 1, prev: lineHash(line), fromDisk: true };
  if (record.kind === SEAL_KIND && Number.isSafeInteger(record.epoch)) {
    head.sealEpoch = record.epoch as number;
  }
  return head;
}

/** The last complete line of a file (no newline) and the torn bytes after it, if any. */
async function readTail(
  file: Deno.FsFile,
  size: number,
): Promise<{ lastLine?: Uint8Array; torn?: Uint8Array }> {
  let window = Math.min(size, TAIL_CHUNK);
  while (window > 0) {
    const bytes = await readAt(file, size - window, window);
    const end = bytes[bytes.length - 1] === NEWLINE ? bytes.length - 1 : bytes.lastIndexOf(NEWLINE);
    const torn = end === bytes.length - 1 ? undefined : bytes.subarray(end + 1);
    if (end < 0) {
      if (window === size) return { torn };
    } else {
      const start = end === 0 ? -1 : bytes.lastIndexOf(NEWLINE, end - 1);
      if (start >= 0 || window === size) {
        return { lastLine: bytes.subarray(start + 1, end), torn };
      }
    }
    window = Math.min(size, window * 4);
  }
  return {};
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const bytes = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(bytes.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return bytes.subarray(0, filled);
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}
