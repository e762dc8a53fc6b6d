/**
 * Fixed-bucket histograms kept in typed arrays: observing a value is a short loop over the
 * bucket bounds and three additions, with no allocation.
 *
 * @module
 */

import { formatSample, type Labels } from "./text_format.ts";

/** Bucket upper bounds, in seconds, for RPC call latency (100 µs to 10 s). */
export const CALL_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Bucket upper bounds, in seconds, for dials and handshakes (1 ms to 30 s). */
export const DIAL_BUCKETS: readonly number[] = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/** One histogram series: counts per bucket (not cumulative), sum and count. */
export class Histogram {
  readonly #bounds: readonly number[];
  /** Counts per bucket, the last one for values above every bound; then sum, then count. */
  readonly #slots: Float64Array;

  /** An empty histogram over `bounds` (ascending, in seconds). */
  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#slots = new Float64Array(bounds.length + 3);
  }

  /** Records one value. */
  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    const slots = this.#slots;
    slots[i]++;
    slots[bounds.length + 1] += value;
    slots[bounds.length + 2]++;
  }

  /** Values observed. */
  get count(): number {
    return this.#slots[this.#bounds.length + 2];
  }

  /** Sum of the values observed. */
  get sum(): number {
    return this.#slots[this.#bounds.length + 1];
  }

  /** Appends `name_bucket` (cumulative, with `le`), `name_sum` and `name_count` lines. */
  render(out: string[], name: string, labels: Labels): void {
    let cumulative = 0;
    for (let i = 0; i <= this.#bounds.length; i++) {
      cumulative += this.#slots[i];
      const le = i < this.#bounds.length ? String(this.#bounds[i]) : "+Inf";
      out.push(formatSample(`${name}_bucket`, { ...labels, le }, cumulative));
    }
    out.push(formatSample(`${name}_sum`, labels, this.sum));
    out.push(formatSample(`${name}_count`, labels, this.count));
  }
}
