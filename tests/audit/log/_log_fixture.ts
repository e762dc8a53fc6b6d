/**
 * Test fixtures for the audit log: a sealed log written by the real writer into a temp dir, and
 * the forger's tool, a chain rebuilt from a given line with seals made by a later key.
 *
 * @module
 */

import { join } from "node:path";
import { evolveKey, keyId, lineHash, sealHmac } from "../../../src/audit/log/chain.ts";
import {
  formatInitialKey,
  formatKeyState,
  newInitialKey,
  readKeyState,
} from "../../../src/audit/log/key_file.ts";
import { AuditLog, type AuditLogOptions } from "../../../src/audit/log/audit_log.ts";

/** A log written for a test. */
export interface LogFixture extends AsyncDisposable {
  /** The temp dir. */
  dir: string;
  /** The active file. */
  path: string;
  /** The key state file. */
  statePath: string;
  /** K(0). */
  initialKey: Uint8Array;
  /** The initial key file. */
  keyPath: string;
}

/** Makes a temp dir with an initial key and key state, and the paths of a log in it. */
export async function keyedDir(): Promise<LogFixture> {
  const dir = await Deno.makeTempDir({ prefix: "virtmux-audit-" });
  const initialKey = newInitialKey();
  const keyPath = join(dir, "audit.key");
  const statePath = join(dir, "audit.state");
  await Deno.writeTextFile(keyPath, formatInitialKey(initialKey));
  await Deno.writeTextFile(
    statePath,
    formatKeyState({ keyId: keyId(initialKey), epoch: 0, key: initialKey }),
  );
  await Deno.mkdir(join(dir, "log"));
  return {
    dir,
    path: join(dir, "log", "audit.jsonl"),
    statePath,
    initialKey,
    keyPath,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A record such as the tap writes. */
export function callRecord(n: number, pad = 0): Record<string, unknown> {
  return {
    kind: "call",
    listener: "hv1.sock",
    upstream: "hv1",
    identity: { user: "alice", uid: 1000, pid: 4000 + n },
    procedure: "DOMAIN_DESTROY",
    object: { type: "domain", name: `vm-${n}` },
    status: "ok",
    latency_ms: 2,
    n,
    ...(pad > 0 ? { pad: "x".repeat(pad) } : {}),
  };
}

/**
 * Writes `count` records with a seal after every `sealEvery`, then `tail` unsealed records,
 * that no seal covers.
 */
export async function writeLog(
  fixture: LogFixture,
  count: number,
  sealEvery: number,
  options: AuditLogOptions & { tail?: number } = {},
): Promise<void> {
  const log = await AuditLog.open(fixture.path, {
    keyStatePath: fixture.statePath,
    sealIntervalMs: 3_600_000,
    ...options,
  });
  for (let n = 0; n < count; n++) {
    await log.write(callRecord(n));
    if ((n + 1) % sealEvery === 0) await log.seal();
  }
  await log.close();
  if (options.tail) {
    // A writer without the key state adds the tail and cannot seal it, as a killed writer
    // would leave it.
    const unkeyed = await AuditLog.open(fixture.path, { ...options, keyStatePath: undefined });
    for (let n = 0; n < options.tail; n++) await unkeyed.write(callRecord(count + n));
    await unkeyed.close();
  }
}

/** The lines of a file, newline-split (no empty last element). */
export async function readLines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path);
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

/** Writes lines back, each with its newline. */
export async function writeLines(path: string, lines: string[]): Promise<void> {
  await Deno.writeTextFile(path, lines.map((line) => line + "\n").join(""));
}

/**
 * The forger who took the host: rewrites `lines[from..]` with a correct chain, and every seal
 * from there on with the writer's current key state (a later epoch than the seal it replaces).
 */
export async function forgeFrom(
  lines: string[],
  from: number,
  statePath: string,
): Promise<string[]> {
  const state = await readKeyState(statePath);
  let key = state.key;
  let epoch = state.epoch;
  const out = lines.slice(0, from);
  for (let i = from; i < lines.length; i++) {
    const record = JSON.parse(lines[i]);
    record.prev = lineHash(out[i - 1]);
    if (record.kind === "seal") {
      record.epoch = epoch;
      record.hmac = sealHmac(key, record.prev, record.seq, epoch);
      key = evolveKey(key);
      epoch++;
    }
    out.push(JSON.stringify(record));
  }
  return out;
}
