/**
 * Small calls over a SASL-authenticated plain-tcp libvirtd (`auth_tcp = "sasl"`, DIGEST-MD5 with
 * its security layer, from a private sasldb): python-libvirt threads straight to the daemon (each
 * logging in with an auth.conf) against the same threads on virtmux's unix listeners, whose
 * upstreams log in to the daemon themselves with credentials from an auth.conf: a shared pool
 * (`share = true`) and a dedicated upstream (one daemon connection and login per client).
 *
 * Run alone: `deno run -A bench/figures/sasl.ts [ROUNDS] [THREADS] [SECONDS]` prints the figure as
 * JSON.
 *
 * @module
 */

import { join } from "node:path";
import { authConf } from "../../tests/integration/helpers/auth_conf.ts";
import { type Libvirtd, startLibvirtd } from "../../tests/integration/helpers/libvirtd.ts";
import { runPython } from "../../tests/integration/helpers/python.ts";
import { makeTempDir, removeDir } from "../../tests/integration/helpers/tmp.ts";
import { MAIN_TS, startVirtmux } from "../../tests/integration/helpers/virtmux.ts";
import { V8_FLAGS } from "../../tools/v8_flags.ts";
import { evaluate, type FigureRun, type Metric, ratiosOf } from "../report.ts";
import { interleave, progress } from "./_interleave.ts";
import { goodScript } from "./memory_attack.ts";

/** The SASL user in the daemon's sasldb and in auth.conf. */
const USER = "bench";
/** Its password (a throwaway daemon's). */
const PASSWORD = "bench password";

/**
 * The memory attack's good clients, opening with openAuth: libvirt's client fills SASL credentials
 * from auth.conf only for the credential types the caller's auth supports (libvirt.open has none,
 * so DIGEST-MD5 finds "no worthy mechs"); the callback refuses anything auth.conf lacks. Opens
 * take turns: python-libvirt threads logging in with SASL at once crash now and then ("double
 * free" in glibc).
 */
const SASL_SCRIPT = goodScript(
  "sasl_open(uri)",
  `
open_lock = threading.Lock()
def sasl_open(uri):
    with open_lock:
        return libvirt.openAuth(uri, [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE],
                                      lambda creds, data: -1, None], 0)`,
);

/** Options for {@linkcode measureSasl}. */
export interface SaslOptions {
  /** Samples per path. */
  rounds: number;
  /** python-libvirt threads, each with its own connection. */
  threads: number;
  /** Seconds each sample calls for. */
  seconds: number;
}

/** Column ids of the SASL figure, in order. */
export const SASL_COLUMNS = ["direct_sasl", "dedicated", "shared"] as const;

/** Starts the private libvirtd that demands SASL (DIGEST-MD5 on tcp) from {@linkcode USER}. */
export function startSaslLibvirtd(): Promise<Libvirtd> {
  return startLibvirtd({ sasl: { users: { [USER]: PASSWORD } } });
}

/**
 * Measures small-call throughput on `daemon` (from {@linkcode startSaslLibvirtd}) directly and
 * through virtmux's shared and dedicated upstreams, interleaved round by round; starts and stops
 * its own virtmux.
 */
export async function measureSasl(daemon: Libvirtd, options: SaslOptions): Promise<FigureRun> {
  const dir = await makeTempDir("bench-sasl");
  const rate: Metric = { id: "callsPerSec", label: "calls/s", better: "higher", samples: {} };
  const p99: Metric = { id: "p99Us", label: "p99 (µs)", better: "lower", samples: {} };
  const failures: Metric = { id: "failures", label: "failures", better: "lower", samples: {} };
  const notes: string[] = [];
  let config = "";
  let configPath = "";
  try {
    const auth = join(dir, "auth.conf");
    await Deno.writeTextFile(auth, authConf(USER, PASSWORD));
    const upstream = `${daemon.uris.tcp}?authfile=${auth}`;
    const socket = (name: string) => join(dir, `${name}.sock`);
    config = `[log]\nlevel = "warning"\n\n` +
      `[[upstream]]\nname = "dedicated"\nuri = "${upstream}"\n\n` +
      `[[upstream]]\nname = "shared"\nuri = "${upstream}"\nshare = true\n\n` +
      `[[listen]]\nsocket = "${socket("dedicated")}"\nupstream = "dedicated"\n\n` +
      `[[listen]]\nsocket = "${socket("shared")}"\nupstream = "shared"\n`;
    const virtmux = await startVirtmux(config, { env: { LIBVIRT_AUTH_FILE: "" } });
    configPath = virtmux.configPath;
    try {
      const uris: Record<string, string> = {
        direct_sasl: upstream,
        dedicated: `test+unix:///default?socket=${socket("dedicated")}`,
        shared: `test+unix:///default?socket=${socket("shared")}`,
      };
      progress(
        `sasl: ${options.rounds} rounds × ${options.threads} threads × ${options.seconds} s`,
      );
      const sample = (id: string) =>
        runPython(SASL_SCRIPT, [uris[id], `${options.threads}`, `${options.seconds}`], {
          timeoutMs: (options.seconds + 120) * 1000,
        });
      await interleave(options.rounds, SASL_COLUMNS, async (id) => {
        let run = await sample(id);
        if (run.code !== 0) { // a crash of python-libvirt itself: one more try, noted
          notes.push(
            `${id}: a sample was taken again after python exited ${run.code}: ` +
              run.stderr.trim().split("\n").pop(),
          );
          run = await sample(id);
        }
        if (run.code !== 0) throw new Error(`sasl figure: "${uris[id]}" failed: ${run.stderr}`);
        const result = JSON.parse(run.stdout.trim().split("\n").pop()!);
        if (result.calls === 0) {
          throw new Error(`sasl figure: no call on "${uris[id]}": ${result.firstFailure}`);
        }
        (rate.samples[id] ??= []).push(result.callsPerSec);
        (p99.samples[id] ??= []).push(result.p99Us);
        (failures.samples[id] ??= []).push(result.failures);
      });
    } finally {
      await virtmux.stop();
    }
  } finally {
    await removeDir(dir);
  }
  const figure = evaluate({
    id: "sasl",
    title: `SASL pool: python-libvirt, ${options.threads} threads, tcp + DIGEST-MD5 libvirtd`,
    description: 'The private libvirtd with `auth_tcp = "sasl"` and a private sasldb ' +
      "(saslpasswd2; `mech_list: scram-sha-256 digest-md5`): on plain tcp libvirt wants a " +
      "security layer (SSF ≥ 56), so every connection logs in with DIGEST-MD5 and carries each " +
      "frame inside its layer (auth-conf). Per sample, " +
      `${options.threads} python-libvirt threads, each with its own libvirt.openAuth() ` +
      "connection (credential types AUTHNAME and PASSPHRASE, so libvirt fills them from " +
      "auth.conf; opened one after another, then calling together; the same script on every " +
      "path), " +
      `call getLibVersion() for ${options.seconds} s. direct: the threads dial the daemon's ` +
      "tcp port themselves, credentials from an auth.conf (`authfile=`), one login per thread. " +
      "virtmux: the threads on virtmux's unix listeners, whose upstream is the same tcp URI and " +
      "auth.conf: shared (`share = true`, pool_max 4, logged in once per pool connection and " +
      "kept warm) or dedicated (one daemon connection and login per client). All paths " +
      "interleaved round by round in one run. Informational: no goal.",
    columns: [...SASL_COLUMNS],
    metrics: [rate, p99, failures],
    goals: [],
    ratios: ratiosOf("callsPerSec", [["shared", "direct_sasl"], ["dedicated", "direct_sasl"]]),
    commands: [
      `/usr/bin/python3 -c "$SASL_SCRIPT" URI ${options.threads} ${options.seconds}   ` +
      "# script: bench/figures/sasl.ts (memory_attack.ts's goodScript)",
      `deno run -A bench/figures/sasl.ts ${options.rounds} ${options.threads} ` +
      `${options.seconds}   # this figure alone, as JSON`,
    ],
    notes: [
      ...notes,
      "direct's samples include each thread's DIGEST-MD5 login (a few ms) within the timed " +
      "seconds; the shared pool logs in once per upstream connection, during the first sample, " +
      "and stays warm.",
    ],
  });
  return {
    figure,
    commands: {
      libvirtd: `SASL_CONF_PATH=${daemon.dir}/sasl /usr/sbin/libvirtd --listen -f ` +
        `${daemon.configFile} -p ${daemon.dir}/libvirtd.pid`,
      virtmux: `LIBVIRT_AUTH_FILE= deno run -A ${V8_FLAGS} ${MAIN_TS} serve --config ${configPath}`,
    },
    configs: {
      "virtmux.toml (sasl)": config,
      "libvirtd.conf (sasl)": await Deno.readTextFile(daemon.configFile),
    },
  };
}

/** Runs the figure alone and prints it as JSON. */
async function main(): Promise<void> {
  const [rounds = "3", threads = "4", seconds = "5"] = Deno.args;
  const daemon = await startSaslLibvirtd();
  try {
    const run = await measureSasl(daemon, {
      rounds: Number(rounds),
      threads: Number(threads),
      seconds: Number(seconds),
    });
    console.log(JSON.stringify(run.figure, null, 1));
  } finally {
    await daemon.stop();
  }
}

if (import.meta.main) await main();
