/**
 * The V8 flags virtmux runs with, in one place: `deno task start` and `deno task compile` (which
 * bakes them into the binary) use them, and so do the benchmarks and the integration tests, so
 * that what is measured and tested is what ships.
 *
 * `--max-semi-space-size=4` caps V8's young generation at a few MiB. Left alone, V8 grows it to
 * 48 MiB under load and keeps it resident: with 10,000 idle clients that was 4 KiB of every
 * client's 11 KiB. Capped, a client costs under 7 KiB, with small-call throughput unchanged
 * within the benchmarks' noise (BENCHMARKS.md).
 *
 * @module
 */

/** V8 flags for virtmux, as one `deno run` / `deno compile` argument. */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=4";
