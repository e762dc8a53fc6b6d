/**
 * The two key files of audit sealing: the initial key K(0), which `virtmux audit init-key` writes
 * for the operator to keep off the host and `virtmux audit verify --key` reads, and the key state
 * (epoch and current key) that the writer evolves after each seal, replaced atomically by rename
 * so that the old key is gone from the file system as soon as the new one is in place.
 *
 * Both are one JSON object on one line, mode 0600.
 *
 * @module
 */

import { bytesHex, hexBytes, KEY_BYTES, keyId } from "./chain.ts";

/** `format` of an initial key file. */
export const INITIAL_KEY_FORMAT = "virtmux-audit-initial-key";
/** `format` of a key state file. */
export const KEY_STATE_FORMAT = "virtmux-audit-key-state";

/** The writer's current sealing key. */
export interface KeyState {
  /** {@linkcode keyId} of the chain's initial key. */
  keyId: string;
  /** The epoch of `key`: how many seals were made before it. */
  epoch: number;
  /** K(epoch). */
  key: Uint8Array;
}

/** A fresh random initial key. */
export function newInitialKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

/** The text of an initial key file. */
export function formatInitialKey(key: Uint8Array): string {
  return JSON.stringify({ format: INITIAL_KEY_FORMAT, key_id: keyId(key), key: bytesHex(key) }) +
    "\n";
}

/** The text of a key state file. */
export function formatKeyState(state: KeyState): string {
  return JSON.stringify({
    format: KEY_STATE_FORMAT,
    key_id: state.keyId,
    epoch: state.epoch,
    key: bytesHex(state.key),
  }) + "\n";
}

/**
 * Reads an initial key file.
 *
 * @throws {Error} naming the file when it is missing, malformed, or a key state instead
 */
export async function readInitialKey(path: string): Promise<Uint8Array> {
  const fields = parseKeyFile(path, await readKeyText(path));
  if (fields.format === KEY_STATE_FORMAT) {
    throw new Error(
      `Cannot use "${path}" as the initial key: it is a key state at epoch ${fields.epoch}; ` +
        `verification needs the key "virtmux audit init-key --out" wrote`,
    );
  }
  if (fields.format !== INITIAL_KEY_FORMAT) {
    throw new Error(`Cannot read key "${path}": format is not "${INITIAL_KEY_FORMAT}"`);
  }
  const key = keyBytes(path, fields.key);
  if (fields.key_id !== keyId(key)) {
    throw new Error(`Cannot read key "${path}": key_id "${fields.key_id}" does not match its key`);
  }
  return key;
}

/**
 * Reads a key state file.
 *
 * @throws {Error} naming the file when it is missing or malformed
 */
export async function readKeyState(path: string): Promise<KeyState> {
  const fields = parseKeyFile(path, await readKeyText(path));
  if (fields.format !== KEY_STATE_FORMAT) {
    throw new Error(`Cannot read key state "${path}": format is not "${KEY_STATE_FORMAT}"`);
  }
  const epoch = fields.epoch;
  if (typeof epoch !== "number" || !Number.isSafeInteger(epoch) || epoch < 0) {
    throw new Error(`Cannot read key state "${path}": epoch ${JSON.stringify(epoch)} is invalid`);
  }
  if (typeof fields.key_id !== "string") {
    throw new Error(`Cannot read key state "${path}": no key_id`);
  }
  return { keyId: fields.key_id, epoch, key: keyBytes(path, fields.key) };
}

/**
 * Replaces the key state file atomically: writes `PATH.PID.tmp`, fsyncs it, renames it over
 * `path`, then fsyncs the directory, so that a crash leaves either the old or the new state.
 */
export async function writeKeyState(path: string, state: KeyState): Promise<void> {
  const temp = `${path}.${Deno.pid}.tmp`;
  const file = await Deno.open(temp, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    await file.write(new TextEncoder().encode(formatKeyState(state)));
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(temp, path);
  await syncDirectory(path);
}

/**
 * Writes a new file that must not exist yet, mode 0600.
 *
 * @throws {Error} naming the file when it exists
 */
export async function writeNewKeyFile(path: string, text: string): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new Error(`Cannot write key "${path}": the file exists; remove it first`);
    }
    throw error;
  }
  try {
    await file.write(new TextEncoder().encode(text));
    await file.sync();
  } finally {
    file.close();
  }
}

/** fsyncs the directory holding `path`, so that a rename in it is durable. */
export async function syncDirectory(path: string): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    handle.close();
  }
}

async function readKeyText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`Cannot read key "${path}": no such file`);
    }
    throw error;
  }
}

function parseKeyFile(path: string, text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text);
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
  } catch { /* reported below */ }
  throw new Error(`Cannot read key "${path}": not a virtmux key file (one JSON object)`);
}

function keyBytes(path: string, hex: unknown): Uint8Array {
  if (typeof hex !== "string" || hex.length !== 2 * KEY_BYTES) {
    throw new Error(`Cannot read key "${path}": key is not ${KEY_BYTES} bytes of hex`);
  }
  return hexBytes(hex);
}
