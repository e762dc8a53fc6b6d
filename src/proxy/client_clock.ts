/**
 * The times a session keeps about its client, for the timeouts a proxy in front of production
 * daemons needs: a client must open within `open_timeout`, may not stall in the middle of a frame
 * (slowloris) longer than `frame_timeout`, and may not sit idle, with nothing outstanding, longer
 * than `idle_timeout`. A server-wide sweep asks each session; nothing here runs per frame.
 *
 * @module
 */

/** Client timeouts in ms; 0 turns one off. */
export interface ClientTimeouts {
  /** From connecting to its CONNECT_OPEN call. */
  openMs: number;
  /** Without a byte while part of a frame is held. */
  frameMs: number;
  /** Without a byte while no call is outstanding. */
  idleMs: number;
}

/** Read times of one client. */
export class ClientClock {
  readonly #connectedAt: number;
  #lastByteAt: number;
  /** True once the client has sent CONNECT_OPEN. */
  opened = false;
  /** True while part of a frame is held. */
  partial = false;

  /** Starts the clock at `now` (ms). */
  constructor(now: number = Date.now()) {
    this.#connectedAt = now;
    this.#lastByteAt = now;
  }

  /** When the client's last byte arrived (ms since epoch). */
  get lastByteAt(): number {
    return this.#lastByteAt;
  }

  /** Notes that bytes arrived. */
  read(now: number = Date.now()): void {
    this.#lastByteAt = now;
  }

  /** Why the client has outstayed a timeout at `now`, or undefined. */
  expired(now: number, timeouts: ClientTimeouts, inflight: number): string | undefined {
    if (!this.opened && timeouts.openMs > 0 && now - this.#connectedAt >= timeouts.openMs) {
      return `sent no CONNECT_OPEN within ${seconds(timeouts.openMs)} s (open_timeout)`;
    }
    const quiet = now - this.#lastByteAt;
    if (this.partial && timeouts.frameMs > 0 && quiet >= timeouts.frameMs) {
      return `stalled in the middle of a frame for ${seconds(timeouts.frameMs)} s (frame_timeout)`;
    }
    if (inflight === 0 && timeouts.idleMs > 0 && quiet >= timeouts.idleMs) {
      return `idle for ${seconds(timeouts.idleMs)} s (idle_timeout)`;
    }
    return undefined;
  }
}

function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
