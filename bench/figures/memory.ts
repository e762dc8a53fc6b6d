/**
 * Memory for many idle clients on one listener: RSS of virtmux (shared pool) before and after
 * `count` raw clients have each done AUTH_LIST + CONNECT_OPEN and stay connected; HAProxy's
 * growth per connection pair as the reference.
 *
 * @module
 */

import { holdIdleClients, loadCommand } from "../load_runner.ts";
import { rssKib } from "../procstat.ts";
import { shellWords } from "../references.ts";
import { type Figure, type Metric, ratiosOf } from "../report.ts";
import type { PathId, Rig } from "../rig.ts";
import { interleave, progress } from "./_interleave.ts";

/** Options for {@linkcode measureMemory}. */
export interface MemoryOptions {
  /** Idle clients through virtmux. */
  count: number;
  /** Idle clients through HAProxy (two fds each there: fewer when the open-file limit says so). */
  haproxyCount: number;
  /** Samples per path. */
  rounds: number;
  /** Command prefix for the client process (`prlimit --nofile=...`). */
  prefix: string[];
}

/**
 * Measures RSS growth for `count` idle clients through HAProxy and virtmux shared. Every round
 * starts a fresh rig from `makeRig`: a process keeps the memory it once used (V8's heap, malloc
 * arenas), so a second round in the same process would measure almost nothing.
 */
export async function measureMemory(
  makeRig: () => Promise<Rig>,
  options: MemoryOptions,
): Promise<Figure> {
  const countOf = (id: string) => id === "haproxy" ? options.haproxyCount : options.count;
  const clientsMetric: Metric = { id: "clients", label: "clients", better: "higher", samples: {} };
  const total: Metric = {
    id: "rssGrowthMiB",
    label: "RSS growth (MiB)",
    better: "lower",
    samples: {},
    digits: 1,
  };
  const perClient: Metric = {
    id: "kibPerClient",
    label: "KiB per client",
    better: "lower",
    samples: {},
    digits: 2,
  };
  const empty: Metric = {
    id: "rssBeforeMiB",
    label: "RSS before (MiB)",
    better: "lower",
    samples: {},
    digits: 1,
  };
  const ids: PathId[] = ["shared", "haproxy"];
  const commands: string[] = [];
  for (const id of ids) {
    commands.push(
      shellWords(loadCommand(
        ["idle", "--socket", `${id.toUpperCase()}_SOCKET`, "--count", `${countOf(id)}`],
        options.prefix,
      )) + `   # ${id}`,
    );
  }
  progress(`memory: ${options.count} idle clients`);
  let rig: Rig | undefined;
  await interleave(options.rounds, ids, async (id, round) => {
    if (rig === undefined || id === ids[round % ids.length]) { // first of its round
      await rig?.stop();
      rig = await makeRig();
    }
    const path = rig.paths.find((p) => p.id === id)!;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const before = rssKib(path.pid!);
    const clients = await holdIdleClients(
      ["idle", "--socket", path.socket, "--count", `${countOf(path.id)}`, "--parallel", "64"],
      { prefix: options.prefix },
    );
    try {
      if (clients.failed > 0) {
        throw new Error(
          `Cannot hold ${countOf(path.id)} idle clients on ${path.id}: ${clients.failed} failed: ` +
            clients.firstError,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const after = rssKib(path.pid!);
      (total.samples[path.id] ??= []).push((after - before) / 1024);
      (perClient.samples[path.id] ??= []).push((after - before) / clients.opened);
      (empty.samples[path.id] ??= []).push(before / 1024);
      (clientsMetric.samples[path.id] ??= []).push(clients.opened);
    } finally {
      await clients.release();
    }
  }).finally(() => rig?.stop());
  return {
    id: "memory_idle_clients",
    title: `Memory for ${options.count.toLocaleString("en-US")} idle clients on one listener`,
    description: `${options.count} raw clients each do AUTH_LIST + CONNECT_OPEN and stay ` +
      "connected; the figure is VmRSS (/proc/PID/status) of the relay 1.5 s after the last one " +
      "opened, minus VmRSS right before they connected. virtmux: the shared listener (the " +
      "clients' handshakes are answered by the proxy; the pool holds its few upstream " +
      "connections). HAProxy: each client is a connection pair (client side + server side to " +
      "the fast daemon), so it holds two fds per client and gets as many clients as its maxconn " +
      "allows within the open-file limit. Every process of this rig runs under `prlimit` with " +
      "the soft open-file limit raised to the hard one. Each round starts fresh processes " +
      "(the first measurement in a process is the only honest one: freed memory stays " +
      "resident). virtmux runs with the V8 flags it ships with (tools/v8_flags.ts): uncapped, " +
      "V8's young generation grows to 48 MiB under this load and stays resident, about 4 KiB " +
      "of each client's 11; a bare Deno server holding the same connections, each with a " +
      "pending read, costs about 6 KiB per connection uncapped.",
    columns: ids,
    metrics: [clientsMetric, total, perClient, empty],
    goals: [{
      text: "virtmux shared ≤ 8 KiB per client",
      metric: "kibPerClient",
      subject: "shared",
      op: "<=",
      threshold: 8,
    }, {
      text: "virtmux shared RSS growth ≤ 80 MiB (≤ 8 KiB per client at 10k)",
      metric: "rssGrowthMiB",
      subject: "shared",
      op: "<=",
      threshold: 80 * options.count / 10000,
    }],
    ratios: ratiosOf("kibPerClient", [["shared", "haproxy"]]),
    commands,
    notes: options.count === 10000 ? [] : [
      `Quick run: ${options.count} clients, so the target is scaled to ` +
      `${(80 * options.count / 10000).toFixed(0)} MiB (8 KiB per client).`,
    ],
  };
}
