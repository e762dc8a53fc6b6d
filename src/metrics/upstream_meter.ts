/**
 * The per-upstream counters that every frame feeds: frames and bytes by direction and type,
 * calls by program, procedure and outcome with their latency, events, streams and errors. They
 * live in typed arrays allocated once per upstream and indexed by message type, program and
 * procedure number; labels and names are made only when {@linkcode UpstreamMeter.render} runs
 * at scrape time.
 *
 * @module
 */

import {
  ALL_PROGRAM_LIST,
  MessageType,
  Program,
  programIndex,
  programName,
} from "../wire/constants.ts";
import { procedureName } from "../wire/procedure_names.ts";
import {
  ADMIN_PROCEDURES,
  KEEPALIVE_PROCEDURES,
  LXC_PROCEDURES,
  type ProcedureTable,
  QEMU_PROCEDURES,
  REMOTE_PROCEDURES,
} from "../wire/procedures.ts";
import { CALL_BUCKETS, Histogram } from "./histogram.ts";
import { formatSample } from "./text_format.ts";

/** Error kinds counted in `virtmux_errors_total`. */
export const ERROR_KINDS = [
  "oversize",
  "bad_frame",
  "policy_denied",
  "upstream_lost",
  "timeout",
  "budget",
] as const;

/** One of {@linkcode ERROR_KINDS}. */
export type ErrorKind = typeof ERROR_KINDS[number];

/** Index of each error kind in {@linkcode UpstreamMeter.errors}. */
export const ErrorKindIndex: Readonly<Record<ErrorKind, number>> = Object.fromEntries(
  ERROR_KINDS.map((kind, i) => [kind, i]),
) as Record<ErrorKind, number>;

/** Directions, as label values, by index: 0 from the client, 1 to the client. */
export const DIRECTIONS = ["from_client", "to_client"] as const;

/** Message types as label values, indexed by the header's type (7: anything else). */
export const TYPE_NAMES = [
  "call",
  "reply",
  "message",
  "stream",
  "call_with_fds",
  "reply_with_fds",
  "stream_hole",
  "other",
] as const;

/** Call outcomes as label values: 0 the reply's status was OK, 1 it was ERROR. */
export const OUTCOMES = ["ok", "error"] as const;

const TABLES: ReadonlyMap<number, ProcedureTable> = new Map([
  [Program.REMOTE, REMOTE_PROCEDURES],
  [Program.QEMU, QEMU_PROCEDURES],
  [Program.LXC, LXC_PROCEDURES],
  [Program.KEEPALIVE, KEEPALIVE_PROCEDURES],
  [Program.ADMIN, ADMIN_PROCEDURES],
]);

/**
 * Slots per program: one per procedure number up to the highest libvirt 9.0 knows, plus one
 * shared by every number beyond (a newer client's procedures).
 */
const SLOTS: readonly number[] = ALL_PROGRAM_LIST.map((program) =>
  Math.max(0, ...Object.keys(TABLES.get(program) ?? {}).map(Number)) + 2
);

/** Which procedures open a stream, per program slot (1: yes). */
const STREAM_OPENERS: readonly Uint8Array[] = ALL_PROGRAM_LIST.map((program, p) => {
  const flags = new Uint8Array(SLOTS[p]);
  for (const [number, info] of Object.entries(TABLES.get(program) ?? {})) {
    if (info.stream !== undefined) flags[Number(number)] = 1;
  }
  return flags;
});

/** The counters of one upstream, fed by every session that talks to it. */
export class UpstreamMeter {
  /** The upstream's name, the `upstream` label. */
  readonly name: string;
  /** Frames by direction × type: `[direction * 8 + type]`. */
  readonly frames: Float64Array = new Float64Array(16);
  /** Bytes by direction (frames whole, length word included). */
  readonly bytes: Float64Array = new Float64Array(2);
  /** Errors by {@linkcode ErrorKindIndex}. */
  readonly errors: Float64Array = new Float64Array(ERROR_KINDS.length);
  /** Calls by program slot, then `[procedure * 2 + outcome]`. */
  readonly #calls: Float64Array[] = SLOTS.map((slots) => new Float64Array(slots * 2));
  /** Latency by program slot, then procedure; made when a procedure is first timed. */
  readonly #latency: (Histogram | undefined)[][] = SLOTS.map((slots) => new Array(slots));
  /** Event messages delivered to clients. */
  events = 0;
  /** Streams opened (a stream-opening call answered OK). */
  streams = 0;

  /** Counters of `name`, all zero. */
  constructor(name: string) {
    this.name = name;
  }

  /**
   * A call of `program`/`procedure` was answered: `error` true when the reply's status was
   * ERROR; `seconds` its latency, or negative when unknown.
   */
  replied(program: number, procedure: number, error: boolean, seconds: number): void {
    const p = programIndex(program);
    if (p < 0) return;
    const slots = SLOTS[p];
    const slot = procedure >= 0 && procedure < slots ? procedure : slots - 1;
    this.#calls[p][slot * 2 + (error ? 1 : 0)]++;
    if (!error && STREAM_OPENERS[p][slot] === 1) this.streams++;
    if (seconds < 0) return;
    const row = this.#latency[p];
    (row[slot] ??= new Histogram(CALL_BUCKETS)).observe(seconds);
  }

  /** Calls answered so far for one procedure and outcome (tests and status). */
  calls(program: number, procedure: number, outcome: "ok" | "error"): number {
    const p = programIndex(program);
    if (p < 0) return 0;
    return this.#calls[p][procedure * 2 + (outcome === "error" ? 1 : 0)] ?? 0;
  }

  /** Appends the sample lines of `family` for this upstream. */
  render(family: MeterFamily, out: string[]): void {
    const upstream = this.name;
    switch (family) {
      case "frames":
        for (let d = 0; d < 2; d++) {
          for (let t = 0; t < 8; t++) {
            const value = this.frames[d * 8 + t];
            if (value === 0) continue;
            out.push(formatSample("virtmux_frames_total", {
              upstream,
              direction: DIRECTIONS[d],
              type: TYPE_NAMES[t],
            }, value));
          }
        }
        return;
      case "bytes":
        for (let d = 0; d < 2; d++) {
          out.push(
            formatSample(
              "virtmux_bytes_total",
              { upstream, direction: DIRECTIONS[d] },
              this.bytes[d],
            ),
          );
        }
        return;
      case "errors":
        for (let k = 0; k < ERROR_KINDS.length; k++) {
          out.push(
            formatSample(
              "virtmux_errors_total",
              { upstream, kind: ERROR_KINDS[k] },
              this.errors[k],
            ),
          );
        }
        return;
      case "events":
        out.push(formatSample("virtmux_events_total", { upstream }, this.events));
        return;
      case "streams":
        out.push(formatSample("virtmux_streams_total", { upstream }, this.streams));
        return;
      case "calls":
        this.#eachProcedure((program, procedure, p, slot) => {
          for (let o = 0; o < 2; o++) {
            const value = this.#calls[p][slot * 2 + o];
            if (value === 0) continue;
            out.push(formatSample("virtmux_calls_total", {
              upstream,
              program,
              procedure,
              outcome: OUTCOMES[o],
            }, value));
          }
        });
        return;
      case "latency":
        this.#eachProcedure((program, procedure, p, slot) => {
          this.#latency[p][slot]?.render(out, "virtmux_call_duration_seconds", {
            upstream,
            program,
            procedure,
          });
        });
        return;
    }
  }

  /** Calls `visit` for each procedure slot that has been answered at least once. */
  #eachProcedure(
    visit: (program: string, procedure: string, p: number, slot: number) => void,
  ): void {
    for (let p = 0; p < SLOTS.length; p++) {
      const calls = this.#calls[p];
      const program = programName(ALL_PROGRAM_LIST[p]).toLowerCase();
      for (let slot = 0; slot < SLOTS[p]; slot++) {
        if (calls[slot * 2] === 0 && calls[slot * 2 + 1] === 0) continue;
        const procedure = slot === SLOTS[p] - 1
          ? "other"
          : procedureName(ALL_PROGRAM_LIST[p], slot);
        visit(program, procedure, p, slot);
      }
    }
  }
}

/** The families an {@linkcode UpstreamMeter} renders. */
export type MeterFamily =
  | "frames"
  | "bytes"
  | "errors"
  | "events"
  | "streams"
  | "calls"
  | "latency";

/** The message type `type` as a slot in {@linkcode UpstreamMeter.frames} (7: unknown). */
export function typeSlot(type: number): number {
  return type >= 0 && type <= MessageType.STREAM_HOLE ? type : 7;
}
