/**
 * The memory attack of issue 11: many clients each open a connection properly and push a 32 MiB
 * frame at full speed, while python-libvirt clients make small calls on the same path. Measured
 * per path against a real libvirtd: peak RSS of the relay and of the daemon during the attack, and
 * the good clients' calls/s, p99 and failures with and without the attack.
 *
 * Run alone: `deno run -A bench/figures/memory_attack.ts [ATTACKERS] [DIRECT_ATTACKERS] [SECONDS]
 * [ROUNDS] [PATHS]` (PATHS: comma-separated, default `socat,dedicated,shared`).
 *
 * @module
 */

import {
  openedConnection,
  pushBigFrame,
  rssBytes,
  RssSampler,
} from "../../tests/integration/helpers/hostile_clients.ts";
import { startLibvirtd } from "../../tests/integration/helpers/libvirtd.ts";
import { runPython } from "../../tests/integration/helpers/python.ts";
import { MAX_FRAME_BYTES } from "../../src/wire/constants.ts";
import { processCpuMicros } from "../procstat.ts";
import type { Figure, Metric } from "../report.ts";
import { type Rig, startRig } from "../rig.ts";
import { progress } from "./_interleave.ts";

/** virtmux's default `max_buffered_bytes`, which the rig's config leaves as it is. */
const BUDGET = 256 << 20;
const MIB = 1 << 20;

/**
 * python-libvirt: T threads, each with a connection from `open` (Python, of `uri`), call
 * getLibVersion() for S seconds; failures are counted. `prelude` (Python) may define what `open`
 * uses.
 */
export function goodScript(open: string, prelude = ""): string {
  return `
import json, sys, threading, time
import libvirt
libvirt.registerErrorHandler(lambda ctx, err: None, None)
uri, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
lat, failures = [], []
lock = threading.Lock()
${prelude}
def work():
    mine, bad = [], 0
    try:
        c = ${open}
    except Exception as e:
        with lock: failures.append(str(e))
        return
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        try:
            c.getLibVersion()
            mine.append(time.perf_counter() - t)
        except Exception as e:
            with lock: failures.append(str(e))
            break
    try: c.close()
    except Exception: pass
    with lock: lat.extend(mine)
ts = [threading.Thread(target=work) for _ in range(threads)]
t0 = time.perf_counter()
for t in ts: t.start()
for t in ts: t.join()
dt = time.perf_counter() - t0
lat.sort()
n = len(lat)
print(json.dumps({"calls": n, "callsPerSec": n / dt, "p99Us": lat[min(n - 1, int(n * 0.99))] * 1e6 if n else 0,
                  "failures": len(failures), "firstFailure": failures[0] if failures else ""}))
`;
}

/** {@linkcode goodScript} with `libvirt.open(uri)`. */
const GOOD_SCRIPT = goodScript("libvirt.open(uri)");

/** Options for {@linkcode measureMemoryAttack}. */
export interface MemoryAttackOptions {
  /** Attacking clients on virtmux's paths. */
  attackers: number;
  /** Attacking clients on direct and socat (the daemon alone holds every frame: keep it safe). */
  directAttackers: number;
  /** The frame each attacker pushes, length word included. */
  frameBytes: number;
  /** Seconds each good-client measurement runs. */
  seconds: number;
  /** Rounds over every path (each round measures each path once; medians over the rounds). */
  rounds: number;
  /** python-libvirt threads. */
  threads: number;
}

interface GoodResult {
  callsPerSec: number;
  p99Us: number;
  failures: number;
  firstFailure: string;
}

async function goodClients(socket: string, options: MemoryAttackOptions): Promise<GoodResult> {
  const uri = `test+unix:///default?socket=${socket}`;
  const run = await runPython(GOOD_SCRIPT, [uri, `${options.threads}`, `${options.seconds}`], {
    timeoutMs: (options.seconds + 120) * 1000,
  });
  if (run.code !== 0) throw new Error(`good clients on "${socket}" failed: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split("\n").pop()!);
}

/** Opens `count` connections, `at` a time; the ones that fail to open are counted. */
async function openMany(socket: string, count: number, at = 50) {
  const conns: Deno.UnixConn[] = [];
  let failed = 0;
  for (let i = 0; i < count; i += at) {
    const batch = await Promise.allSettled(
      Array.from({ length: Math.min(at, count - i) }, () => openedConnection(socket)),
    );
    for (const result of batch) {
      if (result.status === "fulfilled") conns.push(result.value);
      else failed++;
    }
  }
  return { conns, failed };
}

function cpuOf(pid: number | undefined): number {
  return pid === undefined ? 0 : processCpuMicros(pid);
}

/** Measures the attack through each path of a real-libvirtd rig. */
export async function measureMemoryAttack(
  rig: Rig,
  daemonPid: () => number,
  options: MemoryAttackOptions,
): Promise<Figure> {
  const metric = (id: string, label: string, better: "higher" | "lower"): Metric => ({
    id,
    label,
    better,
    samples: {},
  });
  const metrics = {
    attackers: metric("attackers", "attacking clients", "lower"),
    connected: metric("connected", "clients connected for the idle figure", "lower"),
    relayIdle: metric("relayIdleMiB", "relay RSS idle (MiB)", "lower"),
    relayConnected: metric("relayConnectedMiB", "relay RSS, attackers connected (MiB)", "lower"),
    relayPeak: metric("relayPeakMiB", "relay RSS peak (MiB)", "lower"),
    daemonIdle: metric("daemonIdleMiB", "libvirtd RSS idle (MiB)", "lower"),
    daemonPeak: metric("daemonPeakMiB", "libvirtd RSS peak (MiB)", "lower"),
    rate: metric("callsPerSec", "good calls/s, no attack", "higher"),
    p99: metric("p99Us", "good p99 (µs), no attack", "lower"),
    idleRate: metric("idleCallsPerSec", "good calls/s, attackers connected, idle", "higher"),
    attackRate: metric("attackCallsPerSec", "good calls/s, attack", "higher"),
    attackP99: metric("attackP99Us", "good p99 (µs), attack", "lower"),
    failures: metric("failures", "good failures, attack", "lower"),
    attackShare: metric("attackShare", "good calls/s under attack ÷ no attack", "higher"),
    idleShare: metric("idleShare", "good calls/s, attackers idle ÷ no attack", "higher"),
    attackVsIdle: metric("attackVsIdle", "good calls/s under attack ÷ attackers idle", "higher"),
    relayGrowth: metric("relayGrowthMiB", "relay RSS peak − idle (MiB)", "lower"),
    daemonGrowth: metric("daemonGrowthMiB", "libvirtd RSS peak − idle (MiB)", "lower"),
    framesSent: metric("framesSent", "frames pushed whole", "higher"),
    relayCpu: metric("relayCpuPercent", "relay CPU during attack (%)", "lower"),
    daemonCpu: metric("daemonCpuPercent", "libvirtd CPU during attack (%)", "lower"),
    benchCpu: metric("attackerCpuPercent", "attacker process CPU (%)", "lower"),
  };
  const notes: string[] = [];
  const body = new Uint8Array(options.frameBytes);
  for (let round = 0; round < options.rounds; round++) {
    for (const path of rig.paths) {
      await attackPath(path, round);
    }
  }
  async function attackPath(path: Rig["paths"][number], round: number) {
    const relay = path.id === "dedicated" || path.id === "shared";
    const attackers = relay ? options.attackers : options.directAttackers;
    progress(
      `memory attack: round ${round + 1}/${options.rounds}, ${path.id}, ${attackers} × ` +
        `${options.frameBytes} bytes`,
    );
    const put = (m: Metric, value: number) => (m.samples[path.id] ??= []).push(value);
    const baseline = await goodClients(path.socket, options);
    put(metrics.rate, baseline.callsPerSec);
    put(metrics.p99, baseline.p99Us);
    const relayPid = path.pid;
    const relayIdle = relayPid === undefined ? 0 : rssBytes(relayPid)! / MIB;
    const daemonIdle = rssBytes(daemonPid())! / MIB;
    put(metrics.relayIdle, relayIdle);
    put(metrics.daemonIdle, daemonIdle);
    const relaySampler = relayPid === undefined ? undefined : new RssSampler(relayPid, 100);
    const daemonSampler = new RssSampler(daemonPid(), 100);
    // Direct, the idle figure has as many clients connected as virtmux's paths get (the daemon's
    // own cost per connection, the floor of dedicated mode); only directAttackers then push.
    const connecting = path.id === "direct" ? options.attackers : attackers;
    const opened = await openMany(path.socket, connecting);
    if (opened.failed > 0) {
      notes.push(`${path.id}: ${opened.failed} of ${connecting} clients could not open`);
    }
    put(metrics.connected, opened.conns.length);
    put(metrics.relayConnected, relayPid === undefined ? 0 : rssBytes(relayPid)! / MIB);
    // The clients connected but not pushing: what their mere number costs.
    const idle = await goodClients(path.socket, options);
    put(metrics.idleRate, idle.callsPerSec);
    for (const conn of opened.conns.splice(attackers)) conn.close();
    const conns = opened.conns;
    put(metrics.attackers, conns.length);
    const stop = new AbortController();
    const pushes = conns.map((conn) =>
      pushBigFrame(conn, {
        frameBytes: options.frameBytes,
        sendBytes: options.frameBytes,
        body,
        signal: stop.signal,
      })
    );
    const cpuBefore = [relayPid, daemonPid(), Deno.pid].map((pid) => cpuOf(pid));
    const began = performance.now();
    const attacked = await goodClients(path.socket, options);
    const wallMicros = (performance.now() - began) * 1000;
    const cpuAfter = [relayPid, daemonPid(), Deno.pid].map((pid) => cpuOf(pid));
    const percent = (i: number) => (cpuAfter[i] - cpuBefore[i]) / wallMicros * 100;
    put(metrics.relayCpu, percent(0));
    put(metrics.daemonCpu, percent(1));
    put(metrics.benchCpu, percent(2));
    stop.abort();
    for (const conn of conns) conn.close();
    const ends = await Promise.all(pushes);
    put(metrics.framesSent, ends.filter((end) => end === "sent").length);
    const relayPeak = relaySampler === undefined ? 0 : relaySampler.stop() / MIB;
    const daemonPeak = daemonSampler.stop() / MIB;
    put(metrics.relayPeak, relayPeak);
    put(metrics.daemonPeak, daemonPeak);
    put(metrics.relayGrowth, relayPeak - relayIdle);
    put(metrics.daemonGrowth, daemonPeak - daemonIdle);
    put(metrics.attackRate, attacked.callsPerSec);
    put(metrics.attackShare, attacked.callsPerSec / baseline.callsPerSec);
    put(metrics.idleShare, idle.callsPerSec / baseline.callsPerSec);
    put(metrics.attackVsIdle, attacked.callsPerSec / idle.callsPerSec);
    put(metrics.attackP99, attacked.p99Us);
    put(metrics.failures, attacked.failures);
    if (attacked.failures > 0) notes.push(`${path.id}: first failure: ${attacked.firstFailure}`);
    await new Promise((resolve) => setTimeout(resolve, 2000)); // let the daemon settle
  }
  for (const share of [metrics.attackShare, metrics.idleShare, metrics.attackVsIdle]) {
    share.digits = 2;
  }
  const relays = rig.paths.map((p) => p.id).filter((id) => id === "dedicated" || id === "shared");
  const bound = BUDGET / MIB * 1.1;
  return {
    id: "memory_attack",
    title: `Memory attack: ${options.attackers} clients × ${options.frameBytes}-byte frames`,
    description: `Each attacker opens a connection (CONNECT_OPEN of test:///default) and then ` +
      `pushes one ${options.frameBytes}-byte DOMAIN_DEFINE_XML frame at full speed, all at ` +
      `once, while ${options.threads} python-libvirt threads call getLibVersion() for ` +
      `${options.seconds} s on the same path; the same good clients run before the attack for ` +
      `the no-attack figures, and with the attackers connected but idle; ${options.rounds} ` +
      `round(s) over every path. direct and socat get ${options.directAttackers} attackers (every ` +
      `frame held by libvirtd itself), but for the idle figure direct has ${options.attackers} ` +
      `clients connected like virtmux's paths: the daemon's own cost of that many connections, ` +
      `which bounds dedicated mode (one daemon connection per client). virtmux runs with the default max_buffered_bytes ` +
      `(${BUDGET} bytes) and min_frame_rate. Done means: virtmux peak ≤ idle + ` +
      `max_buffered_bytes + 10%, libvirtd's peak through virtmux within the same bound, 0 ` +
      `good failures, attacked calls/s ≥ half the unattacked. The shares are per round (each ` +
      `attacked figure ÷ the same round's unattacked one), then the median.`,
    columns: rig.paths.map((p) => p.id),
    metrics: Object.values(metrics),
    goals: relays.flatMap((subject) => [
      {
        text: "virtmux peak RSS ≤ idle + max_buffered_bytes + 10% (MiB over idle)",
        metric: metrics.relayGrowth.id,
        subject,
        op: "<=" as const,
        threshold: bound,
      },
      {
        text: "libvirtd's peak RSS through virtmux within the same bound (MiB over idle)",
        metric: metrics.daemonGrowth.id,
        subject,
        op: "<=" as const,
        threshold: bound,
      },
      {
        text: "good clients see 0 failures under the attack",
        metric: metrics.failures.id,
        subject,
        op: "<=" as const,
        threshold: 0,
      },
      {
        text: "good calls/s under attack ≥ half of the unattacked figure",
        metric: metrics.attackShare.id,
        subject,
        op: ">=" as const,
        threshold: 0.5,
      },
    ]),
    commands: [
      "deno run -A bench/figures/memory_attack.ts ATTACKERS DIRECT_ATTACKERS SECONDS ROUNDS",
    ],
    notes,
  };
}

/** Runs the figure alone and prints it as JSON. */
async function main(): Promise<void> {
  const [
    attackers = "1000",
    directAttackers = "20",
    seconds = "20",
    rounds = "1",
    paths = "socat,dedicated,shared",
  ] = Deno.args;
  const daemon = await startLibvirtd();
  try {
    const rig = await startRig({
      upstreamSocket: daemon.unixSocket,
      paths: paths.split(",") as ("socat" | "dedicated" | "shared")[],
      maxClients: Number(attackers) + 100,
    });
    try {
      const figure = await measureMemoryAttack(rig, () => daemon.pid, {
        attackers: Number(attackers),
        directAttackers: Number(directAttackers),
        frameBytes: MAX_FRAME_BYTES,
        seconds: Number(seconds),
        rounds: Number(rounds),
        threads: 4,
      });
      console.log(JSON.stringify(figure, null, 1));
    } finally {
      await rig.stop();
    }
  } finally {
    await daemon.stop();
  }
}

if (import.meta.main) await main();
