/**
 * Reading an audit log back for verification: the files named (directories expanded), put in
 * chain order, and their lines one at a time with a little lookahead.
 *
 * Rotated files are ordered by the `seq` of their first record, not by name, so a renamed or
 * copied set still reads in the order the chain was written; the walk then checks each file's
 * first record against the last line of the file before it.
 *
 * @module
 */

import { join } from "node:path";
import { lineHash } from "./chain.ts";
import { type ChainRecord, parseRecordLine } from "./record_line.ts";

/** One line of a log file. */
export interface LogLine {
  /** The file. */
  file: string;
  /** 1-based line number in the file. */
  line: number;
  /** The line's text, newline excluded. */
  text: string;
  /** The line's length in bytes, newline excluded. */
  bytes: number;
  /** SHA-256 (hex) of the line's bytes. */
  hash: string;
  /** The record, when the line is a chain record. */
  record?: ChainRecord;
  /** Whether a newline ends the line (only a file's last line can lack one). */
  newline: boolean;
}

/** A file set aside because it holds no audit record. */
export interface SkippedFile {
  /** The file. */
  path: string;
  /** Why it was set aside. */
  reason: string;
}

const NEWLINE = 0x0a;
const decoder = new TextDecoder();

/**
 * The log files among `paths` in chain order; a directory stands for the files in it (lock,
 * temp and key files, and files whose first line is no audit record, are set aside).
 *
 * @throws {Error} naming a path that does not exist
 */
export async function collectLogFiles(
  paths: string[],
): Promise<{ files: string[]; skipped: SkippedFile[] }> {
  const candidates: { path: string; explicit: boolean }[] = [];
  for (const path of paths) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(`Cannot read audit log "${path}": no such file or directory`);
      }
      throw error;
    }
    if (!info.isDirectory) {
      candidates.push({ path, explicit: true });
      continue;
    }
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) {
      if (entry.isFile && !/\.(lock|tmp)$/.test(entry.name)) names.push(entry.name);
    }
    for (const name of names.sort()) candidates.push({ path: join(path, name), explicit: false });
  }
  const ordered: { path: string; firstSeq: number }[] = [];
  const skipped: SkippedFile[] = [];
  for (const { path, explicit } of candidates) {
    const first = await firstLine(path);
    if (first === undefined) {
      skipped.push({ path, reason: "empty" });
      continue;
    }
    const record = parseRecordLine(first.text);
    // A lone line without newline may be a record torn by a crash: keep it, last, to report it.
    if (record === undefined && !explicit && first.complete) {
      skipped.push({ path, reason: "not an audit log" });
      continue;
    }
    ordered.push({ path, firstSeq: record?.seq ?? Number.MAX_SAFE_INTEGER });
  }
  ordered.sort((a, b) => a.firstSeq - b.firstSeq);
  return { files: ordered.map((entry) => entry.path), skipped };
}

/** The lines of several files in order, read a file at a time, with lookahead. */
export class LineCursor {
  readonly #files: string[];
  #nextFile = 0;
  #pending: LogLine[] = [];
  #index = 0;

  /** A cursor over `files`, in the order given. */
  constructor(files: string[]) {
    this.#files = files;
  }

  /** The next line, or undefined at the end of the last file. */
  async next(): Promise<LogLine | undefined> {
    if (!(await this.#fill(1))) return undefined;
    return this.#pending[this.#index++];
  }

  /**
   * The line `ahead` lines after the one {@linkcode next} returned last (0: the next one),
   * without consuming it.
   */
  async peek(ahead = 0): Promise<LogLine | undefined> {
    if (!(await this.#fill(ahead + 1))) return undefined;
    return this.#pending[this.#index + ahead];
  }

  /** Whether `count` lines are buffered, loading files as needed. */
  async #fill(count: number): Promise<boolean> {
    while (this.#pending.length - this.#index < count) {
      if (this.#nextFile >= this.#files.length) return false;
      this.#pending = this.#pending.slice(this.#index);
      this.#index = 0;
      this.#pending.push(...splitLines(this.#files[this.#nextFile++], await this.#read()));
    }
    return true;
  }

  #read(): Promise<Uint8Array> {
    return Deno.readFile(this.#files[this.#nextFile - 1]);
  }
}

/** The lines of one file's bytes. */
export function splitLines(file: string, bytes: Uint8Array): LogLine[] {
  const lines: LogLine[] = [];
  let start = 0;
  let number = 1;
  while (start < bytes.length) {
    let end = bytes.indexOf(NEWLINE, start);
    const newline = end >= 0;
    if (!newline) end = bytes.length;
    const raw = bytes.subarray(start, end);
    const text = decoder.decode(raw);
    lines.push({
      file,
      line: number++,
      text,
      bytes: raw.length,
      hash: lineHash(raw),
      record: parseRecordLine(text),
      newline,
    });
    start = end + 1;
  }
  return lines;
}

/** The first line of a file, and whether a newline ends it; undefined for an empty file. */
async function firstLine(path: string): Promise<{ text: string; complete: boolean } | undefined> {
  const file = await Deno.open(path, { read: true });
  try {
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    let complete = false;
    for (;;) {
      const n = await file.read(buffer);
      if (n === null) break;
      const chunk = buffer.slice(0, n);
      const end = chunk.indexOf(NEWLINE);
      if (end >= 0) {
        chunks.push(chunk.subarray(0, end));
        complete = true;
        break;
      }
      chunks.push(chunk);
    }
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    if (length === 0 && !complete) return undefined;
    const all = new Uint8Array(length);
    let offset = 0;
    for (const chunk of chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    return { text: decoder.decode(all), complete };
  } finally {
    file.close();
  }
}
