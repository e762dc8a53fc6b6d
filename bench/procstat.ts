/**
 * Reading a process's CPU time and resident memory from /proc, for the per-call CPU and the
 * idle-client memory figures.
 *
 * @module
 */

import { descendants } from "../tests/integration/helpers/process.ts";

/** Clock ticks per second of /proc/PID/stat times (USER_HZ, 100 on Linux). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of one process (all its threads), in µs; 0 when it is gone. */
export function processCpuMicros(pid: number): number {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return 0;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // After the command: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
  // utime(11) stime(12).
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Time on CPU of one process in µs, summed over its threads from /proc/PID/task/TID/schedstat
 * (nanosecond sum_exec_runtime). Unlike utime+stime it does not round each process to 10 ms
 * ticks, which matters for socat's many short-lived children. 0 when the process is gone.
 */
export function processRunMicros(pid: number): number {
  let ns = 0;
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(
          Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0],
        );
      } catch { /* thread exited */ }
    }
  } catch {
    return 0;
  }
  return ns / 1000;
}

/** Which per-process CPU counter to read. */
export type CpuSource = "stat" | "schedstat";

/**
 * CPU time in µs of `pid` and every live descendant (socat forks one child per connection),
 * keyed by pid so that a before/after difference counts only processes alive at both reads.
 */
export function treeCpuMicros(pid: number, source: CpuSource = "stat"): Map<number, number> {
  const out = new Map<number, number>();
  const read = source === "stat" ? processCpuMicros : processRunMicros;
  for (const p of [pid, ...descendants(pid)]) out.set(p, read(p));
  return out;
}

/** CPU µs spent between two {@linkcode treeCpuMicros} readings (new processes count from 0). */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, micros] of after) sum += micros - (before.get(pid) ?? 0);
  return sum;
}

/** VmRSS of `pid` in KiB, from /proc/PID/status. */
export function rssKib(pid: number): number {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  if (match === null) throw new Error(`Cannot read VmRSS of process ${pid}`);
  return Number(match[1]);
}

/** Sum of VmRSS in KiB over `pid` and its live descendants. */
export function treeRssKib(pid: number): number {
  let sum = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      sum += rssKib(p);
    } catch { /* exited meanwhile */ }
  }
  return sum;
}
