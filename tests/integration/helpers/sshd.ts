/**
 * A real OpenSSH server on a free loopback port, with its own host key, a generated client key in
 * its authorized_keys, and a known_hosts file for the client, all in one temp dir. Optionally every
 * command a client runs is logged first (a ForceCommand wrapper), so tests can see exactly what
 * libvirt's ssh transport asked the remote side to run.
 *
 * @module
 */

import { join } from "node:path";
import { freePort } from "./ports.ts";
import { runCommand, type SpawnedProcess, spawnProcess, waitForTcpPort } from "./process.ts";
import { makeTempDir, removeDir } from "./tmp.ts";

/** The sshd binary (it must be run by absolute path to re-exec itself). */
export const SSHD = "/usr/sbin/sshd";

/** Options for {@linkcode startSshd}. */
export interface SshdOptions {
  /** Log each `$SSH_ORIGINAL_COMMAND` to {@linkcode Sshd.commandLog} before running it. */
  logCommands?: boolean;
  /** Extra sshd_config lines. */
  extraConfig?: string;
  /**
   * How long startup may take.
   *
   * @default {10000}
   */
  startTimeoutMs?: number;
}

/** A running sshd. */
export interface Sshd {
  /** The temp dir with config, keys and logs. */
  dir: string;
  /** The port on 127.0.0.1. */
  port: number;
  /** The login user. */
  user: string;
  /** Private key file of the authorized client key (no passphrase). */
  clientKey: string;
  /** known_hosts with the host key under `[127.0.0.1]:PORT` and `[localhost]:PORT`. */
  knownHosts: string;
  /** With `logCommands`: the file each remote command is appended to, one per line. */
  commandLog?: string;
  /**
   * An executable that runs `ssh` with this server's key and known_hosts and no user config
   * (`-F /dev/null`, BatchMode, strict host key checking); usable as libvirt's `command=` param.
   */
  sshCommand: string;
  /** Arguments for `ssh` that reach this server: port, key, known_hosts, no user config. */
  sshArgs: string[];
  /** sshd's pid. */
  pid: number;
  /** sshd's own output (`-e`: its log goes to stderr). */
  logFile: string;
  /** Stops sshd and every session it started, and removes the temp dir; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts `sshd -D -e` on a free port of 127.0.0.1 and waits until it accepts connections.
 * Creates `/run/sshd` (sshd's privilege separation directory) when missing.
 *
 * @param options command logging, extra config and start timeout
 * @returns the running server; call `stop()` in a `finally`
 * @throws {Error} when the config is rejected or the server does not come up
 */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const dir = await makeTempDir("sshd");
  try {
    return await setUp(dir, options);
  } catch (error) {
    await removeDir(dir);
    throw error;
  }
}

async function keygen(path: string, comment: string): Promise<void> {
  const result = await runCommand("ssh-keygen", [
    "-q",
    "-t",
    "ed25519",
    "-N",
    "",
    "-C",
    comment,
    "-f",
    path,
  ]);
  if (result.code !== 0) {
    throw new Error(`Cannot generate ssh key "${path}": ${result.stderr.trim()}`);
  }
}

async function setUp(dir: string, options: SshdOptions): Promise<Sshd> {
  await Deno.mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const hostKey = join(dir, "ssh_host_ed25519_key");
  const clientKey = join(dir, "client_key");
  await keygen(hostKey, "virtmux-test-host");
  await keygen(clientKey, "virtmux-test-client");
  const authorizedKeys = join(dir, "authorized_keys");
  await Deno.copyFile(`${clientKey}.pub`, authorizedKeys);

  const port = freePort();
  const hostPub = (await Deno.readTextFile(`${hostKey}.pub`)).trim().split(/\s+/).slice(0, 2)
    .join(" ");
  const knownHosts = join(dir, "known_hosts");
  await Deno.writeTextFile(
    knownHosts,
    `[127.0.0.1]:${port} ${hostPub}\n[localhost]:${port} ${hostPub}\n`,
  );

  let commandLog: string | undefined;
  const config = [
    `Port ${port}`,
    `ListenAddress 127.0.0.1`,
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, "sshd.pid")}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    `StrictModes no`,
    `UsePAM no`,
    `PermitRootLogin prohibit-password`,
    `PubkeyAuthentication yes`,
    `PasswordAuthentication no`,
    `KbdInteractiveAuthentication no`,
    `UseDNS no`,
    `PrintMotd no`,
    `PrintLastLog no`,
    `MaxStartups 100:30:200`,
    `MaxSessions 100`,
    `LogLevel VERBOSE`,
  ];
  if (options.logCommands) {
    commandLog = join(dir, "commands.log");
    await Deno.writeTextFile(commandLog, "");
    const wrapper = join(dir, "force-command.sh");
    await Deno.writeTextFile(
      wrapper,
      [
        "#!/bin/sh",
        `printf '%s\\n' "$SSH_ORIGINAL_COMMAND" >> '${commandLog}'`,
        `exec sh -c "$SSH_ORIGINAL_COMMAND"`,
        "",
      ].join("\n"),
    );
    await Deno.chmod(wrapper, 0o755);
    config.push(`ForceCommand ${wrapper}`);
  }
  if (options.extraConfig) config.push(options.extraConfig);
  const configFile = join(dir, "sshd_config");
  await Deno.writeTextFile(configFile, config.join("\n") + "\n");

  const checked = await runCommand(SSHD, ["-t", "-f", configFile]);
  if (checked.code !== 0) {
    throw new Error(`Cannot start sshd: config rejected: ${checked.stderr.trim()}`);
  }

  const sshArgs = [
    "-F",
    "/dev/null",
    "-p",
    String(port),
    "-i",
    clientKey,
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "IdentitiesOnly=yes",
  ];
  const sshCommand = join(dir, "ssh");
  await Deno.writeTextFile(
    sshCommand,
    [
      "#!/bin/sh",
      `exec ssh -F /dev/null -i '${clientKey}' -o 'UserKnownHostsFile=${knownHosts}' \\`,
      `  -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes "$@"`,
      "",
    ].join("\n"),
  );
  await Deno.chmod(sshCommand, 0o755);

  const logFile = join(dir, "sshd.log");
  const proc: SpawnedProcess = spawnProcess(SSHD, {
    args: ["-D", "-e", "-f", configFile],
    logFile,
    name: "sshd",
  });
  try {
    await waitForTcpPort(port, { process: proc, timeoutMs: options.startTimeoutMs ?? 10000 });
  } catch (error) {
    await proc.kill({ graceMs: 1000 });
    let log = "";
    try {
      log = await Deno.readTextFile(logFile);
    } catch {
      // No log yet.
    }
    throw new Error(`${(error as Error).message}\n--- sshd log ---\n${log}`);
  }

  let stopped = false;
  return {
    dir,
    port,
    user: "root",
    clientKey,
    knownHosts,
    commandLog,
    sshCommand,
    sshArgs,
    pid: proc.pid,
    logFile,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Sessions run as children of per-connection sshd processes in the same process group.
      await proc.kill({ graceMs: 3000 });
      await removeDir(dir);
    },
  };
}
