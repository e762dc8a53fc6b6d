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
  "- **p99 round trip against socat.** A sample's p99 is its 50 slowest calls of 5000, and on " +
  "this shared 2-core VM those are scheduling stalls as much as relay work: back-to-back samples " +
  "of the same virtmux build measured 202–322 µs, the plain Deno relay 165–213 µs, so a run's " +
  "median lands on either side of the 1.2× line. Deno's machinery adds its share to every relay " +
  "written for it: V8 young-generation collections (0.1–0.16 ms each) come every ~400 calls in " +
  "virtmux and every ~270 in the plain relay, the same promises per read and write in both; " +
  "p50 stays within the goal.",
  "- **Good calls/s under the memory attack, dedicated mode.** Dedicated mode keeps one daemon " +
  "connection per client, so 1000 attackers are 1000 connections on libvirtd, whose main loop " +
  "polls every socket and walks every client (glib's prepare/query/check over each source, " +
  "virNetServerProcessClients) on each iteration, two iterations or more per call. perf of " +
  "libvirtd with 1000 idle clients connected to it directly, no virtmux anywhere: ~21% of its " +
  "time in poll() over those sockets, ~15% in glib's per-source walk. The direct column's " +
  "'attackers idle ÷ no attack' row is that cost alone; dedicated's 'under attack ÷ attackers " +
  "idle' row is what the pushing costs through virtmux once the clients are there. Shared " +
  "mode puts the same 1000 clients on a few daemon connections and meets the goal.",
];
