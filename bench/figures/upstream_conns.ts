/**
 * Upstream connections for many sequential clients: each client connects, does AUTH_LIST +
 * CONNECT_OPEN, one call and CONNECT_CLOSE, and leaves; the fast daemon counts the connections it
 * accepted meanwhile. Through a shared pool that must stay at or under `pool_max`.
 *
 * @module
 */

import { STATS_PROCEDURE } from "../fast_daemon.ts";
import { WireClient } from "../wire_client.ts";
import { loadCommand, runLoadOnce } from "../load_runner.ts";
import { shellWords } from "../references.ts";
import type { Figure, Metric } from "../report.ts";
import type { PathId, Rig } from "../rig.ts";
import { readU32 } from "../../src/wire/header.ts";
import { progress } from "./_interleave.ts";

let queries = 0;

/**
 * Connections accepted over the fast daemon's life and open now (asked directly), not counting
 * the connections of these queries. One daemon per process: the count of queries is global.
 */
export async function fastDaemonStats(socket: string): Promise<{ accepts: number; open: number }> {
  const client = await WireClient.connect(socket);
  try {
    const reply = await client.call(STATS_PROCEDURE);
    // Every query's own connection is one accept, and this one is open: leave those out.
    queries++;
    return { accepts: readU32(reply, 28) - queries, open: readU32(reply, 32) - 1 };
  } finally {
    client.close();
  }
}

/** Options for {@linkcode measureUpstreamConnections}. */
export interface UpstreamConnectionsOptions {
  /** Sequential clients per path. */
  count: number;
  /** The pool_max the rig's virtmux was started with. */
  poolMax: number;
}

/**
 * Runs `count` sequential clients through direct, dedicated and shared, counting the daemon's
 * accepts. Run it on a fresh rig, before anything else uses the shared pool.
 */
export async function measureUpstreamConnections(
  rig: Rig,
  options: UpstreamConnectionsOptions,
): Promise<Figure> {
  const daemon = rig.fastDaemon!.socket;
  const accepts: Metric = {
    id: "upstreamConnections",
    label: "upstream connections accepted by the daemon",
    better: "lower",
    samples: {},
  };
  const openAfter: Metric = {
    id: "openAfter",
    label: "upstream connections still open after the run",
    better: "lower",
    samples: {},
  };
  const rate: Metric = { id: "clientsPerSec", label: "clients/s", better: "higher", samples: {} };
  const ids: PathId[] = ["shared", "dedicated", "direct"];
  const commands: string[] = [];
  progress(`upstream connections: ${options.count} sequential clients`);
  let held = 0; // connections the shared pool keeps open once it has run
  for (const id of ids) {
    const path = rig.paths.find((p) => p.id === id);
    if (path === undefined) continue;
    const args = ["seq", "--socket", path.socket, "--count", `${options.count}`];
    commands.push(shellWords(loadCommand(args)) + `   # ${id}`);
    // Let the relays' start-up probes (which reach the daemon late) finish first.
    let before = await fastDaemonStats(daemon);
    for (let i = 0; i < 30 && before.open > held; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      before = await fastDaemonStats(daemon);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    before = await fastDaemonStats(daemon);
    const result = await runLoadOnce<{ count: number; seconds: number }>(args);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await fastDaemonStats(daemon);
    accepts.samples[id] = [after.accepts - before.accepts];
    openAfter.samples[id] = [after.open];
    if (id === "shared") held = after.open;
    rate.samples[id] = [result.count / result.seconds];
  }
  return {
    id: "upstream_connections",
    title: `Upstream connections for ${options.count} sequential clients`,
    description: `${options.count} clients one after another, each: connect, AUTH_LIST, ` +
      "CONNECT_OPEN, CONNECT_GET_LIB_VERSION, CONNECT_CLOSE, close. The fast daemon counts the " +
      "connections it accepts (asked directly, before and after). The shared pool is cold " +
      `at the start (fresh virtmux, pool_max = ${options.poolMax}).`,
    columns: ids,
    metrics: [accepts, openAfter, rate],
    goals: [{
      text: `shared ≤ pool_max (${options.poolMax}) upstream connections`,
      metric: "upstreamConnections",
      subject: "shared",
      op: "<=",
      threshold: options.poolMax,
    }],
    commands,
    notes: ["One sample per path: the count is exact, not noisy."],
  };
}
