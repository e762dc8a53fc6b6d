/**
 * `deno task bench [--quick] [--only ID,ID]`: runs every figure of the benchmark issue and
 * writes BENCHMARKS.md and BENCHMARKS.json at the top of the repository.
 *
 * Figure ids for `--only`: bench/plan.ts's RUN_ORDER. With `--only`, the figures not run are kept
 * from the previous BENCHMARKS.json (bench/merge_report.ts).
 *
 * @module
 */

import { benchOptions } from "./cli_options.ts";
import { mergeReports, readPreviousReport } from "./merge_report.ts";
import { FULL, QUICK, RUN_ORDER } from "./plan.ts";
import { requireTools } from "./tools_check.ts";
import { fileURLToPath } from "node:url";
import { startLibvirtd } from "../tests/integration/helpers/libvirtd.ts";
import { startSshd } from "../tests/integration/helpers/sshd.ts";
import { progress } from "./figures/_interleave.ts";
import { measureAuditCalls } from "./figures/audit_calls.ts";
import { measureAuditDecode } from "./figures/audit_decode.ts";
import { measureFront } from "./figures/front.ts";
import { measureMetricsCost } from "./figures/metrics_cost.ts";
import { measureSasl, startSaslLibvirtd } from "./figures/sasl.ts";
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
import { measureVirshSsh, measureVirshTls } from "./figures/virsh_remote.ts";
import { loadAverage, machineFacts } from "./machine.ts";
import { type Figure, type FigureRun, type Report, writeReport } from "./report.ts";
import { type Rig, startRig } from "./rig.ts";

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

async function main(): Promise<void> {
  const values = benchOptions();
  if (values === undefined) return;
  requireTools();
  const plan = values.quick ? QUICK : FULL;
  const only = values.only ? new Set(values.only.split(",")) : undefined;
  const want = (id: string) => only === undefined || only.has(id);
  const root = fileURLToPath(new URL("..", import.meta.url));
  const previous = only === undefined ? undefined : await readPreviousReport(root);
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
  const add = (run: string, ...figures: Figure[]) =>
    report.figures.push(...figures.map((figure) => ({ ...figure, run })));
  const record = (run: string, name: string, measured: FigureRun) => {
    add(run, measured.figure);
    report.rigs[name] = measured.commands;
    Object.assign(report.configs, measured.configs);
  };
  const keep = (name: string, rig: Rig) => {
    report.rigs[name] = rig.commands;
    Object.assign(report.configs, rig.configs);
  };
  const save = async () => {
    report.durationSeconds = (performance.now() - began) / 1000;
    report.machine["load average at end"] = loadAverage();
    await writeReport(previous ? mergeReports(previous, report, RUN_ORDER) : report, root);
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
          add(
            "upstream",
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
            add("calls", throughputFigure(samples), cpuFigure(samples));
          }
        }
        if (want("latency")) {
          const samples = await measureSmallCalls(rig, {
            conns: 1,
            calls: plan.callsLatency,
            rounds: plan.rounds,
            placement: "unpinned",
          });
          add("latency", latencyFigure(samples));
        }
        if (want("stream")) {
          add(
            "stream",
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
          add("pinned", throughputFigure(samples), cpuFigure(samples));
        }
        const samples = await measureSmallCalls(rig, {
          conns: 1,
          calls: plan.callsLatency,
          rounds: plan.rounds,
          prefix: PIN,
          placement: "pinned",
        });
        add("pinned", latencyFigure(samples));
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
      add("memory", figure);
      await save();
    }

    if (want("decode")) {
      add("decode", await measureAuditDecode({ rounds: plan.rounds }));
      await save();
    }

    if (want("audit")) {
      add(
        "audit",
        await measureAuditCalls({ conns: 16, calls: plan.calls16, rounds: plan.rounds }),
      );
      await save();
    }

    if (want("metrics")) {
      record(
        "metrics",
        "metrics on vs off, fast upstream",
        await measureMetricsCost({ conns: 16, calls: plan.calls16, rounds: plan.rounds }),
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
              add(
                "virsh",
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
              add(
                "python",
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
              add(
                "ssh",
                await measureVirshSsh(daemon, rig, sshUri, plan.virshRounds),
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
            add(
              "tls",
              await measureVirshTls(daemon, rig, plan.virshRounds),
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
          add(
            "attack",
            await measureMemoryAttack(rig, () => daemon.pid, {
              attackers,
              directAttackers: values.quick ? 5 : 20,
              frameBytes: MAX_FRAME_BYTES,
              seconds: values.quick ? 5 : 10,
              rounds: values.quick ? 1 : 3,
              threads: 4,
            }),
          );
        });
      } finally {
        await daemon.stop();
      }
      await save();
    }
    if (want("front")) {
      progress("starting libvirtd (test driver, tls) for the network fronts");
      const daemon = await startLibvirtd({ tls: true });
      try {
        record(
          "front",
          "network fronts, real libvirtd (tls, tcp)",
          await measureFront(daemon, {
            rounds: plan.rounds,
            opens: plan.frontOpens,
            calls: plan.frontCalls,
          }),
        );
      } finally {
        await daemon.stop();
      }
      await save();
    }
    if (want("sasl")) {
      progress("starting libvirtd (test driver, tcp + SASL) for the SASL pool");
      const daemon = await startSaslLibvirtd();
      try {
        record(
          "sasl",
          "SASL pool, real libvirtd (tcp, DIGEST-MD5)",
          await measureSasl(daemon, {
            rounds: plan.rounds,
            threads: plan.saslThreads,
            seconds: plan.saslSeconds,
          }),
        );
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
