/**
 * `deno task bench [--quick] [--only ID,ID]`: runs every figure of the benchmark issue and
 * writes BENCHMARKS.md and BENCHMARKS.json at the top of the repository.
 *
 * Figure ids for `--only`: upstream, calls, latency, stream, pinned, memory, virsh, python, ssh,
 * tls, decode, audit, attack.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { taskArgs } from "../tools/task_args.ts";
import { errorMessage } from "../src/log/error_message.ts";
import { fileURLToPath } from "node:url";
import { startLibvirtd } from "../tests/integration/helpers/libvirtd.ts";
import { startSshd } from "../tests/integration/helpers/sshd.ts";
import { progress } from "./figures/_interleave.ts";
import { measureAuditCalls } from "./figures/audit_calls.ts";
import { measureAuditDecode } from "./figures/audit_decode.ts";
import { measureMemory } from "./figures/memory.ts";
import { measureMemoryAttack } from "./figures/memory_attack.ts";
import { MAX_FRAME_BYTES } from "../src/wire/constants.ts";
import { measurePythonThreads } from "./figures/python_threads.ts";
import {
  cpuFigure,
  latencyFigure,
  measureSmallCalls,
  throughputFigure,
} from "./figures/small_calls.ts";
import { measureStream } from "./figures/stream.ts";
import { measureUpstreamConnections } from "./figures/upstream_conns.ts";
import { measureVirsh } from "./figures/virsh.ts";
import { loadAverage, machineFacts } from "./machine.ts";
import { type Figure, type Report, writeReport } from "./report.ts";
import { type Rig, startRig } from "./rig.ts";

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
}

/** The full run (about 15 minutes). */
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
};

/** Fast-upstream shared pool: most connections. */
const POOL_MAX = 4;
/** Fast-upstream shared pool: calls per connection (the fast daemon has no request limit). */
const FAST_INFLIGHT_PER_CONNECTION = 32;
const PIN = ["taskset", "-c", "0"];

/** The hard open-file limit of this process (raising it needs CAP_SYS_RESOURCE). */
function hardNofile(): number {
  const out = new Deno.Command("sh", { args: ["-c", "ulimit -Hn"], stdout: "piped" }).outputSync();
  const text = new TextDecoder().decode(out.stdout).trim();
  return text === "unlimited" ? 1048576 : Number(text);
}

async function withRig<T>(rig: Rig, body: (rig: Rig) => Promise<T>): Promise<T> {
  try {
    return await body(rig);
  } finally {
    await rig.stop();
  }
}

const USAGE = `Usage: deno task bench [--quick] [--only ID,ID]

Runs the benchmark figures (about 7 minutes; --quick about 2) and writes BENCHMARKS.md and
BENCHMARKS.json. Figure ids for --only: upstream, calls, latency, stream, pinned, memory, virsh,
python, ssh, tls.`;

/** The command line: the options, or undefined after printing help; exits 2 on a usage error. */
function options(): { quick: boolean; only?: string } | undefined {
  try {
    const { values } = parseArgs({
      args: taskArgs(Deno.args),
      options: {
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (!values.help) return values;
    console.log(USAGE);
    return undefined;
  } catch (error) {
    console.error(`bench: ${errorMessage(error)}\n\n${USAGE}`);
    Deno.exit(2);
  }
}

/** Commands the figures run, and the Debian package each comes from. */
const TOOLS: readonly [string, string][] = [
  ["libvirtd", "libvirt-daemon"],
  ["virsh", "libvirt-clients"],
  ["virt-admin", "libvirt-clients"],
  ["socat", "socat"],
  ["haproxy", "haproxy"],
  ["sshd", "openssh-server"],
  ["taskset", "util-linux"],
  ["prlimit", "util-linux"],
];

/** Stops with the apt-get line to run when a command the figures need is missing. */
function requireTools(): void {
  const missing = TOOLS.filter(([command]) => {
    const found = new Deno.Command("sh", {
      args: ["-c", `command -v ${command} || test -x /usr/sbin/${command}`],
      stdout: "null",
    }).outputSync();
    return !found.success;
  });
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(([, pkg]) => pkg))].join(" ");
  console.error(
    `bench: missing ${missing.map(([command]) => command).join(", ")}; install them with:\n` +
      `  apt-get install -y --no-install-recommends ${packages}`,
  );
  Deno.exit(2);
}

async function main(): Promise<void> {
  const values = options();
  if (values === undefined) return;
  requireTools();
  const plan = values.quick ? QUICK : FULL;
  const only = values.only ? new Set(values.only.split(",")) : undefined;
  const want = (id: string) => only === undefined || only.has(id);
  const began = performance.now();
  const report: Report = {
    date: new Date().toISOString(),
    mode: values.quick ? "quick" : "full",
    durationSeconds: 0,
    machine: await machineFacts(),
    rigs: {},
    configs: {},
    figures: [],
  };
  const figures: Figure[] = report.figures;
  const keep = (name: string, rig: Rig) => {
    report.rigs[name] = rig.commands;
    Object.assign(report.configs, rig.configs);
  };
  const root = fileURLToPath(new URL("..", import.meta.url));
  const save = async () => {
    report.durationSeconds = (performance.now() - began) / 1000;
    report.machine["load average at end"] = loadAverage();
    await writeReport(report, root);
  };

  try {
    if (want("upstream") || want("calls") || want("latency") || want("stream")) {
      progress("starting the fast-upstream rig (unpinned)");
      const rig = await startRig({
        poolMax: POOL_MAX,
        maxInflightPerConnection: FAST_INFLIGHT_PER_CONNECTION,
      });
      keep("fast upstream, unpinned", rig);
      await withRig(rig, async () => {
        if (want("upstream")) {
          figures.push(
            await measureUpstreamConnections(rig, {
              count: plan.sequentialClients,
              poolMax: POOL_MAX,
            }),
          );
        }
        if (want("calls")) {
          for (const [conns, calls] of [[16, plan.calls16], [100, plan.calls100]]) {
            const samples = await measureSmallCalls(rig, {
              conns,
              calls,
              rounds: plan.rounds,
              placement: "unpinned",
            });
            figures.push(throughputFigure(samples), cpuFigure(samples));
          }
        }
        if (want("latency")) {
          const samples = await measureSmallCalls(rig, {
            conns: 1,
            calls: plan.callsLatency,
            rounds: plan.rounds,
            placement: "unpinned",
          });
          figures.push(latencyFigure(samples));
        }
        if (want("stream")) {
          figures.push(
            await measureStream(rig, { chunks: plan.streamChunks, rounds: plan.rounds }),
          );
        }
      });
      await save();
    }

    if (want("pinned")) {
      progress("starting the fast-upstream rig pinned to CPU 0");
      const rig = await startRig({
        prefix: PIN,
        poolMax: POOL_MAX,
        maxInflightPerConnection: FAST_INFLIGHT_PER_CONNECTION,
      });
      keep("fast upstream, pinned (taskset -c 0)", rig);
      await withRig(rig, async () => {
        for (const [conns, calls] of [[16, plan.calls16], [100, plan.calls100]]) {
          const samples = await measureSmallCalls(rig, {
            conns,
            calls,
            rounds: plan.rounds,
            prefix: PIN,
            placement: "pinned",
          });
          figures.push(throughputFigure(samples), cpuFigure(samples));
        }
        const samples = await measureSmallCalls(rig, {
          conns: 1,
          calls: plan.callsLatency,
          rounds: plan.rounds,
          prefix: PIN,
          placement: "pinned",
        });
        figures.push(latencyFigure(samples));
      });
      await save();
    }

    if (want("memory")) {
      progress("starting the memory rig");
      const nofile = hardNofile();
      const NOFILE = ["prlimit", `--nofile=${nofile}:${nofile}`, "--"];
      // HAProxy holds two fds per client: its maxconn must fit the limit.
      const haproxyClients = Math.min(
        plan.idleClients,
        Math.floor((nofile - 500) / 2 / 1000) * 1000,
      );
      const makeRig = () =>
        startRig({
          prefix: NOFILE,
          paths: ["haproxy", "shared"],
          poolMax: POOL_MAX,
          maxInflightPerConnection: FAST_INFLIGHT_PER_CONNECTION,
          haproxyMaxconn: haproxyClients + 100,
          maxClients: plan.idleClients + 100,
        });
      const figure = await measureMemory(async () => {
        const rig = await makeRig();
        keep(`memory (prlimit --nofile=${nofile}:${nofile})`, rig);
        return rig;
      }, {
        count: plan.idleClients,
        haproxyCount: haproxyClients,
        rounds: plan.memoryRounds,
        prefix: NOFILE,
      });
      figures.push(figure);
      await save();
    }

    if (want("decode")) {
      figures.push(await measureAuditDecode({ rounds: plan.rounds }));
      await save();
    }

    if (want("audit")) {
      figures.push(
        await measureAuditCalls({ conns: 16, calls: plan.calls16, rounds: plan.rounds }),
      );
      await save();
    }

    if (want("virsh") || want("python") || want("ssh") || want("tls")) {
      progress("starting libvirtd (test driver, tls)");
      const daemon = await startLibvirtd({ tls: true });
      try {
        if (want("virsh") || want("python")) {
          const rig = await startRig({
            upstreamSocket: daemon.unixSocket,
            poolMax: POOL_MAX,
            paths: ["socat", "haproxy", "haproxy_splice", "dedicated", "shared"],
          });
          keep("real libvirtd, unix", rig);
          await withRig(rig, async () => {
            if (want("virsh")) {
              figures.push(
                await measureVirsh({
                  id: "virsh_unix",
                  title: "One-shot `virsh list --all` over unix, real libvirtd",
                  description: "Wall time of one `virsh -c URI list --all` process per sample " +
                    "(spawn to exit), through every unix path to the private libvirtd. " +
                    "Informational: no goal.",
                  targets: rig.paths.map((p) => ({
                    id: p.id,
                    uri: `test+unix:///default?socket=${p.socket}`,
                  })),
                  rounds: plan.virshRounds,
                  goals: [],
                }),
              );
            }
            if (want("python")) {
              figures.push(
                await measurePythonThreads(rig, {
                  threads: plan.pythonThreads,
                  calls: plan.pythonCalls,
                  rounds: plan.rounds,
                }),
              );
            }
          });
        }
        if (want("ssh")) {
          const sshd = await startSshd();
          try {
            const sshUri = `test+ssh://${sshd.user}@127.0.0.1:${sshd.port}/default?socket=` +
              `${daemon.unixSocket}&command=${sshd.sshCommand}`;
            const rig = await startRig({
              upstreamSocket: daemon.unixSocket,
              upstreamUri: sshUri,
              paths: ["dedicated", "shared"],
              poolMax: POOL_MAX,
            });
            keep("real libvirtd behind a loopback sshd", rig);
            await withRig(rig, async () => {
              figures.push(
                await measureVirsh({
                  id: "virsh_ssh",
                  title: "One-shot `virsh list --all` over ssh",
                  description: "libvirtd behind a loopback sshd (the harness's startSshd; its " +
                    "ssh wrapper is libvirt's `command=`). direct: virsh's own ssh transport, " +
                    "one ssh login per run. virtmux: virsh reaches virtmux's unix socket; " +
                    "virtmux's upstream is the same ssh URI; the shared pool is warm (one run " +
                    "before sampling), the dedicated one dials ssh per client.",
                  targets: [
                    { id: "direct_unix", uri: daemon.uris.unix },
                    { id: "direct", uri: sshUri },
                    {
                      id: "dedicated",
                      uri: `test+unix:///default?socket=${rig.virtmux!.sockets.dedicated}`,
                    },
                    {
                      id: "shared",
                      uri: `test+unix:///default?socket=${rig.virtmux!.sockets.shared}`,
                    },
                  ],
                  rounds: plan.virshRounds,
                  ratios: [["direct", "direct_unix"], ["shared", "direct_unix"]],
                  notes: [
                    "direct, unix socket is virsh straight to libvirtd's own socket: the " +
                    "floor any path has (virsh start-up, the test driver's work). direct / " +
                    "floor is the most a proxy could ever save.",
                  ],
                  goals: [{
                    text: "warm shared pool ≥ 10× faster than direct",
                    metric: "ms",
                    subject: "shared",
                    reference: "direct",
                    invert: true,
                    op: ">=",
                    threshold: 10,
                  }],
                }),
              );
            });
          } finally {
            await sshd.stop();
          }
        }
        if (want("tls")) {
          const tlsUri = daemon.uris.tls!;
          const rig = await startRig({
            upstreamSocket: daemon.unixSocket,
            upstreamUri: tlsUri,
            paths: ["dedicated", "shared"],
            poolMax: POOL_MAX,
          });
          keep("real libvirtd over tls", rig);
          await withRig(rig, async () => {
            figures.push(
              await measureVirsh({
                id: "virsh_tls",
                title: "One-shot `virsh list --all` over tls",
                description: "libvirtd's TLS port with the harness's PKI (`pkipath=`). direct: " +
                  "virsh's own TLS handshake per run. virtmux: virsh on virtmux's unix socket, " +
                  "upstream the same tls URI; shared pool warm.",
                targets: [
                  { id: "direct_unix", uri: daemon.uris.unix },
                  { id: "direct", uri: tlsUri },
                  {
                    id: "dedicated",
                    uri: `test+unix:///default?socket=${rig.virtmux!.sockets.dedicated}`,
                  },
                  {
                    id: "shared",
                    uri: `test+unix:///default?socket=${rig.virtmux!.sockets.shared}`,
                  },
                ],
                rounds: plan.virshRounds,
                ratios: [["direct", "direct_unix"], ["shared", "direct_unix"]],
                notes: [
                  "direct, unix socket is virsh straight to libvirtd's own socket: the floor " +
                  "any path has. direct (tls) / floor is the most a proxy could ever save: when " +
                  "it is below 1.3 the goal cannot be met on this machine by any proxy.",
                ],
                goals: [{
                  text: "warm shared pool ≥ 1.3× faster than direct",
                  metric: "ms",
                  subject: "shared",
                  reference: "direct",
                  invert: true,
                  op: ">=",
                  threshold: 1.3,
                }],
              }),
            );
          });
        }
      } finally {
        await daemon.stop();
      }
      await save();
    }
    if (want("attack")) {
      progress("starting libvirtd (test driver) for the memory attack");
      const daemon = await startLibvirtd();
      try {
        const attackers = values.quick ? 100 : 1000;
        const rig = await startRig({
          upstreamSocket: daemon.unixSocket,
          paths: ["socat", "dedicated", "shared"],
          maxClients: attackers + 100,
        });
        keep("memory attack, real libvirtd", rig);
        await withRig(rig, async () => {
          figures.push(
            await measureMemoryAttack(rig, () => daemon.pid, {
              attackers,
              directAttackers: values.quick ? 5 : 20,
              frameBytes: MAX_FRAME_BYTES,
              seconds: values.quick ? 5 : 20,
              threads: 4,
            }),
          );
        });
      } finally {
        await daemon.stop();
      }
      await save();
    }
  } finally {
    await save();
    progress(`done in ${Math.round((performance.now() - began) / 1000)} s: BENCHMARKS.md`);
  }
}

if (import.meta.main) {
  await main();
}
