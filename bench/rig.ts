/**
 * A rig: one upstream (the fast daemon or a real libvirtd's unix socket) and every path to it that
 * a figure compares — direct, socat, HAProxy (64 KiB buffers), HAProxy with splice, virtmux
 * dedicated and virtmux shared, plus a plain Deno relay as the runtime's floor — all started with the same command prefix and stopped together.
 *
 * @module
 */

import { makeTempDir, removeDir } from "../tests/integration/helpers/tmp.ts";
import {
  type Relay,
  startDenoRelay,
  startFastDaemon,
  startHaproxy,
  startSocat,
  startVirtmux,
  type VirtmuxProcess,
} from "./references.ts";

/** Path ids, in the order the tables show them. */
export const PATHS = [
  "direct",
  "socat",
  "haproxy",
  "haproxy_splice",
  "deno_relay",
  "dedicated",
  "shared",
] as const;

/** One of {@linkcode PATHS}. */
export type PathId = typeof PATHS[number];

/** Column headings for {@linkcode PATHS}. */
export const PATH_LABELS: Record<PathId, string> = {
  direct: "direct",
  socat: "socat",
  haproxy: "HAProxy",
  haproxy_splice: "HAProxy splice",
  deno_relay: "plain Deno relay",
  dedicated: "virtmux dedicated",
  shared: "virtmux shared",
};

/** A way to reach the upstream. */
export interface Path {
  /** Which path. */
  id: PathId;
  /** The socket a client connects to. */
  socket: string;
  /** The relay process measured for CPU and memory; undefined for direct. */
  pid?: number;
}

/** Options for {@linkcode startRig}. */
export interface RigOptions {
  /** Command prefix for every process, e.g. `["taskset", "-c", "0"]`. */
  prefix?: string[];
  /** Use this daemon socket instead of starting the fast daemon. */
  upstreamSocket?: string;
  /** The URI virtmux uses for the upstream; defaults to `test+unix:///default?socket=...`. */
  upstreamUri?: string;
  /** Which paths to start (direct is always there). Default: all. */
  paths?: readonly PathId[];
  /**
   * Shared pool: most connections.
   *
   * @default {4}
   */
  poolMax?: number;
  /**
   * Shared pool: outstanding calls per upstream connection.
   *
   * @default {5}
   */
  maxInflightPerConnection?: number;
  /** HAProxy maxconn (two fds per client must fit the open-file limit). */
  haproxyMaxconn?: number;
  /** virtmux `max_clients`. */
  maxClients?: number;
  /** Extra deno flags for virtmux (`--cpu-prof`, `--cpu-prof-dir=...`). */
  virtmuxDenoFlags?: string[];
}

/** A started rig. */
export interface Rig {
  /** Every started path, in {@linkcode PATHS} order. */
  paths: Path[];
  /** The fast daemon, when the rig started one. */
  fastDaemon?: Relay;
  /** The virtmux process, when started. */
  virtmux?: VirtmuxProcess;
  /** Every process's exact command line and config files, for the report. */
  commands: Record<string, string>;
  /** Config files by name. */
  configs: Record<string, string>;
  /** Stops everything the rig started and removes its temp dir. */
  stop(): Promise<void>;
}

/** Looks up a path of a rig. */
export function pathOf(rig: Rig, id: PathId): Path | undefined {
  return rig.paths.find((p) => p.id === id);
}

/** Starts the upstream (unless given) and the requested relays. */
export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const dir = await makeTempDir("bench");
  const started: Relay[] = [];
  const want = new Set(options.paths ?? PATHS);
  const launch = { dir, prefix: options.prefix };
  try {
    let fastDaemon: Relay | undefined;
    let upstream = options.upstreamSocket;
    if (upstream === undefined) {
      fastDaemon = await startFastDaemon(launch);
      started.push(fastDaemon);
      upstream = fastDaemon.socket;
    }
    const paths: Path[] = [{ id: "direct", socket: upstream }];
    if (want.has("socat")) {
      const relay = await startSocat(upstream, launch);
      started.push(relay);
      paths.push({ id: "socat", socket: relay.socket, pid: relay.pid });
    }
    for (const splice of [false, true]) {
      if (!want.has(splice ? "haproxy_splice" : "haproxy")) continue;
      const relay = await startHaproxy(upstream, {
        ...launch,
        splice,
        maxconn: options.haproxyMaxconn,
      });
      started.push(relay);
      paths.push({ id: relay.id as PathId, socket: relay.socket, pid: relay.pid });
    }
    if (want.has("deno_relay")) {
      const relay = await startDenoRelay(upstream, launch);
      started.push(relay);
      paths.push({ id: "deno_relay", socket: relay.socket, pid: relay.pid });
    }
    let virtmux: VirtmuxProcess | undefined;
    if (want.has("dedicated") || want.has("shared")) {
      const uri = options.upstreamUri ?? `test+unix:///default?socket=${upstream}`;
      const upstreams = [];
      if (want.has("dedicated")) upstreams.push({ name: "dedicated", uri, share: false });
      if (want.has("shared")) upstreams.push({ name: "shared", uri, share: true });
      virtmux = await startVirtmux({
        ...launch,
        upstreams,
        poolMax: options.poolMax,
        maxInflightPerConnection: options.maxInflightPerConnection,
        maxClients: options.maxClients,
        denoFlags: options.virtmuxDenoFlags,
      });
      started.push(virtmux);
      for (const name of ["dedicated", "shared"] as const) {
        if (virtmux.sockets[name]) {
          paths.push({ id: name, socket: virtmux.sockets[name], pid: virtmux.pid });
        }
      }
    }
    const commands: Record<string, string> = {};
    const configs: Record<string, string> = {};
    for (const relay of started) {
      commands[relay.id] = relay.command;
      Object.assign(configs, relay.configs);
    }
    return {
      paths,
      fastDaemon,
      virtmux,
      commands,
      configs,
      async stop() {
        for (const relay of started.reverse()) await relay.stop().catch(() => {});
        await removeDir(dir);
      },
    };
  } catch (error) {
    for (const relay of started.reverse()) await relay.stop().catch(() => {});
    await removeDir(dir);
    throw error;
  }
}
