/**
 * The metrics observer of one client session: counts each frame into its upstream's
 * {@linkcode UpstreamMeter} from the 28-byte header alone, and times calls from their CALL to
 * their REPLY by serial (every call of a session's first 16, then one in 16). Per frame it reads
 * a few header words and adds to typed-array slots; it never allocates and never returns a
 * promise.
 *
 * @module
 */

import type { SessionObserver } from "../proxy/observer.ts";
import { ErrorCode, ErrorDomain, MessageStatus, MessageType, Program } from "../wire/constants.ts";
import { HEADER_BYTES } from "../wire/constants.ts";
import {
  frameProcedure,
  frameProgram,
  frameSerial,
  frameStatus,
  frameType,
  readU32,
} from "../wire/header.ts";
import { ErrorKindIndex, typeSlot, type UpstreamMeter } from "./upstream_meter.ts";

/**
 * A session's first calls are all timed; after them, one call in {@linkcode SAMPLE_EVERY}.
 * Reading the clock is what metering costs most (performance.now() takes 200-330 ns in Deno here,
 * against ~1 ns for a counter), so a busy session pays it for a sample of its calls, while a
 * short-lived client (a virsh run, an exporter's scrape) has every call timed.
 */
export const TIME_FIRST_CALLS = 16;

/** After {@linkcode TIME_FIRST_CALLS}, one call in this many is timed (a power of two). */
export const SAMPLE_EVERY = 16;

/**
 * Calls timed at once per client: two, held in fields of the meter itself (an idle client then
 * costs no array: 10,000 idle clients are a benchmark figure). Serials of one client rise by one
 * per call, so the serial's low bit picks the slot; a timed call that is still out when a later
 * timed call takes its slot is counted without a latency. libvirt's clients make one call at a
 * time per thread, and past the first calls only one in SAMPLE_EVERY is timed.
 */
const NO_CALL = -1;

/** Counts one session's frames; made by {@linkcode ProxyMetrics} per session. */
export class SessionMeter implements SessionObserver {
  readonly #meter: UpstreamMeter;
  readonly #closed: (meter: SessionMeter, reason: string) => void;
  #serial0 = NO_CALL;
  #started0 = 0;
  #serial1 = NO_CALL;
  #started1 = 0;
  /** Calls the client has made. */
  calls = 0;
  /** Calls answered. */
  replies = 0;

  /**
   * A meter feeding `meter`; `closed` runs once the session has ended (to count errors by
   * its close reason and forget the session).
   */
  constructor(meter: UpstreamMeter, closed: (meter: SessionMeter, reason: string) => void) {
    this.#meter = meter;
    this.#closed = closed;
  }

  /** Counts a frame from the client; a CALL starts its clock. */
  fromClient(frame: Uint8Array): undefined {
    const type = frameType(frame);
    const meter = this.#meter;
    meter.frames[typeSlot(type)]++;
    meter.bytes[0] += frame.length;
    if (type === MessageType.CALL || type === MessageType.CALL_WITH_FDS) {
      const calls = this.calls++;
      if (calls >= TIME_FIRST_CALLS && (calls & (SAMPLE_EVERY - 1)) !== 0) return undefined;
      const serial = frameSerial(frame);
      if ((serial & 1) === 0) {
        this.#serial0 = serial;
        this.#started0 = performance.now();
      } else {
        this.#serial1 = serial;
        this.#started1 = performance.now();
      }
    }
    return undefined;
  }

  /** Counts a frame to the client; a REPLY stops its call's clock. */
  toClient(frame: Uint8Array): undefined {
    const type = frameType(frame);
    const meter = this.#meter;
    meter.frames[8 + typeSlot(type)]++;
    meter.bytes[1] += frame.length;
    if (type === MessageType.REPLY || type === MessageType.REPLY_WITH_FDS) {
      this.replies++;
      const serial = frameSerial(frame);
      let seconds = -1;
      if (this.#serial0 === serial) {
        seconds = (performance.now() - this.#started0) / 1000;
        this.#serial0 = NO_CALL;
      } else if (this.#serial1 === serial) {
        seconds = (performance.now() - this.#started1) / 1000;
        this.#serial1 = NO_CALL;
      }
      const error = frameStatus(frame) === MessageStatus.ERROR;
      meter.replied(frameProgram(frame), frameProcedure(frame), error, seconds);
      if (error && deniedByProxy(frame)) meter.errors[ErrorKindIndex.policy_denied]++;
    } else if (type === MessageType.MESSAGE && frameProgram(frame) !== Program.KEEPALIVE) {
      meter.events++;
    }
    return undefined;
  }

  /** Counts the error kind the close reason names, if any. */
  closed(reason: string): void {
    const kind = errorKindOf(reason);
    if (kind !== undefined) this.#meter.errors[ErrorKindIndex[kind]]++;
    this.#closed(this, reason);
  }
}

/**
 * Whether an ERROR reply is one the proxy made to refuse a call (a policy's deny or allow list,
 * or SET_IDENTITY on a shared upstream): VIR_ERR_OPERATION_DENIED in VIR_FROM_RPC, the code and
 * domain the proxy gives its refusals. A daemon's own denials come from its drivers' domains.
 * Reads the first two words of the `remote_error` body; runs for ERROR replies only.
 */
function deniedByProxy(frame: Uint8Array): boolean {
  if (frame.length < HEADER_BYTES + 8) return false;
  return readU32(frame, HEADER_BYTES) === ErrorCode.OPERATION_DENIED &&
    readU32(frame, HEADER_BYTES + 4) === ErrorDomain.RPC;
}

/**
 * The error kind a session's close reason shows: an invalid frame (too long, or otherwise bad),
 * a client that did not read its replies (budget), or an upstream that went away. Timeouts are
 * counted by the server, which closes for them; other reasons are not errors.
 */
export function errorKindOf(
  reason: string,
): "oversize" | "bad_frame" | "budget" | "upstream_lost" | undefined {
  if (reason.startsWith("invalid frame: ")) {
    return reason.includes(" exceeds the limit of ") ? "oversize" : "bad_frame";
  }
  if (reason.startsWith("did not read its replies")) return "budget";
  if (reason.startsWith("upstream ") && reason !== "upstream unreachable") return "upstream_lost";
  return undefined;
}
