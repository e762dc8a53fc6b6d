/**
 * The network fronts against libvirtd's own listeners, in one run: the time a python-libvirt
 * client takes to connect (TCP, TLS handshake with client certificate, confirmation byte,
 * AUTH_LIST, CONNECT_OPEN) and close, and how many small calls (`getLibVersion`, one round trip
 * each) one connection makes per second, through virtmux's TLS and tcp fronts (dedicated and
 * shared upstreams on libvirtd's unix socket) and straight to libvirtd's TLS and tcp ports.
 *
 * Run alone: `deno run -A bench/figures/front.ts [ROUNDS] [OPENS] [CALLS]` prints the figure as
 * JSON.
 *
 * @module
 */

import { type Libvirtd, startLibvirtd } from "../../tests/integration/helpers/libvirtd.ts";
import { freePort } from "../../tests/integration/helpers/ports.ts";
import { waitForTcpPort } from "../../tests/integration/helpers/process.ts";
import { runPython } from "../../tests/integration/helpers/python.ts";
import { MAIN_TS, startVirtmux } from "../../tests/integration/helpers/virtmux.ts";
import { V8_FLAGS } from "../../tools/v8_flags.ts";
import { evaluate, type FigureRun, type Metric, ratiosOf } from "../report.ts";
import { interleave, progress } from "./_interleave.ts";

/** python-libvirt: OPENS × open+close, then CALLS getLibVersion() on one connection. */
export const FRONT_SCRIPT = `
import libvirt, sys, time
libvirt.registerErrorHandler(lambda ctx, err: None, None)
uri, opens, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
for _ in range(opens):
    libvirt.open(uri).close()
open_ms = (time.perf_counter() - start) * 1000 / opens
conn = libvirt.open(uri)
start = time.perf_counter()
for _ in range(calls):
    conn.getLibVersion()
print(open_ms, calls / (time.perf_counter() - start))
conn.close()
`;

/** Options for {@linkcode measureFront}. */
export interface FrontOptions {
  /** Samples per target. */
  rounds: number;
  /** Opens (connect, open, close) per sample; their mean is the sample. */
  opens: number;
  /** Small calls per sample on one connection. */
  calls: number;
}

/** Column ids of the front figure, in order. */
export const FRONT_COLUMNS = [
  "libvirtd_tls",
  "tls_dedicated",
  "tls_shared",
  "libvirtd_tcp",
  "tcp_dedicated",
  "tcp_shared",
] as const;

/** The virtmux config: dedicated and shared upstreams on the unix socket, a front for each. */
function frontConfig(daemon: Libvirtd, ports: Record<string, number>): string {
  const pki = daemon.pki!;
  const files = `key_file = "${pki.server.key}"\ncert_file = "${pki.server.cert}"\n` +
    `ca_file = "${pki.ca.cert}"`;
  const listen = (kind: "tls" | "tcp", upstream: string) =>
    `[[listen]]\n${kind} = "127.0.0.1:${ports[`${kind}_${upstream}`]}"\n` +
    `upstream = "${upstream}"\n${kind === "tls" ? files + "\n" : ""}`;
  return `[log]\nlevel = "warning"\n\n` +
    `[[upstream]]\nname = "dedicated"\nuri = "${daemon.uris.unix}"\n\n` +
    `[[upstream]]\nname = "shared"\nuri = "${daemon.uris.unix}"\nshare = true\n\n` +
    [
      listen("tls", "dedicated"),
      listen("tls", "shared"),
      listen("tcp", "dedicated"),
      listen("tcp", "shared"),
    ].join("\n");
}

/**
 * Measures the fronts against the listeners of `daemon` (started with `tls`), interleaved round by
 * round; starts and stops its own virtmux.
 */
export async function measureFront(daemon: Libvirtd, options: FrontOptions): Promise<FigureRun> {
  const ports: Record<string, number> = {};
  for (const id of FRONT_COLUMNS) if (!id.startsWith("libvirtd")) ports[id] = freePort();
  const config = frontConfig(daemon, ports);
  const virtmux = await startVirtmux(config, { waitForSockets: [] });
  const openMs: Metric = {
    id: "openMs",
    label: "connect + open + close (ms)",
    better: "lower",
    samples: {},
    digits: 2,
  };
  const rate: Metric = {
    id: "callsPerSec",
    label: "small calls/s, one connection",
    better: "higher",
    samples: {},
  };
  try {
    for (const port of Object.values(ports)) {
      await waitForTcpPort(port, { process: virtmux.process });
    }
    const pkipath = daemon.pki!.clientPkiPath;
    const uris: Record<string, string> = {
      libvirtd_tls: daemon.uris.tls!,
      tls_dedicated: `test+tls://localhost:${ports.tls_dedicated}/default?pkipath=${pkipath}`,
      tls_shared: `test+tls://localhost:${ports.tls_shared}/default?pkipath=${pkipath}`,
      libvirtd_tcp: daemon.uris.tcp,
      tcp_dedicated: `test+tcp://127.0.0.1:${ports.tcp_dedicated}/default`,
      tcp_shared: `test+tcp://127.0.0.1:${ports.tcp_shared}/default`,
    };
    progress(`network fronts: ${options.rounds} rounds × ${FRONT_COLUMNS.length} targets`);
    await interleave(options.rounds, FRONT_COLUMNS, async (id) => {
      const run = await runPython(
        FRONT_SCRIPT,
        [uris[id], `${options.opens}`, `${options.calls}`],
        {
          timeoutMs: 120_000,
        },
      );
      if (run.code !== 0) throw new Error(`front figure: "${uris[id]}" failed: ${run.stderr}`);
      const [ms, perSec] = run.stdout.trim().split("\n").pop()!.split(" ").map(Number);
      (openMs.samples[id] ??= []).push(ms);
      (rate.samples[id] ??= []).push(perSec);
    });
  } finally {
    await virtmux.stop();
  }
  const pairs: [string, string][] = [
    ["tls_dedicated", "libvirtd_tls"],
    ["tls_shared", "libvirtd_tls"],
    ["tcp_dedicated", "libvirtd_tcp"],
    ["tcp_shared", "libvirtd_tcp"],
  ];
  const figure = evaluate({
    id: "front",
    title: "Network fronts: python-libvirt over tls and tcp, virtmux vs libvirtd's own listeners",
    description: `Per sample, one python-libvirt process opens and closes ${options.opens} ` +
      "connections in a row (TCP connect, for tls the handshake with a client certificate and " +
      "the confirmation byte, AUTH_LIST, CONNECT_OPEN of test:///default, CONNECT_CLOSE) and " +
      `reports their mean, then makes ${options.calls} sequential getLibVersion() calls on one ` +
      "connection. libvirtd: the private libvirtd's own TLS and tcp ports (auth none, the " +
      "harness's PKI). virtmux: its `[[listen]] tls =` and `tcp =` fronts with the same server " +
      "certificate, onto a dedicated or shared upstream on libvirtd's unix socket (so one more " +
      "hop than direct). All targets interleaved round by round in one run. Informational: no goal.",
    columns: [...FRONT_COLUMNS],
    metrics: [openMs, rate],
    goals: [],
    ratios: [...ratiosOf("openMs", pairs), ...ratiosOf("callsPerSec", pairs)],
    commands: [
      `/usr/bin/python3 -c "$FRONT_SCRIPT" URI ${options.opens} ${options.calls}   ` +
      "# script: bench/figures/front.ts",
      `deno run -A bench/figures/front.ts ${options.rounds} ${options.opens} ${options.calls}` +
      "   # this figure alone, as JSON",
    ],
    notes: [
      "Ratios are virtmux / libvirtd of the same protocol: above 1 for the time to open means " +
      "slower than libvirtd, below 1 for calls/s means fewer calls than libvirtd.",
    ],
  });
  return {
    figure,
    commands: {
      libvirtd: `/usr/sbin/libvirtd --listen -f ${daemon.configFile} -p ${daemon.dir}/libvirtd.pid`,
      virtmux: `deno run -A ${V8_FLAGS} ${MAIN_TS} serve --config ${virtmux.configPath}`,
    },
    configs: { "virtmux.toml (network fronts)": config },
  };
}

/** Runs the figure alone and prints it as JSON. */
async function main(): Promise<void> {
  const [rounds = "5", opens = "30", calls = "2000"] = Deno.args;
  const daemon = await startLibvirtd({ tls: true });
  try {
    const run = await measureFront(daemon, {
      rounds: Number(rounds),
      opens: Number(opens),
      calls: Number(calls),
    });
    console.log(JSON.stringify(run.figure, null, 1));
  } finally {
    await daemon.stop();
  }
}

if (import.meta.main) await main();
