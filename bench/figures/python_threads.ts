/**
 * python-libvirt clients: T threads, each with its own connection, each M sequential
 * `getLibVersion()` calls against a real libvirtd, through every unix path of the rig.
 *
 * @module
 */

import { runPython } from "../../tests/integration/helpers/python.ts";
import type { Figure, Metric } from "../report.ts";
import type { Rig } from "../rig.ts";
import { interleave, progress } from "./_interleave.ts";

/** The Python script: prints `{"calls", "seconds", "callsPerSec", "p50Us", "p99Us"}`. */
export const PYTHON_SCRIPT = `
import json, sys, threading, time
import libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
uri, threads, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = [libvirt.open(uri) for _ in range(threads)]
for c in conns:
    c.getLibVersion()
lat = []
lock = threading.Lock()
def work(c):
    mine = []
    for _ in range(calls):
        t = time.perf_counter()
        c.getLibVersion()
        mine.append(time.perf_counter() - t)
    with lock:
        lat.extend(mine)
ts = [threading.Thread(target=work, args=(c,)) for c in conns]
t0 = time.perf_counter()
for t in ts: t.start()
for t in ts: t.join()
dt = time.perf_counter() - t0
for c in conns: c.close()
lat.sort()
n = len(lat)
print(json.dumps({"calls": n, "seconds": dt, "callsPerSec": n / dt,
                  "p50Us": lat[n // 2] * 1e6, "p99Us": lat[min(n - 1, int(n * 0.99))] * 1e6}))
`;

/** Options for {@linkcode measurePythonThreads}. */
export interface PythonThreadsOptions {
  /** Threads (connections). */
  threads: number;
  /** Calls per thread. */
  calls: number;
  /** Samples per path. */
  rounds: number;
}

/** Measures python-libvirt threads through every path of a real-libvirtd rig. */
export async function measurePythonThreads(
  rig: Rig,
  options: PythonThreadsOptions,
): Promise<Figure> {
  const rate: Metric = { id: "callsPerSec", label: "calls/s", better: "higher", samples: {} };
  const p50: Metric = { id: "p50Us", label: "p50 (µs)", better: "lower", samples: {} };
  const p99: Metric = { id: "p99Us", label: "p99 (µs)", better: "lower", samples: {} };
  progress(`python-libvirt: ${options.threads} threads × ${options.calls} calls`);
  await interleave(options.rounds, rig.paths, async (path) => {
    const uri = `test+unix:///default?socket=${path.socket}`;
    const run = await runPython(
      PYTHON_SCRIPT,
      [uri, `${options.threads}`, `${options.calls}`],
      { timeoutMs: 120000 },
    );
    if (run.code !== 0) throw new Error(`python-libvirt on ${path.id} failed: ${run.stderr}`);
    const result = JSON.parse(run.stdout.trim().split("\n").pop()!);
    (rate.samples[path.id] ??= []).push(result.callsPerSec);
    (p50.samples[path.id] ??= []).push(result.p50Us);
    (p99.samples[path.id] ??= []).push(result.p99Us);
  });
  return {
    id: "python_threads",
    title: `python-libvirt, ${options.threads} threads, real libvirtd`,
    description: `${options.threads} Python threads, each with its own libvirt.open() ` +
      `connection, each ${options.calls} sequential getLibVersion() calls, against the ` +
      "private libvirtd (test driver, max_client_requests 5). Informational: no goal.",
    columns: rig.paths.map((p) => p.id),
    metrics: [rate, p50, p99],
    goals: [],
    commands: [
      `/usr/bin/python3 -c "$PYTHON_SCRIPT" 'test+unix:///default?socket=PATH_SOCKET' ` +
      `${options.threads} ${options.calls}   # script: bench/figures/python_threads.ts`,
    ],
    notes: [],
  };
}
