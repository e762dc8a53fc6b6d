/**
 * virtmux as libvirt's `virt-ssh-helper`, for bastions without libvirt: a client with a plain
 * `qemu+ssh://bastion/system` URI makes ssh run `virt-ssh-helper [-r] URI` on the bastion
 * (proxy=auto finds it with `which`, proxy=native runs it outright), and virtmux, installed under
 * that name, serves the client on stdin/stdout like `virtmux stdio`, reaching the upstream
 * that `URI` routes to through the config (src/cli/helper_route.ts). `-r` makes the connection
 * read-only, as does a read-only listener.
 *
 * Whatever goes wrong before the upstream is reached (no config, a config error, no route) is
 * told to the client as a libvirt error in answer to its first call, which virsh prints.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { findConfigPath, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { errorMessage } from "../log/error_message.ts";
import { rootLogger } from "../log/logger.ts";
import { DedicatedSession } from "../proxy/dedicated/session.ts";
import { type Channel, DialError } from "../transport/channel.ts";
import { dial } from "../transport/dial.ts";
import { stdioChannel } from "../transport/stdio.ts";
import { MAX_FRAME_BYTES } from "../wire/constants.ts";
import { helperRoute } from "./helper_route.ts";
import { renameOpen } from "./open_name_channel.ts";
import { listenerSpecs } from "./specs.ts";

/** Help of the virt-ssh-helper role. */
export const SSH_HELPER_USAGE = `Usage: virt-ssh-helper [-r|--readonly] [--config FILE] URI

virtmux run as libvirt's virt-ssh-helper (a symlink named virt-ssh-helper, or
"virtmux virt-ssh-helper"): serves the libvirt client on stdin/stdout, relayed to the upstream
that URI routes to through the config ($VIRTMUX_CONFIG, else /etc/virtmux/virtmux.toml):
the upstream named URI among the route_by_name listener's upstreams, else the one whose own open
name is URI. -r opens the upstream read-only.`;

/** What the command line asked for. */
interface HelperArgs {
  readonly: boolean;
  config?: string;
  uri: string;
}

/** A mistake on the helper's command line. */
export class HelperUsageError extends Error {}

/**
 * Parses virt-ssh-helper's arguments; undefined after printing help or the version.
 *
 * @throws {HelperUsageError} for an unknown option or a missing URI
 */
export function parseHelperArgs(
  args: string[],
  print: (line: string) => void,
  version: string,
): HelperArgs | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        readonly: { type: "boolean", short: "r" },
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "V" },
      },
      allowPositionals: true,
    });
  } catch (error) {
    throw new HelperUsageError(`${errorMessage(error)}\n\n${SSH_HELPER_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    print(SSH_HELPER_USAGE);
    return undefined;
  }
  if (values.version) {
    print(`virt-ssh-helper (virtmux) ${version}`);
    return undefined;
  }
  if (positionals.length !== 1) {
    throw new HelperUsageError(
      `${positionals.length === 0 ? "a URI is required" : "only one URI is allowed"}` +
        `\n\n${SSH_HELPER_USAGE}`,
    );
  }
  return { readonly: values.readonly ?? false, config: values.config, uri: positionals[0] };
}

function refused(message: string): Promise<Channel> {
  const promise = Promise.reject(new DialError(message));
  promise.catch(() => {});
  return promise;
}

/** Answers the client's first call with `reason` as a libvirt error, then ends. */
async function refuse(uri: string, reason: string): Promise<number> {
  const log = rootLogger.child({ client: "virt-ssh-helper", uri });
  log.warning("Client refused", { reason });
  const session = new DedicatedSession(stdioChannel(), refused(reason), {
    logger: log,
    upstreamLabel: `"${uri}"`,
    maxFrameBytes: MAX_FRAME_BYTES,
    maxInflight: 1,
  });
  await session.run();
  return 1;
}

/** Serves stdin/stdout as virt-ssh-helper `args.uri`; resolves to the exit status. */
export async function sshHelper(args: HelperArgs): Promise<number> {
  let config: Config;
  try {
    config = await loadConfig(findConfigPath(args.config));
  } catch (error) {
    rootLogger.configure("warning", "text");
    return await refuse(
      args.uri,
      `virtmux (virt-ssh-helper) cannot load its config: ${errorMessage(error)}`,
    );
  }
  rootLogger.configure(config.log.level, config.log.format);
  const route = helperRoute(config, args.uri);
  if (typeof route === "string") return await refuse(args.uri, route);

  const { upstream, listener, rename } = route;
  const spec = listener && listenerSpecs(config).find((l) => l.socket === listener.socket);
  const readonly = args.readonly || (spec?.readonly ?? false);
  const log = rootLogger.child({
    client: "virt-ssh-helper",
    uri: args.uri,
    upstream: upstream.name,
  });
  const session = new DedicatedSession(
    rename === undefined ? stdioChannel() : renameOpen(stdioChannel(), rename),
    dial(upstream.uri, {
      name: upstream.name,
      timeoutMs: config.limits.connectTimeoutMs,
      logger: log,
      readonly,
    }),
    {
      logger: log,
      upstreamLabel: `"${upstream.name}" (${upstream.uri.text})`,
      maxFrameBytes: Math.min(
        spec?.maxFrameBytes ?? Infinity,
        upstream.maxMessageBytes ?? Infinity,
        config.limits.maxMessageBytes,
      ),
      maxInflight: config.limits.maxInflightPerClient,
      readonly,
      programs: spec?.programs,
      policy: spec?.policy,
    },
  );
  await session.run();
  return session.connected ? 0 : 1;
}

/** Runs the virt-ssh-helper role with `argv`, printing usage errors; resolves to the exit status. */
export async function runSshHelper(
  argv: string[],
  version: string,
  print: (line: string) => void,
  error: (line: string) => void,
): Promise<number> {
  let args: HelperArgs | undefined;
  try {
    args = parseHelperArgs(argv, print, version);
  } catch (e) {
    if (!(e instanceof HelperUsageError)) throw e;
    error(`virt-ssh-helper: ${e.message}`);
    return 2;
  }
  return args === undefined ? 0 : await sshHelper(args);
}
