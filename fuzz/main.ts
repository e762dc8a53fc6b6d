/**
 * The virtmux fuzzer: hostile byte streams against a running `virtmux serve` over real unix
 * sockets, while python-libvirt clients check that good clients still get right answers.
 *
 * Usage: `deno run -A fuzz/main.ts [--seconds N] [--seed S] [--workers N] [--kinds a,b]
 * [--replay I,J] [--json FILE] [--max-rss-mb N] [--stall-seconds N] [--peer-check]`
 *
 * It starts a private libvirtd (test driver) and a virtmux with two listeners on it, one
 * dedicated and one shared, fuzzes both for the given time, and prints a summary. The exit status
 * is 1 when virtmux died, a good client got a wrong answer (or an error, or no answer in time),
 * virtmux stopped serving, or its memory passed the limit; else 0. Every case is rebuilt from the
 * seed and its index: `--seed S --replay N` runs case N of that seed again, alone.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { taskArgs } from "../tools/task_args.ts";
import { errorMessage } from "../src/log/error_message.ts";
import { join } from "node:path";
import { type Libvirtd, startLibvirtd } from "../tests/integration/helpers/libvirtd.ts";
import { makePki, type Pki } from "../tests/integration/helpers/pki.ts";
import { freePort } from "../tests/integration/helpers/ports.ts";
import { killAllProcesses, waitForTcpPort } from "../tests/integration/helpers/process.ts";
import { makeTempDir, removeDir } from "../tests/integration/helpers/tmp.ts";
import { startVirtmux, type Virtmux } from "../tests/integration/helpers/virtmux.ts";
import { type FuzzCase, generateCase, hex, type Kind, KINDS, planBytes } from "./generators.ts";
import { checkOnce, GoodClients } from "./good_clients.ts";
import { formatSummary, type Summary, Tally } from "./report.ts";
import { type FuzzTarget, runCase } from "./runner.ts";

/** Options of one fuzz run. */
export interface FuzzOptions {
  /** How long to fuzz, in seconds. */
  seconds: number;
  /** The PRNG seed. */
  seed: number;
  /** Cases run at once. */
  workers: number;
  /** Kinds to draw from (all when empty). */
  kinds: Kind[];
  /** Run only these case indices, once each. */
  replay: number[];
  /** Fail when virtmux's RSS passes this many MiB. */
  maxRssMiB: number;
  /** A good client silent this long has stalled, in seconds. */
  stallSeconds: number;
  /** Print progress lines. */
  progress: boolean;
  /** Print each case as it starts (with --replay, also its bytes). */
  verbose: boolean;
  /** Also write the summary as JSON here. */
  json?: string;
  /** Listeners check peer credentials (`allow_uids`), so they are served through node:net. */
  peerCheck?: boolean;
  /** Fuzz the network fronts instead: TLS (dedicated upstream) and TCP (shared upstream). */
  fronts?: boolean;
}

/** The ports and PKI of the network fronts, with `--fronts`. */
interface Fronts {
  tlsPort: number;
  tcpPort: number;
  pki: Pki;
}

const MAX_MESSAGE_BYTES = 33554436;
/** Longest one case may run. */
const CASE_DEADLINE_MS = 20000;

function configToml(
  dir: string,
  libvirtd: Libvirtd,
  peerCheck: boolean,
  fronts?: Fronts,
): string {
  const peers = peerCheck ? `allow_uids = [${Deno.uid()}]` : "";
  const frontListeners = fronts === undefined ? "" : `
[[listen]]
tls = "127.0.0.1:${fronts.tlsPort}"
upstream = "dedicated"
key_file = "${fronts.pki.server.key}"
cert_file = "${fronts.pki.server.cert}"
ca_file = "${fronts.pki.ca.cert}"

[[listen]]
tcp = "127.0.0.1:${fronts.tcpPort}"
upstream = "shared"
`;
  return `
[log]
level = "warning"
format = "json"

[limits]
max_message_bytes = ${MAX_MESSAGE_BYTES}
shutdown_grace = 1

[[upstream]]
name = "dedicated"
uri = "${libvirtd.uris.unix}"
share = false

[[upstream]]
name = "shared"
uri = "${libvirtd.uris.unix}"
share = true

[[listen]]
socket = "${join(dir, "dedicated.sock")}"
upstream = "dedicated"
${peers}

[[listen]]
socket = "${join(dir, "shared.sock")}"
upstream = "shared"
${peers}
${frontListeners}`;
}

/** The fronts as fuzz targets, once they accept connections. */
async function frontTargets(
  fronts: Fronts,
  virtmux: Virtmux,
): Promise<Record<"dedicated" | "shared", FuzzTarget>> {
  for (const port of [fronts.tlsPort, fronts.tcpPort]) {
    await waitForTcpPort(port, { process: virtmux.process });
  }
  const read = (path: string) => Deno.readTextFileSync(path);
  return {
    dedicated: {
      transport: "tls",
      hostname: "127.0.0.1",
      port: fronts.tlsPort,
      tls: {
        caCert: read(fronts.pki.ca.cert),
        cert: read(fronts.pki.client.cert),
        key: read(fronts.pki.client.key),
      },
    },
    shared: { transport: "tcp", hostname: "127.0.0.1", port: fronts.tcpPort },
  };
}

/** Resident memory of `pid` in MiB, or undefined when it is gone. */
function rssMiB(pid: number): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = status.match(/^VmRSS:\s+(\d+) kB/m);
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function fdCount(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return -1;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Log records at level error, and the tail of the log. */
async function logProblems(virtmux: Virtmux): Promise<{ errors: string[]; tail: string }> {
  const text = await virtmux.logText();
  const errors: string[] = [];
  for (const line of text.split("\n")) {
    if (/"level":"error"/.test(line) || /^error: |Uncaught|panicked/.test(line)) {
      if (errors.length < 20) errors.push(line.slice(0, 400));
    }
  }
  return { errors, tail: text.slice(-3000) };
}

/**
 * Runs the fuzzer and returns its summary.
 *
 * @param options time, seed, concurrency, kinds and limits
 */
export async function fuzz(options: FuzzOptions): Promise<Summary> {
  const log = (text: string) => {
    if (options.progress) console.log(text);
  };
  log(`virtmux fuzz: seed ${options.seed}, ${options.seconds} s, ${options.workers} workers`);
  const libvirtd = await startLibvirtd();
  const dir = await makeTempDir("fuzz");
  let virtmux: Virtmux | undefined;
  let good: GoodClients | undefined;
  try {
    let fronts: Fronts | undefined;
    if (options.fronts) {
      await Deno.mkdir(join(dir, "pki"));
      fronts = { tlsPort: freePort(), tcpPort: freePort(), pki: await makePki(join(dir, "pki")) };
    }
    virtmux = await startVirtmux(configToml(dir, libvirtd, options.peerCheck ?? false, fronts));
    const sockets: Record<"dedicated" | "shared", FuzzTarget> = fronts === undefined
      ? { dedicated: join(dir, "dedicated.sock"), shared: join(dir, "shared.sock") }
      : await frontTargets(fronts, virtmux);
    const uri = (target: FuzzTarget) =>
      typeof target === "string"
        ? `test+unix:///default?socket=${target}`
        : target.transport === "tcp"
        ? `test+tcp://127.0.0.1:${target.port}/default`
        : `test+tls://127.0.0.1:${target.port}/default?pkipath=${fronts!.pki.clientPkiPath}`;
    const running = new Set<number>();
    const startedAt = performance.now();
    good = new GoodClients({
      clients: [
        { name: "dedicated/persistent", uri: uri(sockets.dedicated), mode: "persistent" },
        { name: "dedicated/reconnect", uri: uri(sockets.dedicated), mode: "reconnect" },
        { name: "shared/persistent", uri: uri(sockets.shared), mode: "persistent" },
        { name: "shared/reconnect", uri: uri(sockets.shared), mode: "reconnect" },
      ],
      pauseSeconds: 0.05,
      stallMs: options.stallSeconds * 1000,
      running: () => [...running],
      startedAt,
    });
    good.start();
    await good.settle(2, 30000);
    const pid = virtmux.pid;
    const rss = { startMiB: rssMiB(pid) ?? 0, peakMiB: 0, endMiB: 0, limitMiB: options.maxRssMiB };
    const fds = { start: fdCount(pid), end: -1 };
    rss.peakMiB = rss.startMiB;
    let crashed = false;
    const sampler = setInterval(() => {
      const now = rssMiB(pid);
      if (now === undefined || virtmux!.process.exited) crashed = true;
      else rss.peakMiB = Math.max(rss.peakMiB, now);
    }, 200);

    const tally = new Tally();
    const began = performance.now();
    const endAt = Date.now() + options.seconds * 1000;
    let nextIndex = 0;
    const replay = [...options.replay];
    const progress = setInterval(() => {
      const rounds = good!.stats.reduce((n, s) => n + s.rounds, 0);
      log(
        `  ${Math.round((performance.now() - began) / 1000)} s: ${tally.totalCases} cases, ` +
          `${tally.totalConnections} connections, RSS ${(rssMiB(pid) ?? 0).toFixed(1)} MiB ` +
          `(peak ${rss.peakMiB.toFixed(1)}), good rounds ${rounds}, good failures ` +
          `${good!.failures.length}, mismatches ${tally.fuzzReplyMismatches}`,
      );
    }, 10000);
    const worker = async () => {
      while (!crashed) {
        let index: number;
        if (options.replay.length > 0) {
          if (replay.length === 0) return;
          index = replay.shift()!;
        } else {
          if (Date.now() >= endAt) return;
          index = nextIndex++;
        }
        const fuzzCase: FuzzCase = generateCase(options.seed, index, {
          maxMessageBytes: MAX_MESSAGE_BYTES,
          kinds: options.kinds,
        });
        if (options.verbose) {
          log(`case ${index} [${fuzzCase.kind} → ${fuzzCase.target}] ${fuzzCase.description}`);
          if (options.replay.length > 0) {
            fuzzCase.connections.slice(0, 3).forEach((plan, i) =>
              log(`  connection ${i} writes ${hex(planBytes(plan), 512)}`)
            );
          }
        }
        running.add(index);
        const result = await runCase(fuzzCase, sockets[fuzzCase.target], {
          deadlineMs: CASE_DEADLINE_MS,
        });
        running.delete(index);
        tally.add(fuzzCase, result);
        if (virtmux!.process.exited) crashed = true;
      }
    };
    await Promise.all(Array.from({ length: options.workers }, worker));
    clearInterval(progress);
    const seconds = (performance.now() - began) / 1000;
    log(`fuzzing done after ${seconds.toFixed(1)} s; checking the good clients and the proxy`);

    // Let the good clients finish rounds that began during the storm, then stop them.
    if (!crashed) await good.settle(2, options.stallSeconds * 1000);
    await good.stop();
    const servingProblems: string[] = [];
    if (!crashed) {
      for (const [name, socket] of Object.entries(sockets)) {
        const problem = await checkOnce(uri(socket));
        if (problem !== undefined) servingProblems.push(`${name}: ${problem}`);
      }
    }
    // Idle for a moment so closed sessions can go, then count what is left.
    await sleep(2000);
    clearInterval(sampler);
    crashed ||= virtmux.process.exited;
    rss.endMiB = rssMiB(pid) ?? 0;
    fds.end = fdCount(pid);
    let upstreamClientsAtEnd = -1;
    try {
      upstreamClientsAtEnd = await libvirtd.clientCount();
    } catch { /* unknown */ }
    const problems = await logProblems(virtmux);
    const wrongAnswers = good.failures.length;
    const servingAtEnd = !crashed && servingProblems.length === 0;
    const summary: Summary = {
      seed: options.seed,
      seconds,
      kinds: tally.kinds,
      totalCases: tally.totalCases,
      totalConnections: tally.totalConnections,
      crashes: crashed ? 1 : 0,
      crashLog: crashed ? problems.tail : undefined,
      wrongAnswers,
      goodFailures: good.failures.slice(0, 50),
      goodClients: good.stats,
      fuzzReplyMismatches: tally.fuzzReplyMismatches,
      connectErrors: tally.connectErrors,
      findings: tally.findings,
      rss,
      fds,
      upstreamClientsAtEnd,
      servingAtEnd,
      servingProblems: crashed ? ["virtmux died"] : servingProblems,
      passed: !crashed && wrongAnswers === 0 && servingAtEnd && rss.peakMiB <= options.maxRssMiB,
    };
    if (problems.errors.length > 0) {
      summary.findings.push({
        index: -1,
        kind: "random_bytes",
        target: "log",
        description: "error-level records in virtmux's log",
        problems: problems.errors.slice(0, 10),
      });
    }
    return summary;
  } finally {
    await good?.stop();
    await virtmux?.stop();
    await libvirtd.stop();
    await removeDir(dir);
    await killAllProcesses();
  }
}

/** Parses the command line into {@linkcode FuzzOptions}. */
export function parseOptions(args: string[]): FuzzOptions {
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: "string", default: "60" },
      seed: { type: "string" },
      workers: { type: "string", default: "4" },
      kinds: { type: "string", default: "" },
      replay: { type: "string", default: "" },
      json: { type: "string" },
      "max-rss-mb": { type: "string", default: "512" },
      "stall-seconds": { type: "string", default: "30" },
      quiet: { type: "boolean", default: false },
      "peer-check": { type: "boolean", default: false },
      fronts: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  const kinds = values.kinds.split(",").filter((k) => k !== "");
  for (const kind of kinds) {
    if (!(KINDS as readonly string[]).includes(kind)) {
      throw new TypeError(`Cannot fuzz: unknown kind "${kind}"; kinds: ${KINDS.join(", ")}`);
    }
  }
  const number = (name: string, text: string) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) {
      throw new RangeError(`Cannot fuzz: --${name} must be a non-negative number, not "${text}"`);
    }
    return value;
  };
  return {
    seconds: number("seconds", values.seconds),
    seed: values.seed === undefined
      ? crypto.getRandomValues(new Uint32Array(1))[0]
      : number("seed", values.seed) >>> 0,
    workers: Math.max(1, Math.floor(number("workers", values.workers))),
    kinds: kinds as Kind[],
    replay: values.replay.split(",").filter((r) => r !== "").map((r) => number("replay", r)),
    maxRssMiB: number("max-rss-mb", values["max-rss-mb"]),
    stallSeconds: number("stall-seconds", values["stall-seconds"]),
    progress: !values.quiet,
    verbose: values.verbose,
    json: values.json,
    peerCheck: values["peer-check"],
    fronts: values.fronts,
  };
}

const HELP = `Usage: deno run -A fuzz/main.ts [options]

Fuzzes a virtmux (dedicated and shared listeners on a private libvirtd) with hostile byte
streams while python-libvirt clients check that good clients still get right answers.

  --seconds N        how long to fuzz (default 60)
  --seed S           PRNG seed (default: random; always printed)
  --workers N        cases run at once (default 4)
  --kinds a,b        only these kinds: ${KINDS.join(", ")}
  --replay I,J       run only these case indices of the seed, once each (with --verbose: bytes)
  --json FILE        also write the summary as JSON
  --max-rss-mb N     fail when virtmux's RSS passes N MiB (default 512)
  --stall-seconds N  a good client silent this long has stalled (default 30)
  --peer-check       listeners check allow_uids (served through node:net sockets)
  --fronts           fuzz the network fronts: TLS (bytes inside TLS) and plain TCP
  --quiet            no progress lines
  --verbose          print each case as it starts

Exit status: 0 when virtmux never died, every good client got right answers, virtmux still
serves at the end and its memory stayed under the limit; 1 otherwise; 2 on a usage error.`;

if (import.meta.main) {
  Deno.env.set("RUST_BACKTRACE", "0");
  let options: FuzzOptions;
  try {
    const args = taskArgs(Deno.args);
    if (args.includes("--help") || args.includes("-h")) {
      console.log(HELP);
      Deno.exit(0);
    }
    options = parseOptions(args);
  } catch (error) {
    console.error(`fuzz: ${errorMessage(error)}\n\n${HELP}`);
    Deno.exit(2);
  }
  const summary = await fuzz(options);
  console.log(formatSummary(summary));
  if (options.json !== undefined) {
    await Deno.writeTextFile(options.json, JSON.stringify(summary, null, 2) + "\n");
  }
  Deno.exit(summary.passed ? 0 : 1);
}
