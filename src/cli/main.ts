/**
 * The command line: parses the subcommand and its flags and runs it. Every failure becomes a
 * message on stderr and an exit status; nothing here knows the protocol.
 *
 * @module
 */

import { parseArgs } from "node:util";
import denoJson from "../../deno.json" with { type: "json" };
import { ConfigError, findConfigPath, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { fileExists } from "../uri/remote.ts";
import { errorMessage } from "../log/error_message.ts";
import { rootLogger } from "../log/logger.ts";
import { formatAliases, uriAliases } from "./aliases.ts";
import { runAudit } from "./audit.ts";
import { runControl } from "./control.ts";
import { serve } from "./serve.ts";
import { stdio } from "./stdio.ts";
import { runNc } from "./nc.ts";
import { runSshHelper } from "./ssh_helper.ts";
import {
  ALIASES_USAGE,
  CHECK_CONFIG_USAGE,
  MAIN_USAGE,
  SERVE_USAGE,
  STDIO_USAGE,
} from "./usage.ts";

/** The program version, from deno.json. */
export const VERSION: string = denoJson.version;

/** What the process needs to know about its surroundings; replaceable in tests. */
export interface CliEnvironment {
  /** Whether stdin is a terminal (no arguments and no terminal means ext-transport stdio mode). */
  stdinIsTerminal: boolean;
  /** Writes a line to stderr. */
  error: (line: string) => void;
  /** Writes a line to stdout (never used once stdio mode starts). */
  print: (line: string) => void;
}

const defaultEnvironment: CliEnvironment = {
  stdinIsTerminal: Deno.stdin.isTerminal(),
  error: (line) => console.error(line),
  print: (line) => console.log(line),
};

/** Runs the command line `args`; resolves to the exit status. */
export async function runCli(
  args: string[],
  env: CliEnvironment = defaultEnvironment,
): Promise<number> {
  if (args.length === 0) {
    if (env.stdinIsTerminal) {
      env.error(MAIN_USAGE);
      return 2;
    }
    return await guard(env, () => runStdio([], env));
  }
  const [command, ...rest] = args;
  switch (command) {
    case "serve":
      return await guard(env, async () => {
        const flags = parse(rest, SERVE_USAGE, env, false);
        if (flags === undefined) return 0;
        return await serve(findConfigPath(flags.config));
      });
    case "stdio":
      return await guard(env, () => runStdio(rest, env));
    case "check-config":
      return await guard(env, async () => {
        const flags = parse(rest, CHECK_CONFIG_USAGE, env, false);
        if (flags === undefined) return 0;
        const config = await loadConfig(findConfigPath(flags.config));
        env.print(
          `${config.file}: OK (${config.upstreams.length} upstreams, ` +
            `${config.listeners.length} listeners)`,
        );
        return 0;
      });
    case "aliases":
      return await guard(env, async () => {
        const flags = parse(rest, ALIASES_USAGE, env, false);
        if (flags === undefined) return 0;
        const config = await loadConfig(findConfigPath(flags.config));
        env.print(formatAliases(uriAliases(config)));
        return 0;
      });
    case "audit":
      return await guard(env, () => runAudit(rest, env));
    case "virt-ssh-helper":
      return await guard(env, () => runSshHelper(rest, VERSION, env.print, env.error));
    case "nc":
      return await guard(env, () => runNc(rest, env.print, env.error));
    case "status":
    case "clients":
    case "client-disconnect":
      return await guard(env, () => runControl(command, rest, env));
    case "version":
    case "--version":
      env.print(`virtmux ${VERSION} (deno ${Deno.version.deno}, libvirt protocol 9.0)`);
      return 0;
    case "help":
    case "--help":
    case "-h":
      env.print(MAIN_USAGE);
      return 0;
    default:
      env.error(`virtmux: unknown command "${command}"\n\n${MAIN_USAGE}`);
      return 2;
  }
}

async function runStdio(args: string[], env: CliEnvironment): Promise<number> {
  const flags = parse(args, STDIO_USAGE, env, true);
  if (flags === undefined) return 0;
  const explicit = flags.config !== undefined || Deno.env.get("VIRTMUX_CONFIG") !== undefined;
  const path = findConfigPath(flags.config);
  let config: Config | undefined;
  if (explicit || flags.uri === undefined || fileExists(path)) config = await loadConfig(path);
  return await stdio({ config, uri: flags.uri });
}

interface Flags {
  config?: string;
  uri?: string;
}

/** Parses `--config FILE`, `--help` and (when allowed) one URI; undefined after printing help. */
function parse(
  args: string[],
  usage: string,
  env: CliEnvironment,
  allowUri: boolean,
): Flags | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    });
  } catch (error) {
    if (!isParseArgsError(error)) throw error;
    throw new UsageError(`${(error as Error).message}\n\n${usage}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    env.print(usage);
    return undefined;
  }
  if (positionals.length > (allowUri ? 1 : 0)) {
    throw new UsageError(`unexpected argument "${positionals[allowUri ? 1 : 0]}"\n\n${usage}`);
  }
  return { config: values.config, uri: positionals[0] };
}

/** A mistake on the command line: exit status 2. */
class UsageError extends Error {}

/** Runs a command, turning its errors into messages and exit statuses. */
async function guard(env: CliEnvironment, command: () => Promise<number>): Promise<number> {
  try {
    return await command();
  } catch (error) {
    if (error instanceof ConfigError) {
      env.error(error.message);
      return 1;
    }
    if (error instanceof UsageError || isParseArgsError(error)) {
      env.error(`virtmux: ${(error as Error).message}`);
      return 2;
    }
    const message = errorMessage(error);
    rootLogger.error(message);
    return 1;
  }
}

function isParseArgsError(error: unknown): boolean {
  return error instanceof TypeError && "code" in error &&
    String((error as { code: unknown }).code).startsWith("ERR_PARSE_ARGS");
}
