/**
 * The processes the bench measures against and through: the fast daemon, socat and HAProxy
 * relays, and virtmux itself. Each is started in its own process group (the test harness's
 * spawnProcess), optionally behind a command prefix (`taskset -c 0`, `prlimit --nofile=...`), and
 * is ready when its unix socket accepts.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnProcess, waitForUnixSocket } from "../tests/integration/helpers/process.ts";
import { MAIN_TS } from "../tests/integration/helpers/virtmux.ts";
import { V8_FLAGS } from "../tools/v8_flags.ts";

/** Absolute path of bench/fast_daemon.ts. */
export const FAST_DAEMON_TS: string = fileURLToPath(new URL("./fast_daemon.ts", import.meta.url));

/** A running process that listens on a unix socket. */
export interface Relay {
  /** Short id used in tables and JSON (`socat`, `haproxy`, ...). */
  id: string;
  /** The socket clients connect to. */
  socket: string;
  /** The process whose CPU and memory are measured (taskset and prlimit exec in place). */
  pid: number;
  /** The exact command line. */
  command: string;
  /** Config files written for it, by name, for the report. */
  configs: Record<string, string>;
  /** Stops the process group. */
  stop(): Promise<void>;
}

/** Options shared by the launchers. */
export interface LaunchOptions {
  /** Command prefix, e.g. `["taskset", "-c", "0"]`. */
  prefix?: string[];
  /** Directory for sockets, configs and logs. */
  dir: string;
}

/** Quotes a command line for the report. */
export function shellWords(words: string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}

async function launch(
  id: string,
  words: string[],
  socket: string,
  options: LaunchOptions,
  configs: Record<string, string> = {},
): Promise<Relay> {
  const logFile = join(options.dir, `${id}.log`);
  const proc = spawnProcess(words[0], { args: words.slice(1), logFile, name: id });
  try {
    await waitForUnixSocket(socket, { process: proc, timeoutMs: 20000 });
  } catch (error) {
    await proc.kill({ graceMs: 1000 });
    const log = await Deno.readTextFile(logFile).catch(() => "");
    throw new Error(`Cannot start ${id}: ${(error as Error).message}\n${log.slice(-2000)}`);
  }
  return {
    id,
    socket,
    pid: proc.pid,
    command: shellWords(words),
    configs,
    async stop() {
      await proc.kill({ graceMs: 3000 });
    },
  };
}

/** Starts the fast daemon on `<dir>/fast.sock`. */
export function startFastDaemon(options: LaunchOptions): Promise<Relay> {
  const socket = join(options.dir, "fast.sock");
  const words = [
    ...(options.prefix ?? []),
    Deno.execPath(),
    "run",
    "-A",
    FAST_DAEMON_TS,
    "--socket",
    socket,
  ];
  return launch("fast_daemon", words, socket, options);
}

/** Absolute path of bench/deno_relay.ts. */
export const DENO_RELAY_TS: string = fileURLToPath(new URL("./deno_relay.ts", import.meta.url));

/** Starts the plain Deno relay (bench/deno_relay.ts) on `<dir>/deno_relay.sock`. */
export function startDenoRelay(target: string, options: LaunchOptions): Promise<Relay> {
  const socket = join(options.dir, "deno_relay.sock");
  const words = [
    ...(options.prefix ?? []),
    Deno.execPath(),
    "run",
    "-A",
    DENO_RELAY_TS,
    "--listen",
    socket,
    "--target",
    target,
  ];
  return launch("deno_relay", words, socket, options);
}

/**
 * Starts `socat -b 65536 UNIX-LISTEN:<dir>/socat.sock,fork,backlog=1024 UNIX-CONNECT:<target>`
 * (socat's own listen backlog is 5: clients connecting together would get EAGAIN).
 */
export function startSocat(target: string, options: LaunchOptions): Promise<Relay> {
  const socket = join(options.dir, "socat.sock");
  const words = [
    ...(options.prefix ?? []),
    "socat",
    "-b",
    "65536",
    `UNIX-LISTEN:${socket},fork,backlog=1024`,
    `UNIX-CONNECT:${target}`,
  ];
  return launch("socat", words, socket, options);
}

/** Options for {@linkcode startHaproxy}. */
export interface HaproxyOptions extends LaunchOptions {
  /** Add `option splice-request`, `option splice-response` and `tune.pipesize 262144`. */
  splice?: boolean;
  /**
   * `maxconn`, to stay within the process's open-file limit (two fds per client).
   *
   * @default {4000}
   */
  maxconn?: number;
}

/** The HAProxy config the bench uses: tcp mode, unix socket in and out, one thread, 64 KiB. */
export function haproxyConfig(socket: string, target: string, options: HaproxyOptions): string {
  return [
    "global",
    "  nbthread 1",
    `  maxconn ${options.maxconn ?? 4000}`,
    "  tune.bufsize 65536",
    ...(options.splice ? ["  tune.pipesize 262144"] : []),
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 1h",
    "  timeout server 1h",
    "frontend f",
    `  bind ${socket} mode 777`,
    `  maxconn ${options.maxconn ?? 4000}`,
    "  default_backend b",
    "backend b",
    ...(options.splice ? ["  option splice-request", "  option splice-response"] : []),
    `  server s1 unix@${target} maxconn ${options.maxconn ?? 4000}`,
    "",
  ].join("\n");
}

/** Starts Debian's haproxy in the foreground with {@linkcode haproxyConfig}. */
export async function startHaproxy(target: string, options: HaproxyOptions): Promise<Relay> {
  const id = options.splice ? "haproxy_splice" : "haproxy";
  const socket = join(options.dir, `${id}.sock`);
  const config = haproxyConfig(socket, target, options);
  const configFile = join(options.dir, `${id}.cfg`);
  await Deno.writeTextFile(configFile, config);
  const words = [...(options.prefix ?? []), "haproxy", "-db", "-f", configFile];
  return launch(id, words, socket, options, { [`${id}.cfg`]: config });
}

/** One upstream of a bench virtmux config. */
export interface VirtmuxUpstream {
  /** Upstream name, also the listener socket's name. */
  name: string;
  /** libvirt URI. */
  uri: string;
  /** Shared pool or dedicated. */
  share: boolean;
}

/** Options for {@linkcode startVirtmux}. */
export interface VirtmuxOptions extends LaunchOptions {
  /** Upstreams, one listener `<dir>/<name>.sock` each. */
  upstreams: VirtmuxUpstream[];
  /**
   * Shared pools: most connections.
   *
   * @default {4}
   */
  poolMax?: number;
  /**
   * Shared pools: outstanding calls per upstream connection.
   *
   * @default {5}
   */
  maxInflightPerConnection?: number;
  /**
   * `[limits] max_clients`.
   *
   * @default {4096}
   */
  maxClients?: number;
  /** Extra arguments to deno before the script, e.g. `--cpu-prof`. */
  denoFlags?: string[];
  /** TOML appended to the config (e.g. an `[audit]` section). */
  extraConfig?: string;
  /**
   * Names the config and log files, for several virtmux processes in one dir.
   *
   * @default {"virtmux"}
   */
  id?: string;
}

/** The virtmux config the bench uses. */
export function virtmuxConfig(options: VirtmuxOptions): string {
  const lines = [
    "[log]",
    'level = "warning"',
    "[limits]",
    `max_clients = ${options.maxClients ?? 4096}`,
    "max_inflight_per_client = 32",
  ];
  for (const upstream of options.upstreams) {
    lines.push(
      "[[upstream]]",
      `name = "${upstream.name}"`,
      `uri = "${upstream.uri}"`,
      `share = ${upstream.share}`,
      `pool_max = ${options.poolMax ?? 4}`,
      `max_inflight_per_connection = ${options.maxInflightPerConnection ?? 5}`,
    );
  }
  for (const upstream of options.upstreams) {
    lines.push(
      "[[listen]]",
      `socket = "${join(options.dir, upstream.name + ".sock")}"`,
      'mode = "0666"',
      `upstream = "${upstream.name}"`,
    );
  }
  return lines.join("\n") + "\n" + (options.extraConfig ?? "");
}

/** A running virtmux with one socket per upstream. */
export interface VirtmuxProcess extends Relay {
  /** Socket of each upstream's listener, by upstream name. */
  sockets: Record<string, string>;
}

/** Starts `deno run -A main.ts serve --config FILE` with {@linkcode virtmuxConfig}. */
export async function startVirtmux(options: VirtmuxOptions): Promise<VirtmuxProcess> {
  const config = virtmuxConfig(options);
  const id = options.id ?? "virtmux";
  const configFile = join(options.dir, `${id}.toml`);
  await Deno.writeTextFile(configFile, config);
  const words = [
    ...(options.prefix ?? []),
    Deno.execPath(),
    "run",
    "-A",
    V8_FLAGS,
    ...(options.denoFlags ?? []),
    MAIN_TS,
    "serve",
    "--config",
    configFile,
  ];
  const sockets: Record<string, string> = {};
  for (const upstream of options.upstreams) {
    sockets[upstream.name] = join(options.dir, upstream.name + ".sock");
  }
  const first = Object.values(sockets)[0];
  const relay = await launch(id, words, first, options, { [`${id}.toml`]: config });
  for (const socket of Object.values(sockets)) await waitForUnixSocket(socket);
  return { ...relay, sockets };
}
