/**
 * A private libvirtd (Debian's /usr/sbin/libvirtd, 9.0) for integration tests, set up as DESIGN §6
 * says: everything lives in one temp dir, `LIBVIRT_DRIVER_DIR` points at an empty directory so only
 * the built-in test driver (`test:///default`) exists, and it listens on unix sockets in the temp dir
 * plus TCP (and optionally TLS) on free loopback ports, with no authentication.
 *
 * @module
 */

import { join } from "node:path";
import { makePki, type Pki, type PkiOptions } from "./pki.ts";
import { freePort } from "./ports.ts";
import {
  runCommand,
  type SpawnedProcess,
  spawnProcess,
  waitForTcpPort,
  waitForUnixSocket,
} from "./process.ts";
import { makeTempDir, removeDir } from "./tmp.ts";

/** The libvirtd binary. */
export const LIBVIRTD = "/usr/sbin/libvirtd";

/** Options for {@linkcode startLibvirtd}. */
export interface LibvirtdOptions {
  /** Also listen for TLS, with a PKI made by {@linkcode makePki}. */
  tls?: boolean;
  /** PKI options when `tls` is set. */
  pki?: PkiOptions;
  /**
   * libvirt log level for the log file: 1 debug, 2 info, 3 warning, 4 error.
   *
   * @default {3}
   */
  logLevel?: number;
  /** Extra libvirtd.conf lines (e.g. `max_client_requests = 2`). */
  extraConfig?: string;
  /** Extra environment for libvirtd (e.g. `KRB5_CONFIG`, `KRB5_KTNAME`). */
  env?: Record<string, string>;
  /**
   * Require SASL on the read-write unix socket, tcp and (with `tls`) tls, from a private sasldb and
   * server config (`SASL_CONF_PATH`), so the system's SASL setup is neither read nor changed.
   */
  sasl?: LibvirtdSaslOptions;
  /**
   * How long startup may take before it counts as failed.
   *
   * @default {20000}
   */
  startTimeoutMs?: number;
}

/** The daemon's private SASL setup, for {@linkcode LibvirtdOptions.sasl}. */
export interface LibvirtdSaslOptions {
  /**
   * The server's `mech_list` (libvirtd refuses mechanisms below SSF 56 on plain tcp itself).
   *
   * @default {["scram-sha-256", "digest-md5"]}
   */
  mechanisms?: string[];
  /** User names and passwords to put in the sasldb (for the application name `libvirt`). */
  users: Record<string, string>;
  /** Extra lines of the server's SASL config (e.g. `keytab: FILE` for GSSAPI). */
  extraConfig?: string;
}

/** URIs that reach the test driver of a {@linkcode Libvirtd} directly. */
export interface LibvirtdUris {
  /** `test+unix:///default?socket=...` */
  unix: string;
  /** `test+tcp://127.0.0.1:PORT/default` */
  tcp: string;
  /** `test+tls://localhost:PORT/default?pkipath=DIR`, when started with `tls`. */
  tls?: string;
}

/** A running private libvirtd. */
export interface Libvirtd {
  /** The temp dir holding config, sockets, pid file and log. */
  dir: string;
  /** Read-write unix socket. */
  unixSocket: string;
  /** Read-only unix socket. */
  roSocket: string;
  /** Admin socket (for virt-admin). */
  adminSocket: string;
  /** TCP port on 127.0.0.1 (no auth). */
  tcpPort: number;
  /** TLS port on 127.0.0.1 (no auth beyond the client certificate), when started with `tls`. */
  tlsPort?: number;
  /** The PKI, when started with `tls`. */
  pki?: Pki;
  /** The client pkipath directory, when started with `tls`. */
  clientPki?: string;
  /** URIs that reach the test driver directly. */
  uris: LibvirtdUris;
  /** The current libvirtd pid (changes on {@linkcode Libvirtd.restart}). */
  readonly pid: number;
  /** libvirtd's own log (log_outputs) file. */
  logFile: string;
  /** Where libvirtd's stdout/stderr go. */
  stderrFile: string;
  /** The libvirtd.conf used. */
  configFile: string;
  /** The private sasldb, when started with `sasl`. */
  saslDb?: string;
  /** Milliseconds the most recent start took, until every socket accepted. */
  readonly startMs: number;
  /** Stops libvirtd (SIGTERM, then SIGKILL) and removes the temp dir; safe to call twice. */
  stop(): Promise<void>;
  /** SIGKILLs libvirtd at once (fault tests); the temp dir stays, so restart() works. */
  kill(): Promise<void>;
  /** Stops libvirtd if running, then starts it again with the same sockets and ports. */
  restart(): Promise<void>;
  /** How many clients the daemon's `libvirtd` server has, from virt-admin srv-clients-list. */
  clientCount(): Promise<number>;
}

/**
 * Starts a private libvirtd and waits until its unix socket, TCP port and (with `tls`) TLS port
 * accept connections.
 *
 * @param options TLS, log level, extra config and start timeout
 * @returns the running daemon; call `stop()` in a `finally`
 * @throws {Error} when it does not come up, with the tail of its output and log
 */
export async function startLibvirtd(options: LibvirtdOptions = {}): Promise<Libvirtd> {
  const dir = await makeTempDir("libvirtd");
  try {
    return await setUp(dir, options);
  } catch (error) {
    await removeDir(dir);
    throw error;
  }
}

async function setUp(dir: string, options: LibvirtdOptions): Promise<Libvirtd> {
  const runDir = join(dir, "run");
  const driverDir = join(dir, "drivers");
  await Deno.mkdir(runDir);
  await Deno.mkdir(driverDir);
  const unixSocket = join(runDir, "libvirt-sock");
  const roSocket = join(runDir, "libvirt-sock-ro");
  const adminSocket = join(runDir, "libvirt-admin-sock");
  const tcpPort = freePort();
  const tlsPort = options.tls ? freePort() : undefined;
  let pki: Pki | undefined;
  if (options.tls) {
    await Deno.mkdir(join(dir, "pki"));
    pki = await makePki(join(dir, "pki"), options.pki);
  }
  const logFile = join(dir, "libvirtd.log");
  const stderrFile = join(dir, "libvirtd.stderr");
  const configFile = join(dir, "libvirtd.conf");
  const pidFile = join(dir, "libvirtd.pid");

  const lines = [
    `unix_sock_dir = "${runDir}"`,
    `unix_sock_rw_perms = "0777"`,
    `unix_sock_ro_perms = "0777"`,
    `auth_unix_rw = "${options.sasl ? "sasl" : "none"}"`,
    `auth_unix_ro = "none"`,
    `listen_addr = "127.0.0.1"`,
    `listen_tcp = 1`,
    `tcp_port = "${tcpPort}"`,
    `auth_tcp = "${options.sasl ? "sasl" : "none"}"`,
    `listen_tls = ${tlsPort ? 1 : 0}`,
    `host_uuid = "${crypto.randomUUID()}"`,
    `log_outputs = "${options.logLevel ?? 3}:file:${logFile}"`,
    `mdns_adv = 0`,
  ];
  if (tlsPort && pki) {
    lines.push(
      `tls_port = "${tlsPort}"`,
      `auth_tls = "${options.sasl ? "sasl" : "none"}"`,
      `key_file = "${pki.server.key}"`,
      `cert_file = "${pki.server.cert}"`,
      `ca_file = "${pki.ca.cert}"`,
    );
  }
  if (options.extraConfig) lines.push(options.extraConfig);
  await Deno.writeTextFile(configFile, lines.join("\n") + "\n");

  const saslDb = options.sasl ? await makeSaslDb(join(dir, "sasl"), options.sasl) : undefined;
  const env: Record<string, string> = {
    ...(saslDb ? { SASL_CONF_PATH: join(dir, "sasl") } : {}),
    LIBVIRT_DRIVER_DIR: driverDir,
    HOME: dir,
    XDG_RUNTIME_DIR: runDir,
    XDG_CONFIG_HOME: join(dir, "config"),
    XDG_CACHE_HOME: join(dir, "cache"),
    LC_ALL: "C",
    ...options.env,
  };
  const timeoutMs = options.startTimeoutMs ?? 20000;
  let proc: SpawnedProcess | undefined;
  let startMs = 0;
  let stopped = false;

  async function launch(): Promise<void> {
    const began = performance.now();
    proc = spawnProcess(LIBVIRTD, {
      args: ["--listen", "-f", configFile, "-p", pidFile],
      env,
      logFile: stderrFile,
      name: "libvirtd",
    });
    try {
      const wait = { process: proc, timeoutMs };
      await waitForUnixSocket(unixSocket, wait);
      await waitForTcpPort(tcpPort, wait);
      if (tlsPort) await waitForTcpPort(tlsPort, wait);
    } catch (error) {
      await proc.kill({ graceMs: 1000 });
      const output = await tail(stderrFile);
      const log = await tail(logFile);
      throw new Error(
        `${
          (error as Error).message
        }\n--- libvirtd output ---\n${output}\n--- libvirtd log ---\n${log}`,
      );
    }
    startMs = performance.now() - began;
  }

  await launch();

  const uris: LibvirtdUris = {
    unix: `test+unix:///default?socket=${unixSocket}`,
    tcp: `test+tcp://127.0.0.1:${tcpPort}/default`,
  };
  if (tlsPort && pki) {
    uris.tls = `test+tls://localhost:${tlsPort}/default?pkipath=${pki.clientPkiPath}`;
  }

  return {
    dir,
    unixSocket,
    roSocket,
    adminSocket,
    tcpPort,
    tlsPort,
    pki,
    clientPki: pki?.clientPkiPath,
    uris,
    saslDb,
    get pid() {
      return proc!.pid;
    },
    logFile,
    stderrFile,
    configFile,
    get startMs() {
      return startMs;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await proc?.kill({ signal: "SIGTERM", graceMs: 5000 });
      await removeDir(dir);
    },
    async kill() {
      await proc?.kill({ signal: "SIGKILL", graceMs: 1000 });
    },
    async restart() {
      if (stopped) throw new Error(`Cannot restart libvirtd in "${dir}": it was stopped`);
      await proc?.kill({ signal: "SIGTERM", graceMs: 5000 });
      // A SIGKILLed daemon leaves its sockets behind; libvirtd replaces them itself.
      await launch();
    },
    async clientCount() {
      const result = await runCommand("virt-admin", [
        "-c",
        `libvirtd:///system?socket=${adminSocket}`,
        "srv-clients-list",
        "libvirtd",
      ], { env: { LC_ALL: "C", HOME: dir } });
      if (result.code !== 0) {
        throw new Error(
          `Cannot list libvirtd clients: exit ${result.code}: ${result.stderr.trim()}`,
        );
      }
      return countTableRows(result.stdout);
    },
  };
}

/**
 * Counts the data rows of a virsh/virt-admin table: the non-empty lines after the `----` rule.
 *
 * @param table the command's stdout
 */
export function countTableRows(table: string): number {
  const lines = table.split("\n");
  const rule = lines.findIndex((line) => /^-{5,}/.test(line.trim()));
  if (rule < 0) return 0;
  return lines.slice(rule + 1).filter((line) => line.trim() !== "").length;
}

/**
 * Writes `dir/libvirt.conf` (the server config cyrus-sasl reads for the service "libvirt") and a
 * sasldb beside it holding `sasl.users`; returns the sasldb path.
 */
async function makeSaslDb(dir: string, sasl: LibvirtdSaslOptions): Promise<string> {
  await Deno.mkdir(dir);
  const db = join(dir, "passwd.db");
  const mechanisms = sasl.mechanisms ?? ["scram-sha-256", "digest-md5"];
  await Deno.writeTextFile(
    join(dir, "libvirt.conf"),
    `mech_list: ${mechanisms.join(" ")}\nsasldb_path: ${db}\n${sasl.extraConfig ?? ""}\n`,
  );
  for (const [user, password] of Object.entries(sasl.users)) {
    // -p: the password comes from stdin, without a prompt or a confirmation.
    const result = await runCommand("saslpasswd2", ["-f", db, "-a", "libvirt", "-p", "-c", user], {
      stdin: password,
      env: { LC_ALL: "C" },
    });
    if (result.code !== 0) {
      throw new Error(
        `Cannot add SASL user "${user}" to "${db}": saslpasswd2 exit ${result.code}: ${result.stderr.trim()}`,
      );
    }
  }
  return db;
}

async function tail(path: string, bytes = 4000): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.slice(-bytes);
  } catch {
    return "(none)";
  }
}
