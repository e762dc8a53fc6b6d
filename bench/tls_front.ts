/**
 * The network fronts against libvirtd's own listeners, in one run: the time a python-libvirt
 * client takes to connect (TCP, TLS handshake with client certificate, confirmation byte,
 * AUTH_LIST, CONNECT_OPEN) and close, and how many small calls (`getLibVersion`, one round trip
 * each) one connection makes per second. Targets are measured in turn, round after round, and the
 * medians printed.
 *
 * ```sh
 * deno run -A bench/tls_front.ts [--rounds 5] [--opens 30] [--calls 2000]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startLibvirtd } from "../tests/integration/helpers/libvirtd.ts";
import { freePort } from "../tests/integration/helpers/ports.ts";
import { waitForTcpPort } from "../tests/integration/helpers/process.ts";
import { runPython } from "../tests/integration/helpers/python.ts";
import { startVirtmux } from "../tests/integration/helpers/virtmux.ts";

const SCRIPT = `
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

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    opens: { type: "string", default: "30" },
    calls: { type: "string", default: "2000" },
  },
});

function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const daemon = await startLibvirtd({ tls: true });
const pki = daemon.pki!;
const [tlsDedicated, tlsShared, tcpDedicated] = [freePort(), freePort(), freePort()];
const files = `key_file = "${pki.server.key}"
cert_file = "${pki.server.cert}"
ca_file = "${pki.ca.cert}"`;
const virtmux = await startVirtmux(
  `
[log]
level = "warning"

[[upstream]]
name = "dedicated"
uri = "${daemon.uris.unix}"

[[upstream]]
name = "shared"
uri = "${daemon.uris.unix}"
share = true

[[listen]]
tls = "127.0.0.1:${tlsDedicated}"
upstream = "dedicated"
${files}

[[listen]]
tls = "127.0.0.1:${tlsShared}"
upstream = "shared"
${files}

[[listen]]
tcp = "127.0.0.1:${tcpDedicated}"
upstream = "dedicated"
`,
  { waitForSockets: [] },
);
try {
  for (const port of [tlsDedicated, tlsShared, tcpDedicated]) {
    await waitForTcpPort(port, { process: virtmux.process });
  }
  const tlsUri = (port: number) =>
    `test+tls://localhost:${port}/default?pkipath=${pki.clientPkiPath}`;
  const targets: [string, string][] = [
    ["libvirtd tls", daemon.uris.tls!],
    ["virtmux tls front, dedicated", tlsUri(tlsDedicated)],
    ["virtmux tls front, shared", tlsUri(tlsShared)],
    ["libvirtd tcp", daemon.uris.tcp],
    ["virtmux tcp front, dedicated", `test+tcp://127.0.0.1:${tcpDedicated}/default`],
  ];
  const results = new Map(
    targets.map(([name]) => [name, { openMs: [] as number[], callsPerS: [] as number[] }]),
  );
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const [name, uri] of targets) {
      const run = await runPython(SCRIPT, [uri, values.opens!, values.calls!], {
        timeoutMs: 120_000,
      });
      if (run.code !== 0) throw new Error(`Cannot measure "${name}": ${run.stderr.trim()}`);
      const [openMs, callsPerS] = run.stdout.trim().split(" ").map(Number);
      results.get(name)!.openMs.push(openMs);
      results.get(name)!.callsPerS.push(callsPerS);
    }
    console.error(`round ${round} done`);
  }
  console.log(
    `| target | connect + open + close, ms (median of ${values.rounds}) | small calls/s |`,
  );
  console.log("| --- | --- | --- |");
  for (const [name, { openMs, callsPerS }] of results) {
    console.log(`| ${name} | ${median(openMs).toFixed(2)} | ${Math.round(median(callsPerS))} |`);
  }
} finally {
  await virtmux.stop();
  await daemon.stop();
}
