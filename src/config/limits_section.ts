/**
 * `[limits]`: its keys, types, bounds and defaults, declared once, and its reader; also the
 * bounds the other sections share (a listener's or upstream's own `max_message_bytes` and
 * `max_clients` may only be stricter).
 *
 * @module
 */

import { MAX_FRAME_BYTES } from "../wire/constants.ts";
import type { Checker, Section } from "./_fields.ts";
import {
  defaultsOf,
  type Fields,
  integerIn,
  type Reader,
  readSection,
  secondsUpTo,
} from "./_section.ts";

/** The smallest `max_message_bytes`: 256 KiB + 4, the oldest daemons' limit and a full stream chunk. */
export const MIN_MESSAGE_BYTES = 262148;
/** The largest `max_message_bytes`: 32 MiB + 4, libvirt's own limit; the daemon rejects more. */
export const MAX_MESSAGE_BYTES: number = MAX_FRAME_BYTES;
/** The largest `max_clients`, of `[limits]` and of a `[[listen]]`. */
export const MAX_CLIENTS = 1_048_576;
/** The largest number of outstanding calls, per client or per upstream connection. */
export const MAX_INFLIGHT = 65_536;
/** The longest duration any key takes, in seconds. */
export const MAX_SECONDS = 3600;

/** `max_message_bytes`, in `[limits]`, `[[upstream]]` and `[[listen]]`. */
export const messageBytes: Reader<number, unknown> = integerIn(
  MIN_MESSAGE_BYTES,
  MAX_MESSAGE_BYTES,
  `${MIN_MESSAGE_BYTES} (256 KiB + 4, the oldest daemons' limit and a full stream chunk) and ` +
    `${MAX_MESSAGE_BYTES} (32 MiB + 4, libvirt's own limit)`,
);

/** `[limits]`: process-wide limits. */
export interface LimitsConfig {
  /**
   * Largest frame in bytes, length word included (`max_message_bytes`).
   *
   * @default {33554436}
   */
  maxMessageBytes: number;
  /**
   * Most clients at once over all listeners (`max_clients`).
   *
   * @default {4096}
   */
  maxClients: number;
  /**
   * Outstanding CALLs per client before virtmux stops reading it (`max_inflight_per_client`).
   *
   * @default {32}
   */
  maxInflightPerClient: number;
  /**
   * Time allowed to dial and open an upstream, in ms (`connect_timeout`, seconds).
   *
   * @default {10000}
   */
  connectTimeoutMs: number;
  /**
   * Time allowed for outstanding calls to finish on shutdown, in ms (`shutdown_grace`, seconds).
   *
   * @default {5000}
   */
  shutdownGraceMs: number;
  /**
   * A client that sends no CONNECT_OPEN this long after connecting is closed, in ms
   * (`open_timeout`, seconds; 0 turns it off).
   *
   * @default {30000}
   */
  openTimeoutMs: number;
  /**
   * A client that stalls this long in the middle of a frame (slowloris) is closed, in ms
   * (`frame_timeout`, seconds; 0 turns it off).
   *
   * @default {30000}
   */
  frameTimeoutMs: number;
  /**
   * A client that sends nothing this long while it has no call outstanding is closed, in ms
   * (`idle_timeout`, seconds). libvirt clients with keepalive ping every 5 s.
   *
   * @default {0} (off)
   */
  idleTimeoutMs: number;
  /**
   * Frame bytes virtmux may hold beyond each client's 64 KiB allowance, over all clients
   * (`max_buffered_bytes`); at least `maxMessageBytes`.
   *
   * @default {268435456}
   */
  maxBufferedBytes: number;
  /**
   * A frame that holds buffered bytes must arrive within 1 s plus its length at this rate, in
   * bytes per second (`min_frame_rate`; 0 turns the rule off).
   *
   * @default {1048576}
   */
  minFrameRate: number;
}

/** 1 TiB: far beyond any machine virtmux runs on, and exact as a double. */
const MAX_BUFFERED_BYTES = 2 ** 40;

const LIMITS_FIELDS: Fields<LimitsConfig> = {
  maxMessageBytes: { key: "max_message_bytes", read: messageBytes, default: MAX_MESSAGE_BYTES },
  maxClients: { key: "max_clients", read: integerIn(1, MAX_CLIENTS), default: 4096 },
  maxInflightPerClient: {
    key: "max_inflight_per_client",
    read: integerIn(1, MAX_INFLIGHT),
    default: 32,
  },
  connectTimeoutMs: {
    key: "connect_timeout",
    read: secondsUpTo(MAX_SECONDS, false),
    default: 10_000,
  },
  shutdownGraceMs: { key: "shutdown_grace", read: secondsUpTo(MAX_SECONDS, true), default: 5_000 },
  openTimeoutMs: { key: "open_timeout", read: secondsUpTo(MAX_SECONDS, true), default: 30_000 },
  frameTimeoutMs: { key: "frame_timeout", read: secondsUpTo(MAX_SECONDS, true), default: 30_000 },
  idleTimeoutMs: { key: "idle_timeout", read: secondsUpTo(MAX_SECONDS, true), default: 0 },
  maxBufferedBytes: {
    key: "max_buffered_bytes",
    read: integerIn(0, MAX_BUFFERED_BYTES),
    default: 256 << 20,
  },
  minFrameRate: { key: "min_frame_rate", read: integerIn(0, MAX_BUFFERED_BYTES), default: 1 << 20 },
};

/** The defaults of `[limits]`. */
export const LIMITS_DEFAULTS: Readonly<LimitsConfig> = defaultsOf(LIMITS_FIELDS) as LimitsConfig;

/** Reads `[limits]`; its defaults when the table is absent. */
export function readLimits(checker: Checker, section: Section | undefined): LimitsConfig {
  const limits = readSection(checker, section, LIMITS_FIELDS, undefined);
  // The budget must hold a largest frame (issue 11).
  if (section !== undefined && limits.maxBufferedBytes < limits.maxMessageBytes) {
    checker.report(
      [...section.path, "max_buffered_bytes"],
      `"max_buffered_bytes" must be at least max_message_bytes (${limits.maxMessageBytes}), so ` +
        `that a largest frame fits, got ${limits.maxBufferedBytes}`,
    );
  }
  return limits;
}
