/**
 * Stream traffic summarised for the audit log: bytes, chunks, holes and end-of-stream markers each
 * way, and how the stream ended, never the data. The caller feeds every STREAM and STREAM_HOLE
 * frame of one stream (same program, procedure and serial as the call that opened it) to
 * {@linkcode StreamSummary.add}; only an error body and a hole are decoded.
 *
 * How libvirt ends a stream (src/rpc/virnetclientstream.c, src/remote/remote_daemon_stream.c): a
 * sender's end of data is a CONTINUE message with an empty body; the client finishes with status
 * OK and the daemon confirms with OK (`finished`); the client aborts with status ERROR and an
 * empty body (`aborted`); the daemon fails the stream with ERROR and a remote_error (`error`).
 *
 * @example Summarise a screenshot stream
 * ```ts ignore
 * const summary = new StreamSummary();
 * summary.add(dataFrame, false); // daemon → client, 33443 bytes
 * summary.add(eofFrame, false);
 * summary.add(finishFrame, true);
 * summary.add(confirmFrame, false);
 * summary.done; // true
 * JSON.stringify(summary); // {"from_client":{...},"from_daemon":{"bytes":33443,...},"outcome":"finished"}
 * ```
 *
 * @module
 */

import { HEADER_BYTES, MessageStatus, MessageType } from "../wire/constants.ts";
import { decodeFrame } from "./decoder.ts";

/** How a stream ended, so far. */
export type StreamOutcome = "open" | "finished" | "aborted" | "error";

/** Counters of one direction. */
export interface StreamDirection {
  /** Payload bytes of data messages. */
  bytes: number;
  /** Data messages with a payload. */
  chunks: number;
  /** STREAM_HOLE messages. */
  holes: number;
  /** Bytes the holes skip. */
  hole_bytes: number;
  /** Whether the sender signalled the end of its data (an empty CONTINUE). */
  eof: boolean;
}

/** The JSON form of a {@linkcode StreamSummary}. */
export interface StreamSummaryRecord {
  /** What the client sent. */
  from_client: StreamDirection;
  /** What the daemon sent. */
  from_daemon: StreamDirection;
  /** How it ended. */
  outcome: StreamOutcome;
  /** The daemon's remote_error when the outcome is `error`. */
  error?: unknown;
  /** Frames that were not stream messages of a known shape, with the first reason. */
  malformed?: { frames: number; first: string };
}

function direction(): StreamDirection {
  return { bytes: 0, chunks: 0, holes: 0, hole_bytes: 0, eof: false };
}

/** Accumulates one stream's traffic; see the module doc. */
export class StreamSummary {
  #client = direction();
  #daemon = direction();
  #outcome: StreamOutcome = "open";
  #clientFinished = false;
  #done = false;
  #error: unknown;
  #malformed: { frames: number; first: string } | undefined;

  /**
   * Counts one STREAM or STREAM_HOLE frame.
   *
   * @param frame The whole frame, length word included.
   * @param fromClient True for client → daemon.
   */
  add(frame: Uint8Array, fromClient: boolean): void {
    if (frame.length < HEADER_BYTES) return this.#bad(`a ${frame.length}-byte frame`);
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const type = view.getInt32(16);
    const status = view.getInt32(24);
    const side = fromClient ? this.#client : this.#daemon;
    const payload = frame.length - HEADER_BYTES;
    if (type === MessageType.STREAM_HOLE) {
      const decoded = decodeFrame(frame);
      const length = (decoded.hole as { length?: unknown } | undefined)?.length;
      if (decoded.decode_error || typeof length !== "number") {
        return this.#bad(`a hole: ${decoded.decode_error?.expected ?? "length past 2^53"}`);
      }
      side.holes++;
      side.hole_bytes += length;
      return;
    }
    if (type !== MessageType.STREAM) return this.#bad(`a message of type ${type}`);
    switch (status) {
      case MessageStatus.CONTINUE:
        if (payload === 0) side.eof = true;
        else {
          side.chunks++;
          side.bytes += payload;
        }
        return;
      case MessageStatus.OK:
        if (fromClient) {
          this.#clientFinished = true;
          return;
        }
        if (this.#outcome === "open" && this.#clientFinished) this.#outcome = "finished";
        if (this.#outcome !== "open") this.#done = true;
        return;
      case MessageStatus.ERROR:
        if (fromClient) {
          if (this.#outcome === "open") this.#outcome = "aborted";
          return;
        }
        if (payload > 0) {
          this.#outcome = "error";
          this.#error = decodeFrame(frame).error;
        }
        this.#done = true;
        return;
      default:
        this.#bad(`status ${status}`);
    }
  }

  #bad(what: string): void {
    if (this.#malformed) this.#malformed.frames++;
    else this.#malformed = { frames: 1, first: what };
  }

  /** True once the stream has ended both ways (finished, or failed by the daemon). */
  get done(): boolean {
    return this.#done;
  }

  /** The outcome so far. */
  get outcome(): StreamOutcome {
    return this.#outcome;
  }

  /** The summary as a JSON-safe object. */
  toJSON(): StreamSummaryRecord {
    const record: StreamSummaryRecord = {
      from_client: { ...this.#client },
      from_daemon: { ...this.#daemon },
      outcome: this.#outcome,
    };
    if (this.#error !== undefined) record.error = this.#error;
    if (this.#malformed) record.malformed = { ...this.#malformed };
    return record;
  }
}
