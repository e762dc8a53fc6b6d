/**
 * A seeded PRNG and the case generators of the fuzzer. Every case is a pure function of the run's
 * seed and the case's index, so `--seed S --replay N` rebuilds case N byte for byte. A case is a
 * description plus a byte plan: for each connection it opens, the writes, pauses and half-closes
 * to perform, whether to read what comes back, and (for well-formed traffic) the replies that
 * must come back.
 *
 * @module
 */

import {
  HEADER_BYTES,
  MessageStatus,
  MessageType,
  Program,
  RemoteProc,
} from "../src/wire/constants.ts";
import { writeHeader } from "../src/wire/header.ts";
import { MEMORY_GENERATORS, MEMORY_KINDS } from "./memory_attacks.ts";

/** sfc32, seeded through splitmix32: fast, small state, good enough for fuzzing. */
export class Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Makes a generator from a 32-bit seed and an optional stream number. */
  constructor(seed: number, stream = 0) {
    let s = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    const split = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = split();
    this.#b = split();
    this.#c = split();
    this.#d = split();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniformly random unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.u32() / 0x100000000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const word = this.u32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = word >>> (8 * j);
    }
    return out;
  }
}

/** One action on a fuzz connection. */
export type Step =
  | { op: "write"; bytes: Uint8Array }
  /** Slow writer: `bytes` in `chunk`-byte pieces, `everyMs` apart. */
  | { op: "drip"; bytes: Uint8Array; chunk: number; everyMs: number }
  | { op: "sleep"; ms: number }
  /** Wait until this many frames have come back (reading connections only). */
  | { op: "await"; frames: number }
  | { op: "closeWrite" };

/** A reply a well-formed call must get. */
export interface Expectation {
  /** The call's serial. */
  serial: number;
  /** The call's procedure. */
  procedure: number;
  /** What the reply must carry beyond status OK. */
  check?: "libVersion" | "one";
}

/** What one connection of a case does. */
export interface ConnectionPlan {
  /** Actions, in order. */
  steps: Step[];
  /** Read and parse what the proxy sends, or never read at all. */
  read: "drain" | "never";
  /** After the steps, keep the connection open this long (or until the proxy closes it). */
  holdMs: number;
  /** Replies that must arrive, for well-formed traffic; undefined for hostile traffic. */
  expect?: Expectation[];
}

/** The listeners a case can aim at. */
export type Target = "dedicated" | "shared";

/** One generated case. */
export interface FuzzCase {
  /** Position in the run: with the seed, it rebuilds the case. */
  index: number;
  /** The generator that made it. */
  kind: Kind;
  /** The listener it aims at. */
  target: Target;
  /** One line saying what it does, with the numbers that matter. */
  description: string;
  /** The connections it opens. */
  connections: ConnectionPlan[];
  /** How many of its connections run at once. */
  parallel: number;
}

/** Every generator, by name. */
export const KINDS = [
  "random_bytes",
  "mutated_header",
  "length_limits",
  "split_frames",
  "truncated",
  "wrong_direction",
  "tiny_flood",
  "churn",
  "slow_writer",
  "never_read",
  "odd_open",
  ...MEMORY_KINDS,
] as const;

/** The kinds that are not memory attacks. */
const BASE_KINDS: readonly Kind[] = KINDS.filter((kind) =>
  !(MEMORY_KINDS as readonly string[]).includes(kind)
);

/** A generator's name. */
export type Kind = typeof KINDS[number];

/** Options for {@linkcode generateCase}. */
export interface GenerateOptions {
  /** The proxy's max_message_bytes. */
  maxMessageBytes: number;
  /** Generate only these kinds (all when empty). */
  kinds?: readonly Kind[];
}

/** The open name the test driver answers. */
export const OPEN_NAME = "test:///default";
/** The daemon's libvirt version, as getLibVersion reports it (9.0.0). */
export const LIB_VERSION = 9000000;

/** Procedures that only read state: the only ones the fuzzer sends well-formed. */
const SAFE_CALLS = [3, 4, 5, 6, 7, 51, 59, 110, 149, 157, 273] as const;
/** Event procedures a daemon sends (callback and legacy style). */
const EVENT_PROCS = [107, 318, 319, 320, 321, 322, 323, 340, 341, 342] as const;
/** Field values worth trying in any header word. */
const INTERESTING = [
  0,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  0x7f,
  0xff,
  0x7fff,
  0xffff,
  0x7fffffff,
  0x80000000,
  0xfffffffe,
  0xffffffff,
] as const;

const encoder = new TextEncoder();

/** Encodes one frame; `length` overrides the length word. */
export function frame(
  fields: {
    program?: number;
    version?: number;
    procedure: number;
    type?: number;
    serial: number;
    status?: number;
    length?: number;
  },
  body: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + body.length);
  writeHeader(bytes, {
    length: fields.length ?? bytes.length,
    program: fields.program ?? Program.REMOTE,
    version: fields.version ?? 1,
    procedure: fields.procedure,
    type: fields.type ?? MessageType.CALL,
    serial: fields.serial,
    status: fields.status ?? MessageStatus.OK,
  });
  bytes.set(body, HEADER_BYTES);
  return bytes;
}

/** Big-endian 32-bit words. */
export function words(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, v >>> 0));
  return out;
}

/** Joins byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** XDR `remote_string` (optional string). */
export function optionalString(text: string | null): Uint8Array {
  if (text === null) return words(0);
  const raw = encoder.encode(text);
  const out = new Uint8Array(8 + ((raw.length + 3) & ~3));
  out.set(words(1, raw.length));
  out.set(raw, 8);
  return out;
}

/** The arguments of a safe call, well formed. */
function safeBody(procedure: number): Uint8Array {
  if (procedure === 273) return words(1, 0); // need_results, flags
  if (procedure === 5) return words(0); // type: null
  return new Uint8Array(0);
}

/** A well-formed session opening: frames plus the replies they must get. */
interface Script {
  bytes: Uint8Array;
  expect: Expectation[];
}

/** AUTH_LIST, SUPPORTS_FEATURE(10), CONNECT_OPEN: what libvirt clients send first. */
function handshake(firstSerial = 1): Script {
  const s = firstSerial;
  return {
    bytes: concat([
      frame({ procedure: RemoteProc.AUTH_LIST, serial: s }),
      frame({ procedure: RemoteProc.CONNECT_SUPPORTS_FEATURE, serial: s + 1 }, words(10, 0)),
      frame(
        { procedure: RemoteProc.CONNECT_OPEN, serial: s + 2 },
        concat([optionalString(OPEN_NAME), words(0)]),
      ),
    ]),
    expect: [
      { serial: s, procedure: RemoteProc.AUTH_LIST },
      { serial: s + 1, procedure: RemoteProc.CONNECT_SUPPORTS_FEATURE, check: "one" },
      { serial: s + 2, procedure: RemoteProc.CONNECT_OPEN },
    ],
  };
}

/**
 * A handshake and `count` safe calls after it, with the replies they must get. The calls go only
 * after the open is answered: libvirtd runs a client's calls on several workers at once, so a
 * call pipelined behind CONNECT_OPEN may find the connection not open yet.
 */
function wellFormedSession(rng: Rng, count: number): { open: Script; calls: Script } {
  const parts: Uint8Array[] = [];
  const expect: Expectation[] = [];
  for (let i = 0; i < count; i++) {
    const procedure = rng.chance(0.5) ? RemoteProc.CONNECT_GET_LIB_VERSION : rng.pick(SAFE_CALLS);
    const serial = 4 + i;
    parts.push(frame({ procedure, serial }, safeBody(procedure)));
    expect.push({
      serial,
      procedure,
      check: procedure === RemoteProc.CONNECT_GET_LIB_VERSION ? "libVersion" : undefined,
    });
  }
  return { open: handshake(), calls: { bytes: concat(parts), expect } };
}

/** Steps that write `bytes` split one of three ways; returns them and a note saying how. */
function splitWrites(rng: Rng, bytes: Uint8Array): { steps: Step[]; note: string } {
  const style = rng.int(3);
  const steps: Step[] = [];
  if (style === 0) {
    const at = rng.range(1, bytes.length - 1);
    steps.push(
      { op: "write", bytes: bytes.subarray(0, at) },
      { op: "sleep", ms: rng.int(5) },
      { op: "write", bytes: bytes.subarray(at) },
    );
    return { steps, note: `split at ${at} of ${bytes.length}` };
  }
  if (style === 1) {
    const cuts = [...new Set(Array.from({ length: rng.range(2, 12) }, () => rng.int(bytes.length)))]
      .sort((a, b) => a - b);
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      if (cut > from) steps.push({ op: "write", bytes: bytes.subarray(from, cut) });
      if (rng.chance(0.3)) steps.push({ op: "sleep", ms: rng.int(3) });
      from = Math.max(from, cut);
    }
    return { steps, note: `split at ${cuts.join(",")} of ${bytes.length}` };
  }
  steps.push({ op: "drip", bytes, chunk: 1, everyMs: 0 });
  return { steps, note: `${bytes.length} bytes one at a time` };
}

/** A random header word: an interesting value or a random one. */
function headerValue(rng: Rng): number {
  return rng.chance(0.7) ? rng.pick(INTERESTING) : rng.u32();
}

/** A frame a client might send, valid or nearly so, for mutation. */
function templateFrame(rng: Rng, serial: number): Uint8Array {
  switch (rng.int(6)) {
    case 0:
      return frame({ procedure: RemoteProc.AUTH_LIST, serial });
    case 1:
      return frame(
        { procedure: RemoteProc.CONNECT_OPEN, serial },
        concat([optionalString(OPEN_NAME), words(0)]),
      );
    case 2:
      return frame({ program: Program.KEEPALIVE, procedure: 1, type: MessageType.MESSAGE, serial });
    case 3: {
      const procedure = rng.pick(SAFE_CALLS);
      return frame({ procedure, serial }, safeBody(procedure));
    }
    case 4:
      return frame({ procedure: 316, serial }, words(rng.int(30), 0)); // event register
    default:
      return frame({ procedure: rng.pick(SAFE_CALLS), serial }, rng.bytes(rng.int(64)));
  }
}

const HEADER_FIELDS = ["program", "version", "procedure", "type", "serial", "status"] as const;

/** A plan that writes `bytes` (optionally after a handshake) and reads until the proxy closes. */
function hostile(bytes: Uint8Array, opened: boolean, extra: Step[] = []): ConnectionPlan {
  const steps: Step[] = [];
  if (opened) steps.push({ op: "write", bytes: handshake().bytes }, { op: "await", frames: 3 });
  steps.push({ op: "write", bytes }, ...extra);
  return { steps, read: "drain", holdMs: 300 };
}

/**
 * Builds case `index` of the run seeded with `seed`.
 *
 * @param seed the run's seed
 * @param index the case's position in the run
 * @param options the proxy's limit and the kinds to draw from
 */
export function generateCase(seed: number, index: number, options: GenerateOptions): FuzzCase {
  const rng = new Rng(seed, index);
  const chosen = options.kinds !== undefined && options.kinds.length > 0;
  // The memory attacks are heavy (hundreds of connections, MiB each): 1 case in 10 by default.
  const kinds = chosen ? options.kinds! : rng.chance(0.1) ? MEMORY_KINDS : BASE_KINDS;
  const kind = rng.pick(kinds);
  const target: Target = rng.chance(0.5) ? "dedicated" : "shared";
  const made = GENERATORS[kind](rng, options.maxMessageBytes);
  return {
    index,
    kind,
    target: made.target ?? target,
    description: made.description,
    connections: made.connections,
    parallel: made.parallel ?? 1,
  };
}

interface Made {
  description: string;
  connections: ConnectionPlan[];
  parallel?: number;
  target?: Target;
}

const GENERATORS: Record<Kind, (rng: Rng, maxMessageBytes: number) => Made> = {
  ...MEMORY_GENERATORS,
  random_bytes(rng) {
    const size = rng.chance(0.3) ? rng.range(1, 32) : rng.range(1, 4096);
    const opened = rng.chance(0.5);
    const bytes = rng.bytes(size);
    return {
      description: `${size} random bytes${opened ? " after a handshake" : ""}: ${hex(bytes, 32)}`,
      connections: [hostile(bytes, opened)],
    };
  },

  mutated_header(rng) {
    const opened = rng.chance(0.6);
    const count = rng.range(1, 4);
    const frames: Uint8Array[] = [];
    const notes: string[] = [];
    for (let i = 0; i < count; i++) {
      const f = templateFrame(rng, rng.chance(0.8) ? 100 + i : headerValue(rng));
      const view = new DataView(f.buffer);
      const mutations = rng.range(1, 3);
      for (let m = 0; m < mutations; m++) {
        const field = rng.pick(HEADER_FIELDS);
        const value = headerValue(rng);
        view.setUint32(4 + 4 * HEADER_FIELDS.indexOf(field), value);
        notes.push(`${field}=0x${value.toString(16)}`);
      }
      frames.push(f);
    }
    return {
      description: `${count} frame(s) with ${notes.join(", ")}${
        opened ? " after a handshake" : ""
      }`,
      connections: [hostile(concat(frames), opened)],
    };
  },

  length_limits(rng, max) {
    const lengths = [
      ...Array.from({ length: 29 }, (_, i) => i),
      max - 1,
      max,
      max + 1,
      0x7fffffff,
      0x80000000,
      0xffffffff,
    ];
    const length = rng.pick(lengths);
    const opened = rng.chance(0.5);
    const head = frame({
      procedure: rng.pick(SAFE_CALLS),
      serial: 77,
      length,
    });
    // Send the whole frame only rarely when it is huge; otherwise a prefix and then the end.
    let body: Uint8Array;
    let note: string;
    if (length >= HEADER_BYTES && length <= max && (length < 65536 || rng.chance(0.05))) {
      body = new Uint8Array(length - HEADER_BYTES);
      if (rng.chance(0.5)) body.set(rng.bytes(Math.min(body.length, 256)));
      note = "whole frame sent";
    } else {
      body = rng.bytes(rng.int(Math.min(64, Math.max(0, length - HEADER_BYTES) + 8)));
      note = `${body.length} body bytes sent`;
    }
    const bytes = concat([length < HEADER_BYTES ? head.subarray(0, rng.range(4, 28)) : head, body]);
    const close = rng.chance(0.5);
    return {
      description: `length word ${length} (0x${length.toString(16)}), ${note}` +
        `${opened ? " after a handshake" : ""}${close ? ", then half-close" : ""}`,
      connections: [hostile(bytes, opened, close ? [{ op: "closeWrite" }] : [])],
    };
  },

  split_frames(rng) {
    const { open, calls } = wellFormedSession(rng, rng.range(1, 6));
    const first = splitWrites(rng, open.bytes);
    const second = splitWrites(rng, calls.bytes);
    const all = open.expect.length + calls.expect.length;
    const steps: Step[] = [
      ...first.steps,
      { op: "await", frames: open.expect.length },
      ...second.steps,
      { op: "await", frames: all },
      { op: "write", bytes: frame({ procedure: RemoteProc.CONNECT_CLOSE, serial: 999 }) },
      { op: "await", frames: all + 1 },
    ];
    return {
      description: `well-formed session: handshake ${first.note}; ${calls.expect.length} calls ` +
        `${second.note}`,
      connections: [{
        steps,
        read: "drain",
        holdMs: 0,
        expect: [
          ...open.expect,
          ...calls.expect,
          { serial: 999, procedure: RemoteProc.CONNECT_CLOSE },
        ],
      }],
    };
  },

  truncated(rng) {
    const { open, calls } = wellFormedSession(rng, rng.range(1, 4));
    const session = { bytes: concat([open.bytes, calls.bytes]) };
    const at = rng.range(1, session.bytes.length - 1);
    const how = rng.pick(["close", "half-close", "hold"] as const);
    const steps: Step[] = [{ op: "write", bytes: session.bytes.subarray(0, at) }];
    if (how === "half-close") steps.push({ op: "closeWrite" });
    return {
      description: `well-formed session cut at byte ${at} of ${session.bytes.length}, then ${how}`,
      connections: [{
        steps,
        read: how === "close" ? "never" : "drain",
        holdMs: how === "close" ? rng.int(20) : rng.range(100, 1500),
      }],
    };
  },

  wrong_direction(rng) {
    const count = rng.range(1, 8);
    const frames: Uint8Array[] = [];
    const notes: string[] = [];
    for (let i = 0; i < count; i++) {
      const serial = rng.chance(0.5) ? rng.range(1, 10) : rng.u32();
      switch (rng.int(7)) {
        case 0:
          frames.push(frame({ procedure: 157, type: MessageType.REPLY, serial }, words(0, 1)));
          notes.push(`REPLY #${serial}`);
          break;
        case 1: {
          const status = rng.pick([0, 1, 2]);
          frames.push(
            frame(
              { procedure: 211, type: MessageType.STREAM, serial, status },
              rng.bytes(rng.int(200)),
            ),
          );
          notes.push(`STREAM #${serial} status ${status}`);
          break;
        }
        case 2:
          frames.push(
            frame({ procedure: 211, type: MessageType.STREAM_HOLE, serial }, words(0, 0, 4096, 0)),
          );
          notes.push(`STREAM_HOLE #${serial}`);
          break;
        case 3: {
          const procedure = rng.pick(EVENT_PROCS);
          frames.push(
            frame({ procedure, type: MessageType.MESSAGE, serial }, words(rng.int(20), 0)),
          );
          notes.push(`event MESSAGE ${procedure}`);
          break;
        }
        case 4:
          frames.push(
            frame({
              program: Program.KEEPALIVE,
              procedure: 2,
              type: MessageType.MESSAGE,
              serial: 0,
            }),
          );
          notes.push("unsolicited PONG");
          break;
        case 5:
          frames.push(
            frame({ procedure: 157, type: MessageType.REPLY_WITH_FDS, serial }, words(0)),
          );
          notes.push(`REPLY_WITH_FDS #${serial}`);
          break;
        default:
          frames.push(frame({ procedure: 157, type: MessageType.CALL_WITH_FDS, serial }, words(0)));
          notes.push(`CALL_WITH_FDS #${serial}`);
      }
    }
    const opened = rng.chance(0.7);
    return {
      description: `${notes.join(", ")}${opened ? " after a handshake" : ""}`,
      connections: [hostile(concat(frames), opened)],
    };
  },

  tiny_flood(rng) {
    const count = rng.range(200, 4000);
    const style = rng.pick(["ping", "call", "stream", "mixed"] as const);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      const pick = style === "mixed" ? rng.pick(["ping", "call", "stream"] as const) : style;
      if (pick === "ping") {
        frames.push(
          frame({ program: Program.KEEPALIVE, procedure: 1, type: MessageType.MESSAGE, serial: 0 }),
        );
      } else if (pick === "call") {
        frames.push(frame({ procedure: RemoteProc.CONNECT_GET_LIB_VERSION, serial: 10 + i }));
      } else {
        frames.push(
          frame({ procedure: 211, type: MessageType.STREAM, serial: 5000 + i, status: 2 }),
        );
      }
    }
    const split = rng.chance(0.5);
    const bytes = concat(frames);
    return {
      description: `${count} tiny ${style} frames after a handshake, ${
        split ? "in 1 KiB writes" : "in one write"
      }`,
      connections: [
        hostile(
          new Uint8Array(0),
          true,
          split
            ? Array.from({ length: Math.ceil(bytes.length / 1024) }, (_, i) => ({
              op: "write" as const,
              bytes: bytes.subarray(i * 1024, (i + 1) * 1024),
            }))
            : [{ op: "write", bytes }],
        ),
      ],
    };
  },

  churn(rng) {
    const count = rng.range(100, 1000);
    const connections: ConnectionPlan[] = [];
    const open = handshake().bytes;
    for (let i = 0; i < count; i++) {
      const what = rng.int(4);
      const steps: Step[] = [];
      if (what === 1) {
        steps.push({ op: "write", bytes: open.subarray(0, rng.range(1, open.length)) });
      }
      if (what === 2) steps.push({ op: "write", bytes: open });
      if (what === 3) steps.push({ op: "write", bytes: rng.bytes(rng.range(1, 40)) });
      connections.push({ steps, read: "never", holdMs: rng.chance(0.8) ? 0 : rng.int(50) });
    }
    const parallel = rng.range(8, 64);
    return {
      description: `${count} connections opened and dropped, ${parallel} at a time`,
      connections,
      parallel,
    };
  },

  slow_writer(rng) {
    const { open, calls } = wellFormedSession(rng, rng.range(1, 3));
    const everyMs = rng.range(1, 5);
    const chunk = rng.range(1, 3);
    const all = open.expect.length + calls.expect.length;
    const steps: Step[] = [
      { op: "drip", bytes: open.bytes, chunk, everyMs },
      { op: "await", frames: open.expect.length },
      { op: "drip", bytes: calls.bytes, chunk, everyMs },
      { op: "await", frames: all },
    ];
    return {
      description: `${open.bytes.length + calls.bytes.length} bytes of a well-formed session, ` +
        `${chunk} byte(s) every ${everyMs} ms`,
      connections: [{
        steps,
        read: "drain",
        holdMs: 0,
        expect: [...open.expect, ...calls.expect],
      }],
    };
  },

  never_read(rng) {
    const count = rng.range(50, 3000);
    const procedure = rng.pick([157, 7, 273, 59] as const);
    const frames = [handshake().bytes];
    for (let i = 0; i < count; i++) {
      frames.push(frame({ procedure, serial: 10 + i }, safeBody(procedure)));
    }
    const holdMs = rng.range(500, 4000);
    return {
      description:
        `${count} calls of procedure ${procedure}, replies never read, held ${holdMs} ms`,
      connections: [{ steps: [{ op: "write", bytes: concat(frames) }], read: "never", holdMs }],
    };
  },

  odd_open(rng) {
    const count = rng.range(1, 4);
    const frames: Uint8Array[] = [];
    const notes: string[] = [];
    for (let i = 0; i < count; i++) {
      const name = rng.pick([
        OPEN_NAME,
        OPEN_NAME,
        null,
        "",
        "test:///default?x=1",
        "qemu:///system",
        "x".repeat(rng.range(1, 300)),
      ]);
      const flags = rng.pick([0, 0, 1, 2, 3, rng.u32()]);
      const cut = rng.chance(0.2);
      let body = concat([optionalString(name), words(flags)]);
      if (cut) body = body.subarray(0, rng.int(body.length));
      frames.push(frame({ procedure: RemoteProc.CONNECT_OPEN, serial: 1 + i }, body));
      notes.push(
        `open(${JSON.stringify(name)?.slice(0, 24)}, 0x${flags.toString(16)}${cut ? ", cut" : ""})`,
      );
    }
    frames.push(frame({ procedure: RemoteProc.CONNECT_GET_LIB_VERSION, serial: 50 }));
    if (rng.chance(0.5)) frames.push(frame({ procedure: RemoteProc.CONNECT_CLOSE, serial: 51 }));
    return {
      description: notes.join(", ") + ", then getLibVersion",
      connections: [{
        steps: [{ op: "write", bytes: concat(frames) }],
        read: "drain",
        holdMs: 500,
      }],
    };
  },
};

/** The first `n` bytes of `bytes` in hex. */
export function hex(bytes: Uint8Array, n: number): string {
  const shown = Array.from(bytes.subarray(0, n), (b) => b.toString(16).padStart(2, "0")).join("");
  return bytes.length > n ? `${shown}…` : shown;
}

/** The whole byte stream a connection plan writes, for reproducing a case by hand. */
export function planBytes(plan: ConnectionPlan): Uint8Array {
  return concat(
    plan.steps.flatMap((s) => s.op === "write" || s.op === "drip" ? [s.bytes] : []),
  );
}
