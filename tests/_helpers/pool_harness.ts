/**
 * A shared pool over a fake daemon, and a pool client that records what it is given: what the
 * pool's unit tests share.
 *
 * @module
 */

import { Logger } from "../../src/log/logger.ts";
import { Pool, type PoolClient, type PoolOptions } from "../../src/proxy/shared/pool.ts";
import { FakeDaemon, type FakeDaemonOptions } from "./fake_daemon.ts";
import { concat, frame, words } from "./frames.ts";

export const LABEL = '"fake" (test+unix:///default)';
/** CONNECT_GET_LIB_VERSION: a call the pool forwards without looking at it. */
export const PLAIN = 157;
export const OPEN_NAME = "test:///default";
export const OPEN_BODY = (flags: number) =>
  concat(words(1, OPEN_NAME.length), new TextEncoder().encode(OPEN_NAME + "\0"), words(flags));

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every few ms; fails with `what` after `ms`. */
export async function waitUntil(condition: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await delay(2);
  }
}

/** A pool client that records copies of what it is given. */
export class TestClient implements PoolClient {
  readonly id: string;
  readonly frames: Uint8Array[] = [];
  readonly lostReasons: string[] = [];
  /** How many frames had arrived when lost() was called. */
  framesAtLoss = -1;
  onFrame: ((frame: Uint8Array) => void) | undefined;

  constructor(id: string) {
    this.id = id;
  }

  deliver(bytes: Uint8Array): Promise<void> {
    const copy = bytes.slice();
    this.frames.push(copy);
    this.onFrame?.(copy);
    return Promise.resolve();
  }

  lost(reason: string): void {
    if (this.framesAtLoss < 0) this.framesAtLoss = this.frames.length;
    this.lostReasons.push(reason);
  }

  waitFrames(n: number, ms = 3000): Promise<void> {
    return waitUntil(() => this.frames.length >= n, `${n} frames for client ${this.id}`, ms);
  }
}

export function quietLogger(lines: string[] = []): Logger {
  return new Logger({ sink: (line) => lines.push(line), level: "debug" });
}

export async function setup(
  options: { daemon?: FakeDaemonOptions; pool?: Partial<PoolOptions> } = {},
) {
  const daemon = await FakeDaemon.start(options.daemon);
  const lines: string[] = [];
  const pool = new Pool({
    label: LABEL,
    openName: OPEN_NAME,
    openFlags: 0,
    poolMax: 2,
    maxInflightPerConnection: 5,
    maxFrameBytes: 1 << 20,
    idleMs: 60_000,
    keepaliveIntervalMs: 60_000,
    keepaliveCount: 5,
    connectTimeoutMs: 2000,
    dial: () => daemon.dial(),
    logger: quietLogger(lines),
    ...options.pool,
  });
  return {
    daemon,
    pool,
    lines,
    async finish() {
      pool.close("test over");
      await waitUntil(() => pool.size === 0, "the pool to close");
      await daemon.stop();
    },
  };
}

/** A CALL with a body that names its sender. */
export function call(serial: number, body: number[], procedure = PLAIN): Uint8Array {
  return frame({ procedure, serial, body: words(...body) });
}
