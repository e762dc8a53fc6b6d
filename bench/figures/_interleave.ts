/**
 * Interleaved sampling: every round runs every path once, in an order rotated each round, so slow
 * drifts of a noisy machine hit all paths alike.
 *
 * @module
 */

/** Progress output for long runs. */
export function progress(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/**
 * Runs `sample(item, round)` for each item, `rounds` times, rotating the order each round.
 *
 * @param rounds how many samples per item
 * @param items the paths (or anything else) to sample
 * @param sample takes one sample; errors propagate
 */
export async function interleave<T>(
  rounds: number,
  items: readonly T[],
  sample: (item: T, round: number) => Promise<void>,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < items.length; i++) {
      await sample(items[(i + round) % items.length], round);
    }
  }
}
