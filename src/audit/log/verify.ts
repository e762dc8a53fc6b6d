/**
 * Verification of an audit log, after CloudTrail's `validate-logs` and `journalctl --verify`:
 * walks the hash chain across the files in chain order, checks each seal's epoch and HMAC with
 * keys derived from the initial key, and stops at the first failure, saying which line and what
 * kind of change explains it.
 *
 * What the chain alone proves: no record was edited, deleted, inserted or moved, except at the
 * very end (the last records can be cut or rewritten by anyone who can write the file). What
 * seals add: everything up to the last seal was written before its epoch key was forgotten; a
 * host taken later can only seal with a later epoch, and epochs must follow each other, so
 * re-sealing shows. What the key state adds (`keyState`): the writer's current epoch, which
 * cannot be turned back, so a tail cut past the last seals shows as well.
 *
 * @module
 */

import { GENESIS, keyAtEpoch, keyId, sealHmac } from "./chain.ts";
import type { KeyState } from "./key_file.ts";
import { collectLogFiles, LineCursor, type LogLine, type SkippedFile } from "./log_reader.ts";
import { SEAL_KIND, TORN_LINE_KIND } from "./record_line.ts";

/** What kind of change a failure points to. */
export type FailureKind =
  | "malformed"
  | "edited"
  | "deleted"
  | "inserted"
  | "reordered"
  | "truncated"
  | "bad_seal"
  | "resealed"
  | "wrong_key";

/** The first failure found. */
export interface VerifyFailure {
  /** Kind of change. */
  kind: FailureKind;
  /** The file of the line to blame. */
  file: string;
  /** Its 1-based line number. */
  line: number;
  /** What was found, for a person. */
  message: string;
}

/** A line, by file and number. */
export interface LinePlace {
  /** The file. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** Length of the line in bytes. */
  bytes: number;
}

/** Everything a verification found. */
export interface VerifyResult {
  /** The files verified, in chain order. */
  files: string[];
  /** Files set aside. */
  skipped: SkippedFile[];
  /** Records found valid (up to the failure, if any). */
  valid: number;
  /** Record lines in all files. */
  total: number;
  /** Seals met in the valid part. */
  seals: number;
  /** Seals whose epoch and HMAC checked out (0 without a key). */
  validSeals: number;
  /** Whether seals were checked (an initial key was given). */
  sealsChecked: boolean;
  /** `time` of the first record. */
  firstTime?: string;
  /** `time` of the last valid record. */
  lastTime?: string;
  /** `seq` of the first record. */
  firstSeq?: number;
  /** Whether the chain starts at the log's first record (else older files were rotated away). */
  fromGenesis: boolean;
  /** Valid records after the last seal. */
  unsealed: number;
  /** Epoch of the last seal. */
  lastEpoch?: number;
  /** A last line without newline that is no complete record: a crash mid-write. */
  tornLastLine?: LinePlace;
  /** Lines torn by a crash that a later writer ended and recorded (`torn_line`). */
  recoveredTornLines: LinePlace[];
  /** The first failure, if any. */
  failure?: VerifyFailure;
}

/** Options for {@linkcode verifyLog}. */
export interface VerifyOptions {
  /** K(0), from `virtmux audit init-key --out`; without it only the hash chain is checked. */
  initialKey?: Uint8Array;
  /** The writer's key state, to detect a tail cut past the last seals (needs `initialKey`). */
  keyState?: KeyState;
}

/**
 * Verifies the audit log in `paths` (files and directories).
 *
 * @throws {Error} when a path cannot be read
 */
export async function verifyLog(
  paths: string[],
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const { files, skipped } = await collectLogFiles(paths);
  const walk = new ChainWalk(files, options);
  const result: VerifyResult = {
    files,
    skipped,
    valid: 0,
    total: 0,
    seals: 0,
    validSeals: 0,
    sealsChecked: options.initialKey !== undefined,
    fromGenesis: false,
    unsealed: 0,
    recoveredTornLines: [],
  };
  await walk.run(result);
  return result;
}

/** One pass over the lines. */
class ChainWalk {
  readonly #cursor: LineCursor;
  readonly #initialKey: Uint8Array | undefined;
  readonly #keyId: string | undefined;
  readonly #keyState: KeyState | undefined;
  #keyEpoch = 0;
  #key: Uint8Array | undefined;
  /** The last accepted line. */
  #last: LogLine | undefined;
  #lastSeal: LogLine | undefined;

  constructor(files: string[], options: VerifyOptions) {
    this.#cursor = new LineCursor(files);
    this.#initialKey = options.initialKey;
    this.#key = options.initialKey;
    this.#keyId = options.initialKey && keyId(options.initialKey);
    this.#keyState = options.keyState;
  }

  async run(result: VerifyResult): Promise<void> {
    for (
      let line = await this.#cursor.next();
      line !== undefined;
      line = await this.#cursor.next()
    ) {
      result.total++;
      result.failure = await this.#check(line, result);
      if (result.failure !== undefined) break;
    }
    while ((await this.#cursor.next()) !== undefined) result.total++;
    if (result.failure === undefined) result.failure = this.#checkKeyState(result);
  }

  /** Checks one line; updates `result` when it is valid. */
  async #check(line: LogLine, result: VerifyResult): Promise<VerifyFailure | undefined> {
    const record = line.record;
    const next = await this.#cursor.peek();
    if (record === undefined) {
      if (!line.newline && next === undefined) {
        result.total--;
        result.tornLastLine = place(line);
        return undefined;
      }
      const torn = next?.record;
      if (
        this.#last !== undefined && torn?.kind === TORN_LINE_KIND && torn.bytes === line.bytes &&
        torn.prev === this.#last.hash && torn.seq === this.#last.record!.seq + 1
      ) {
        result.total--;
        result.recoveredTornLines.push(place(line));
        return undefined;
      }
      return isJsonObject(line.text)
        ? fail("inserted", line, `a line that is no audit record (no seq and prev) was inserted`)
        : fail("edited", line, `the line is not valid JSON: the record was edited or corrupted`);
    }
    const last = this.#last;
    if (last === undefined) {
      if (record.seq === 0 && record.prev !== GENESIS) {
        return fail("edited", line, `seq 0 does not chain to the start of the log`);
      }
      result.fromGenesis = record.seq === 0;
      result.firstSeq = record.seq;
      if (typeof record.time === "string") result.firstTime = record.time;
    } else {
      const failure = await this.#checkLink(last, line);
      if (failure !== undefined) return failure;
    }
    if (record.kind === SEAL_KIND) {
      const failure = this.#checkSeal(line, result);
      if (failure !== undefined) return failure;
      result.unsealed = 0;
    } else {
      result.unsealed++;
    }
    result.valid++;
    if (typeof record.time === "string") result.lastTime = record.time;
    this.#last = line;
    return undefined;
  }

  /** Why `line` does not follow `last`, or undefined when it does. */
  async #checkLink(last: LogLine, line: LogLine): Promise<VerifyFailure | undefined> {
    const record = line.record!;
    const expected = last.record!.seq + 1;
    if (record.seq === expected && record.prev === last.hash) return undefined;
    const next = (await this.#cursor.peek())?.record;
    if (record.seq !== expected && record.prev === last.hash) {
      return fail("edited", line, `seq ${record.seq} should be ${expected}: the record was edited`);
    }
    if (record.seq === expected) {
      if (next?.seq === expected && next.prev === last.hash) {
        return fail(
          "inserted",
          line,
          `a record (seq ${record.seq}) was inserted: the next line ` +
            `chains to ${where(last)}, not to it`,
        );
      }
      return fail(
        "edited",
        last,
        `the record (seq ${expected - 1}) was edited: its hash is not the "prev" of the ` +
          `record after it (${where(line)})`,
      );
    }
    if (record.seq === expected - 1 && record.prev === last.record!.prev) {
      return fail(
        "inserted",
        last,
        `a record (seq ${record.seq}) was inserted: ${where(line)} ` +
          `chains to the same record as it does`,
      );
    }
    if (record.seq < expected) {
      if (next?.seq === expected && next.prev === last.hash) {
        return fail(
          "inserted",
          line,
          `a copy of record seq ${record.seq} was inserted after ` +
            `seq ${expected - 1}`,
        );
      }
      return fail(
        "reordered",
        line,
        `seq ${record.seq} comes after seq ${expected - 1} ` +
          `(${where(last)}): records are out of order`,
      );
    }
    for (let ahead = 0; ahead < 16; ahead++) {
      const later = await this.#cursor.peek(ahead);
      if (later === undefined) break;
      if (later.record?.seq === expected) {
        return fail(
          "reordered",
          line,
          `seq ${record.seq} comes before seq ${expected} ` +
            `(${where(later)}): records are out of order`,
        );
      }
    }
    const missing = record.seq - expected;
    const span = missing === 1 ? `seq ${expected}` : `seq ${expected}..${record.seq - 1}`;
    const between = line.file !== last.file
      ? ` between "${last.file}" and "${line.file}" (the end of one file or a whole rotated ` +
        `file is missing)`
      : ` after ${where(last)}`;
    return fail(
      "deleted",
      line,
      `${missing} record${missing === 1 ? "" : "s"} (${span}) ` +
        `deleted${between}`,
    );
  }

  /** Checks a seal's key, epoch and HMAC; counts it. */
  #checkSeal(line: LogLine, result: VerifyResult): VerifyFailure | undefined {
    const record = line.record!;
    const epoch = record.epoch;
    if (!Number.isSafeInteger(epoch) || (epoch as number) < 0 || typeof record.hmac !== "string") {
      return fail("malformed", line, `the seal has no valid epoch and hmac`);
    }
    result.seals++;
    const previous = this.#lastSeal;
    this.#lastSeal = line;
    result.lastEpoch = epoch as number;
    if (this.#initialKey === undefined) return undefined;
    if (record.key_id !== this.#keyId) {
      return fail(
        "wrong_key",
        line,
        `the seal was made with key id "${record.key_id}" but ` +
          `the key given has id "${this.#keyId}": wrong key`,
      );
    }
    const previousEpoch = previous?.record?.epoch as number | undefined;
    const expected = previousEpoch !== undefined
      ? previousEpoch + 1
      : result.fromGenesis
      ? 0
      : undefined;
    if (expected !== undefined && epoch !== expected) {
      const after = previous === undefined
        ? "the log's first seal"
        : `the seal of epoch ${previousEpoch} (${where(previous)})`;
      if ((epoch as number) > expected) {
        return fail(
          "resealed",
          line,
          `the seal has epoch ${epoch} where ${after} calls for ` +
            `epoch ${expected}: the records were sealed again with a later key (or seals were ` +
            `removed)`,
        );
      }
      return fail(
        "bad_seal",
        line,
        `the seal has epoch ${epoch}, not after ${after}: a seal ` +
          `was replayed`,
      );
    }
    if (
      sealHmac(this.#keyFor(epoch as number), record.prev, record.seq, epoch as number) !==
        record.hmac
    ) {
      const since = previous === undefined ? "the start" : where(previous);
      return fail(
        "bad_seal",
        line,
        `the seal (epoch ${epoch}) does not match the records ` +
          `before it: a record between ${since} and this line was changed and the chain rebuilt`,
      );
    }
    result.validSeals++;
    return undefined;
  }

  /** Fails when the key state shows seals after the log's last one. */
  #checkKeyState(result: VerifyResult): VerifyFailure | undefined {
    const state = this.#keyState;
    if (state === undefined || this.#initialKey === undefined) return undefined;
    const derived = keyAtEpoch(this.#initialKey, state.epoch);
    const place = this.#last ?? { file: result.files.at(-1) ?? "(no file)", line: 0 };
    if (state.keyId !== this.#keyId || !derived.every((byte, i) => byte === state.key[i])) {
      return {
        kind: "wrong_key",
        ...lineOf(place),
        message: `the key state does not derive from the key given (wrong key or altered state)`,
      };
    }
    const lastEpoch = result.lastEpoch ?? -1;
    if (lastEpoch >= state.epoch - 1) return undefined;
    return {
      kind: "truncated",
      ...lineOf(place),
      message:
        `the log ends ${
          result.lastEpoch === undefined ? "with no seal" : `at the seal of epoch ${lastEpoch}`
        } but the writer has sealed up to epoch ${state.epoch - 1}: the tail of the log ` +
        `(${state.epoch - 1 - lastEpoch} seals and the records before them) was cut`,
    };
  }

  /** K(epoch), stepping forward from the last key derived. */
  #keyFor(epoch: number): Uint8Array {
    if (epoch < this.#keyEpoch || this.#key === undefined) {
      this.#key = this.#initialKey!;
      this.#keyEpoch = 0;
    }
    this.#key = keyAtEpoch(this.#key, epoch - this.#keyEpoch);
    this.#keyEpoch = epoch;
    return this.#key;
  }
}

function fail(kind: FailureKind, line: LogLine, message: string): VerifyFailure {
  return { kind, file: line.file, line: line.line, message };
}

function place(line: LogLine): LinePlace {
  return { file: line.file, line: line.line, bytes: line.bytes };
}

function where(line: LogLine): string {
  return `${line.file}:${line.line}`;
}

function lineOf(line: { file: string; line: number }): { file: string; line: number } {
  return { file: line.file, line: line.line };
}

function isJsonObject(text: string): boolean {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null;
  } catch {
    return false;
  }
}
