/**
 * BENCHMARKS.md's "Where the misses come from": what profiling found behind the goals this machine
 * misses.
 *
 * @module
 */

/**
 * What profiling found behind the goals this machine misses (`deno run --cpu-prof` on virtmux,
 * `perf record -g`, `strace -c -f`, during 16 connections × 2000 calls). Compare each miss with
 * the plain Deno relay column of the same figure: that relay does nothing but read and write.
 */
export const MISSES_EXPLAINED: string[] = [
  "- **CPU per call and pinned small-call throughput.** virtmux makes the minimum of system " +
  "calls (dedicated: 2 receives and 2 sends per call, as HAProxy; shared: calls bound for one " +
  "upstream connection are coalesced into one write, replies to one client likewise). The gap to " +
  "HAProxy is Deno's own machinery around each I/O operation: perf puts virtmux at ~57% kernel, " +
  "~33% in the Deno binary, ~6% JavaScript, against HAProxy's ~88% kernel. The plain Deno relay " +
  "column shows that floor; virtmux costs about 1.0–1.2× it unpinned and 1.1–1.5× pinned.",
  "- **Stream throughput against direct (and against splice on some runs: 0.78–0.82× of " +
  "it).** A relay that copies through user space tops out well below direct on 2 cores (HAProxy without splice reaches about a third of it). " +
  "Splicing needs the sockets' file descriptors, which Deno's unix connections do not expose. " +
  "virtmux overlaps the write of a large run of frames with the next read (a second buffer, no " +
  "copy) and otherwise moves stream data without copying it.",
  "- **tls one-shot virsh.** On loopback a TLS handshake costs about 8 ms against virsh's own " +
  "25–30 ms start-up, so even a path with no handshake at all (virsh on the daemon's own unix " +
  "socket: the floor column) is only 1.2–1.35× faster than direct TLS; the warm pool sits 1–3 ms " +
  "above that floor, as its calls still cross TLS. Over a real network round trip the " +
  "handshake's share, and the pool's gain, grow.",
];
