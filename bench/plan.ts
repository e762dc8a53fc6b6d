/**
 * The sizes of a bench run (full or `--quick`) and the figure ids `--only` takes, in the order a
 * full run measures them.
 *
 * @module
 */

/** The `--only` ids, in the order a full run measures them (and BENCHMARKS.md lists them). */
export const RUN_ORDER: readonly string[] = [
  "upstream",
  "calls",
  "latency",
  "stream",
  "pinned",
  "memory",
  "decode",
  "audit",
  "metrics",
  "virsh",
  "python",
  "ssh",
  "tls",
  "attack",
  "front",
  "sasl",
];

/** Sizes of a run. */
export interface Plan {
  /** Samples per path for the noisy figures. */
  rounds: number;
  /** Timed calls per connection at 16 connections. */
  calls16: number;
  /** Timed calls per connection at 100 connections. */
  calls100: number;
  /** Timed calls on the single-connection latency figure. */
  callsLatency: number;
  /** 256 KiB STREAM frames per stream sample. */
  streamChunks: number;
  /** Sequential clients for the upstream-connection figure. */
  sequentialClients: number;
  /** Idle clients for the memory figure. */
  idleClients: number;
  /** Samples per path for the memory figure. */
  memoryRounds: number;
  /** Samples per target of one-shot virsh figures. */
  virshRounds: number;
  /** python-libvirt threads and calls per thread. */
  pythonThreads: number;
  /** python-libvirt calls per thread. */
  pythonCalls: number;
  /** Network fronts: opens (connect, open, close) per sample. */
  frontOpens: number;
  /** Network fronts: small calls per sample on one connection. */
  frontCalls: number;
  /** SASL pool: python-libvirt threads. */
  saslThreads: number;
  /** SASL pool: seconds per sample. */
  saslSeconds: number;
}

/** The full run (about 17 minutes). */
export const FULL: Plan = {
  rounds: 7,
  calls16: 3000,
  calls100: 600,
  callsLatency: 5000,
  streamChunks: 4096,
  sequentialClients: 1000,
  idleClients: 10000,
  memoryRounds: 3,
  virshRounds: 9,
  pythonThreads: 8,
  pythonCalls: 500,
  frontOpens: 30,
  frontCalls: 2000,
  saslThreads: 4,
  saslSeconds: 5,
};

/** The quick run (about 2 minutes). */
export const QUICK: Plan = {
  rounds: 3,
  calls16: 400,
  calls100: 80,
  callsLatency: 800,
  streamChunks: 1024,
  sequentialClients: 300,
  idleClients: 2000,
  memoryRounds: 1,
  virshRounds: 3,
  pythonThreads: 4,
  pythonCalls: 200,
  frontOpens: 10,
  frontCalls: 500,
  saslThreads: 4,
  saslSeconds: 2,
};
