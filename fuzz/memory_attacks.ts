/**
 * Fuzz kinds that try to blow up memory (issue 11): many big partial frames at full speed, big
 * frames trickled in, big frames before CONNECT_OPEN, and shared-mode clients in numbers that
 * send calls and never read the replies. None expects replies; virtmux must stay up, keep its RSS
 * under the fuzzer's limit and keep serving the good clients. Every connection of a case shares
 * one body buffer, so that hundreds of them cost the fuzzer little.
 *
 * @module
 */

import { RemoteProc } from "../src/wire/constants.ts";
import { frame as testFrame } from "../tests/_helpers/frames.ts";
import { bigCallHeader, openFrame } from "../tests/integration/helpers/hostile_clients.ts";
import type { ConnectionPlan, Rng, Step, Target } from "./generators.ts";

/** The memory attack kinds. */
export const MEMORY_KINDS = [
  "big_partial",
  "big_trickle",
  "pre_open_big",
  "never_read_many",
] as const;

/** What a memory attack generator makes (the shape generators.ts expects). */
export interface MadeAttack {
  /** One line with the numbers. */
  description: string;
  /** Its connections. */
  connections: ConnectionPlan[];
  /** How many run at once. */
  parallel: number;
  /** The listener it must aim at, when it matters. */
  target?: Target;
}

const MIB = 1 << 20;

/** Steps that open the connection and wait for the answer. */
function opened(): Step[] {
  return [{ op: "write", bytes: openFrame() }, { op: "await", frames: 1 }];
}

/** A frame length between 1 MiB and `max`. */
function bigLength(rng: Rng, max: number): number {
  return rng.chance(0.3) ? max : rng.range(MIB, max);
}

/** The memory attack generators, by kind. */
export const MEMORY_GENERATORS: Record<
  typeof MEMORY_KINDS[number],
  (rng: Rng, maxMessageBytes: number) => MadeAttack
> = {
  big_partial(rng, max) {
    const count = rng.range(20, 200);
    const length = bigLength(rng, max);
    const sent = rng.range(28, length - 1);
    const body = new Uint8Array(sent - 28);
    const holdMs = rng.range(500, 5000);
    return {
      description: `${count} clients each send ${sent} bytes of a ${length}-byte frame at full ` +
        `speed after opening, then hold ${holdMs} ms`,
      connections: Array.from({ length: count }, () => ({
        steps: [
          ...opened(),
          { op: "write", bytes: bigCallHeader(length) },
          { op: "write", bytes: body },
        ],
        read: "drain",
        holdMs,
      })),
      parallel: count,
    };
  },

  big_trickle(rng, max) {
    const count = rng.range(1, 20);
    const length = bigLength(rng, max);
    const chunk = rng.range(1, 4096);
    const everyMs = rng.range(10, 200);
    const body = new Uint8Array(Math.min(length - 28, chunk * 400));
    return {
      description: `${count} clients trickle a ${length}-byte frame after opening, ${chunk} ` +
        `bytes every ${everyMs} ms`,
      connections: Array.from({ length: count }, () => ({
        steps: [
          ...opened(),
          { op: "write", bytes: bigCallHeader(length) },
          { op: "drip", bytes: body, chunk, everyMs },
        ],
        read: "drain",
        holdMs: 1000,
      })),
      parallel: count,
    };
  },

  pre_open_big(rng, max) {
    const count = rng.range(1, 50);
    const length = rng.chance(0.5) ? rng.range(69633, 200_000) : bigLength(rng, max);
    const sent = Math.min(length, rng.range(28, 4 * MIB));
    const head = testFrame({ procedure: rng.pick(PRE_OPEN_PROCS), serial: 5, length });
    const body = new Uint8Array(sent - 28);
    return {
      description: `${count} clients send ${sent} bytes of a ${length}-byte frame before ` +
        `CONNECT_OPEN`,
      connections: Array.from({ length: count }, () => ({
        steps: [{ op: "write", bytes: head }, { op: "write", bytes: body }],
        read: "drain",
        holdMs: 1000,
      })),
      parallel: count,
    };
  },

  never_read_many(rng) {
    const count = rng.range(50, 500);
    const calls = rng.range(10, 200);
    const frames = [openFrame()];
    for (let i = 0; i < calls; i++) {
      frames.push(testFrame({ procedure: RemoteProc.CONNECT_GET_LIB_VERSION, serial: 10 + i }));
    }
    const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const f of frames) {
      bytes.set(f, at);
      at += f.length;
    }
    const holdMs = rng.range(500, 4000);
    return {
      description: `${count} shared-mode clients each send ${calls} calls and never read, held ` +
        `${holdMs} ms`,
      connections: Array.from({ length: count }, () => ({
        steps: [{ op: "write", bytes }],
        read: "never",
        holdMs,
      })),
      parallel: count,
      target: "shared",
    };
  },
};

/** Procedures a client may send before CONNECT_OPEN. */
const PRE_OPEN_PROCS = [
  RemoteProc.CONNECT_OPEN,
  RemoteProc.AUTH_LIST,
  RemoteProc.AUTH_SASL_START,
  RemoteProc.CONNECT_SUPPORTS_FEATURE,
] as const;
